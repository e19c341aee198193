"""TLS to the provider: certificates that must be refused, a CA the person trusts through
`SSL_CERT_FILE`, no way down to plain HTTP, and truncation (a connection ended without
close_notify, as an on-path attacker can cause) never read as a complete answer.

The peer is a Python `ssl` server on loopback with certificates made by the `openssl`
command (`wire_support.Pki`); it records handshake failures and every request, so a
refusal is judged where it matters: no request (and no API key) ever reached it.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from codex_mcp.agent.model.transport import ProviderTransport
from codex_mcp.errors import ProviderTransportError
from codex_mcp.tls import build_ssl_context
from tests.security.harness import assert_alive, run_call
from tests.security.wire_pki_support import Pki, server_context
from tests.security.wire_support import (
    Answer,
    Answers,
    Peer,
    RawServer,
    answering,
    client_for,
    ok_head,
    outcome,
    respond,
    sse_body,
)
from tests.support.model_wire import chat_chunk
from tests.support.server import ServerFactory, write_config

pytestmark = pytest.mark.anyio

KINDS = ["direct", "proxied", "httpx"]
"""Ours, ours through a CONNECT tunnel of a loopback proxy, httpx."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def good(pki: Pki) -> ssl.SSLContext:
    return server_context(*pki.leaf("good"))


def transport(
    kind: str, context: Callable[[], ssl.SSLContext], stack: contextlib.ExitStack
) -> ProviderTransport:
    if kind in ("direct", "proxied"):
        from codex_mcp.agent.model.transport.direct import DirectTransport

        if kind == "direct":
            return DirectTransport(context)
        from codex_mcp.agent.model.transport.proxies import proxy_settings
        from tests.support.http_proxy import HttpProxy

        proxy = stack.enter_context(HttpProxy())
        return DirectTransport(context, proxies=proxy_settings({"HTTPS_PROXY": proxy.url()}))
    from codex_mcp.agent.model.transport.via_httpx import HttpxTransport

    return HttpxTransport(context)


@pytest.fixture(params=KINDS)
async def trusting(request: pytest.FixtureRequest, pki: Pki) -> AsyncIterator[ProviderTransport]:
    """A transport whose TLS context trusts the test CA (as with SSL_CERT_FILE)."""
    with contextlib.ExitStack() as stack:
        t = transport(request.param, pki.client_context, stack)
        try:
            yield t
        finally:
            await t.aclose()


@pytest.fixture(params=KINDS)
async def default_trust(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ProviderTransport]:
    """A transport with the context the server builds when nothing is configured."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with contextlib.ExitStack() as stack:
        t = transport(request.param, build_ssl_context, stack)
        try:
            yield t
        finally:
            await t.aclose()


def is_direct(http: ProviderTransport) -> bool:
    return type(http).__name__ == "DirectTransport"


async def refused_at_handshake(http: ProviderTransport, tls: ssl.SSLContext, fragment: str) -> str:
    with answering(Answer(respond(sse_body("must not be read")), end="close"), tls=tls) as (server, _):
        result = await outcome(client_for(server.base_url, http))
        server.wait(lambda: bool(server.handshake_errors), 10, "the handshake to fail")
    assert not result.ok, result
    assert fragment in result.text, result.text
    assert not server.requests, "a request went over a connection that should have been refused"
    return result.text


# --- certificates ------------------------------------------------------------------------------


async def test_self_signed_certificate_is_refused(default_trust: ProviderTransport, pki: Pki) -> None:
    tls = server_context(*pki.leaf("selfsigned", self_signed=True))
    await refused_at_handshake(default_trust, tls, "certificate verify failed")


async def test_our_ca_is_not_trusted_by_default(
    default_trust: ProviderTransport, good: ssl.SSLContext
) -> None:
    await refused_at_handshake(default_trust, good, "certificate verify failed")


async def test_hostname_mismatch_is_refused(trusting: ProviderTransport, pki: Pki) -> None:
    tls = server_context(*pki.leaf("other", names=("other.test",), ips=()))
    await refused_at_handshake(trusting, tls, "certificate verify failed")


async def test_name_only_certificate_does_not_cover_an_address(trusting: ProviderTransport, pki: Pki) -> None:
    """A certificate for `localhost` (no IP entry) when the URL names 127.0.0.1."""
    tls = server_context(*pki.leaf("nameonly", names=("localhost",), ips=()))
    await refused_at_handshake(trusting, tls, "certificate verify failed")


async def test_common_name_alone_is_not_a_name(trusting: ProviderTransport, pki: Pki) -> None:
    """CN=127.0.0.1 with a SAN for another name: the CN is not looked at."""
    tls = server_context(*pki.leaf("cnonly", names=("127.0.0.1", "elsewhere.test"), ips=()))
    await refused_at_handshake(trusting, tls, "certificate verify failed")


async def test_expired_certificate_is_refused(trusting: ProviderTransport, pki: Pki) -> None:
    tls = server_context(*pki.leaf("expired", expired=True))
    text = await refused_at_handshake(trusting, tls, "certificate verify failed")
    if is_direct(trusting):
        assert "expired" in text, text


async def test_certificate_from_another_ca_is_refused(trusting: ProviderTransport, tmp_path: Path) -> None:
    other = Pki(tmp_path)
    tls = server_context(*other.leaf("foreign"))
    await refused_at_handshake(trusting, tls, "certificate verify failed")


async def test_ca_trusted_through_ssl_cert_file_is_accepted(
    pki: Pki, good: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    for kind in KINDS:
        with contextlib.ExitStack() as stack:
            http = transport(kind, build_ssl_context, stack)
            try:
                with answering(Answer(respond(sse_body("over tls")), end="close"), tls=good) as (server, _):
                    result = await outcome(client_for(server.base_url, http))
            finally:
                await http.aclose()
        assert result.ok and result.text == "over tls", (kind, result)
        assert not server.handshake_errors


# --- no way down to plain HTTP ---------------------------------------------------------------------


class Recorder:
    """A plain-HTTP peer on the https port: records every byte it gets and answers with an
    HTTP response (what a downgrade would need the client to accept)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def __call__(self, peer: Peer) -> None:
        data = b""
        peer.sock.settimeout(5)
        with contextlib.suppress(OSError):
            data = peer.sock.recv(65536)
        self.received.append(data)
        peer.send(respond(sse_body("plaintext answer")))
        peer.close()


async def test_https_url_never_speaks_plain_http(trusting: ProviderTransport) -> None:
    recorder = Recorder()
    with RawServer(recorder) as server:
        url = f"https://127.0.0.1:{server.port}/v1"
        result = await outcome(client_for(url, trusting))
        server.wait(lambda: bool(recorder.received), 10, "the client's first bytes")
    assert not result.ok, result
    seen = b"".join(recorder.received)
    assert seen[:1] == b"\x16", seen[:20]  # a TLS handshake record, nothing else
    for word in (b"POST", b"Authorization", b"test-key", b"HTTP/1.1"):
        assert word not in seen


async def test_redirect_to_plain_http_is_not_followed(
    trusting: ProviderTransport, good: ssl.SSLContext
) -> None:
    recorder = Recorder()
    with RawServer(recorder) as plain:
        target = f"http://127.0.0.1:{plain.port}/v1/responses"
        redirect = respond(b"", status=307, reason="Temporary Redirect", headers=[("Location", target)])
        with answering(Answer(redirect, end="close"), tls=good) as (server, _):
            result = await outcome(client_for(server.base_url, trusting))
    assert not result.ok and "307" in result.text, result
    assert plain.connections == 0


async def test_upgrade_offer_is_ignored(trusting: ProviderTransport, good: ssl.SSLContext) -> None:
    """An answer offering another protocol (Upgrade, Alt-Svc) changes nothing: the body is
    read as HTTP/1.1 over this TLS connection."""
    answer = respond(sse_body("stayed"), headers=[("Upgrade", "h2c"), ("Alt-Svc", 'h3=":443"; ma=86400')])
    with answering(Answer(answer, end="close"), tls=good) as (server, _):
        result = await outcome(client_for(server.base_url, trusting))
    assert result.ok and result.text == "stayed", result


# --- truncation --------------------------------------------------------------------------------


def cut_after(data: bytes) -> Answer:
    return Answer(data, end="cut")


async def test_truncated_close_delimited_stream_is_not_an_answer(
    trusting: ProviderTransport, good: ssl.SSLContext
) -> None:
    body = sse_body("a long answer that gets cut")
    with answering(cut_after(ok_head() + body[: len(body) // 2]), tls=good) as (server, _):
        result = await outcome(client_for(server.base_url, trusting))
    assert not result.ok and result.retryable, result


async def test_truncated_chat_stream_is_not_an_answer(
    trusting: ProviderTransport, good: ssl.SSLContext
) -> None:
    body = chat_chunk({"role": "assistant", "content": "Hel"}) + chat_chunk({"content": "lo, and then"})
    with answering(cut_after(ok_head() + body), tls=good) as (server, _):
        result = await outcome(client_for(server.base_url, trusting, wire_api="chat"))
    assert not result.ok and result.retryable, result


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_truncated_framed_body_is_not_an_answer(
    trusting: ProviderTransport, good: ssl.SSLContext, framing: str
) -> None:
    whole = respond(sse_body("framed and cut"), framing=framing)
    with answering(cut_after(whole[: len(whole) - 40]), tls=good) as (server, _):
        result = await outcome(client_for(server.base_url, trusting))
    assert not result.ok and result.retryable, result


async def read_close_delimited(http: ProviderTransport, url: str) -> bytes:
    response = await http.send("POST", url + "/responses", headers=[], content=b"{}")
    try:
        assert response.status_code == 200
        return b"".join([piece async for piece in response.aiter_raw()])
    finally:
        await response.aclose()


async def test_transport_reports_a_close_delimited_body_cut_without_close_notify(
    trusting: ProviderTransport, good: ssl.SSLContext
) -> None:
    """Below SSE: a body that ends with the connection is complete only when TLS says so
    (close_notify); a bare FIN is a truncation, reported as an error, not an end."""
    with answering(cut_after(ok_head() + b"complete-looking body"), tls=good) as (server, _):
        if is_direct(trusting):
            with pytest.raises(ProviderTransportError, match="close_notify"):
                await read_close_delimited(trusting, server.base_url)
        else:  # httpcore reads TLS without close_notify as an end (noted in the report)
            assert await read_close_delimited(trusting, server.base_url) == b"complete-looking body"


async def test_transport_accepts_a_close_delimited_body_with_close_notify(
    trusting: ProviderTransport, good: ssl.SSLContext
) -> None:
    with answering(Answer(ok_head() + b"whole body", end="close"), tls=good) as (server, _):
        assert await read_close_delimited(trusting, server.base_url) == b"whole body"


async def test_reused_tls_connection_closed_without_close_notify_is_resent_once(
    trusting: ProviderTransport, good: ssl.SSLContext
) -> None:
    """A provider that drops an idle keep-alive connection with a bare FIN (most do): the
    next request on it gets no byte back, and is sent once more on a new connection."""
    with answering(
        Answer(respond(sse_body("first"))),
        Answer(b"", end="cut"),
        Answer(respond(sse_body("again"))),
        tls=good,
    ) as (server, _):
        client = client_for(server.base_url, trusting)
        a = await outcome(client)
        b = await outcome(client)
    assert a.ok and b.ok and b.text == "again", (a, b)
    assert len(server.requests) == 3


async def test_a_peer_that_resets_mid_handshake(trusting: ProviderTransport) -> None:
    def script(peer: Peer) -> None:
        peer.sock.settimeout(5)
        with contextlib.suppress(OSError):
            peer.sock.recv(10)
        peer.reset()

    with RawServer(script) as server:
        result = await outcome(client_for(f"https://127.0.0.1:{server.port}/v1", trusting))
    assert not result.ok, result


# --- end to end: the server process with SSL_CERT_FILE ----------------------------------------------


def test_server_trusts_a_ca_from_ssl_cert_file_and_refuses_without(
    spawn_server: ServerFactory, codex_home: Path, pki: Pki, good: ssl.SSLContext
) -> None:
    with answering(tls=good) as (server, answers):
        write_config(codex_home, answers)  # type: ignore[arg-type]
        trusted = spawn_server(env={"SSL_CERT_FILE": str(pki.ca)})
        answers.text("over verified tls")
        result = run_call(trusted)
        assert result.get("isError") is not True, result
        assert json.dumps(result).count("over verified tls") >= 1
        assert len(server.requests) == 1
        assert server.requests[0].header("Authorization") == ["Bearer test-key"]

        untrusted = spawn_server()
        result = run_call(untrusted)
        assert result.get("isError") is True, result
        assert "certificate verify failed" in json.dumps(result)
        assert len(server.requests) == 1  # the key never went to a peer the server did not trust
        assert_alive(untrusted)


def test_nothing_listens_in_clear_on_an_https_url(spawn_server: ServerFactory, codex_home: Path) -> None:
    """End to end: an https base URL pointing at a plain listener: the call fails, the
    listener got a TLS ClientHello and nothing else."""
    recorder = Recorder()
    with RawServer(recorder) as plain:
        answers = Answers()
        answers.server = plain
        write_config(codex_home, answers)  # type: ignore[arg-type]
        (codex_home / "config.toml").write_text(
            (codex_home / "config.toml").read_text().replace("http://", "https://")
        )
        client = spawn_server()
        result = run_call(client)
        plain.wait(lambda: bool(recorder.received), 10, "the server's first bytes")
    assert result.get("isError") is True, result
    seen = b"".join(recorder.received)
    assert seen[:1] == b"\x16" and b"test-key" not in seen and b"POST" not in seen
    assert_alive(client)
