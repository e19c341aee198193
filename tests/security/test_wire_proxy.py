"""The model client through an HTTP proxy from the environment, with real peers on loopback:
a recording proxy (`tests/support/http_proxy.py`) and scripted providers, plain and TLS.

Judged from outside: what the proxy saw (connections, CONNECT heads, forwarded heads), what
the provider saw (connections, request heads), and what the caller gets.  The attacks: a
proxy that refuses, stalls, answers with a huge or broken head, or writes bytes after its
200 to be read as the provider's; a provider that writes a second answer into the tunnel;
credentials that must reach the proxy and nothing else, and never a message.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator, Iterator

import pytest

from codex_mcp.agent.model.transport.direct import DirectTransport
from codex_mcp.agent.model.transport.proxies import proxy_settings
from tests.security.wire_pki_support import Pki, server_context
from tests.security.wire_support import Answer, answering, client_for, outcome, respond, sse_body
from tests.support.http_proxy import HttpProxy

pytestmark = pytest.mark.anyio

PASSWORD = "s3cr%40t-pw"
"""As written in the URL; the proxy receives it percent-decoded."""
BASIC = "Basic " + base64.b64encode(b"alice:s3cr@t-pw").decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("proxy-pki"))


@pytest.fixture(scope="module")
def tls(pki: Pki) -> ssl.SSLContext:
    return server_context(*pki.leaf("provider"))


@pytest.fixture
def proxy() -> Iterator[HttpProxy]:
    with HttpProxy() as p:
        yield p


def keep(text: str) -> Answer:
    return Answer(respond(sse_body(text)))


@pytest.fixture
async def via(proxy: HttpProxy, pki: Pki) -> AsyncIterator[DirectTransport]:
    """Our transport with every target through `proxy` (credentials included)."""
    url = proxy.url("alice", PASSWORD)
    transport = DirectTransport(
        pki.client_context, proxies=proxy_settings({"HTTPS_PROXY": url, "HTTP_PROXY": url})
    )
    try:
        yield transport
    finally:
        await transport.aclose()


# --- the tunnel --------------------------------------------------------------------------------


async def test_keep_alive_through_the_tunnel(
    via: DirectTransport, proxy: HttpProxy, tls: ssl.SSLContext
) -> None:
    """Two requests: one proxy connection, one CONNECT, one provider connection."""
    with answering(keep("one"), keep("two"), tls=tls) as (server, _):
        client = client_for(server.base_url, via)
        got = [await outcome(client), await outcome(client)]
    assert [g.text for g in got] == ["one", "two"], got
    assert proxy.connections == 1 and len(proxy.connects) == 1
    assert proxy.connects[0].target == f"127.0.0.1:{server.port}"
    assert proxy.connects[0].header("Host") == [f"127.0.0.1:{server.port}"]
    assert [r.connection for r in server.requests] == [1, 1]
    assert not server.handshake_errors


async def test_one_tunnel_per_origin(via: DirectTransport, proxy: HttpProxy, tls: ssl.SSLContext) -> None:
    """Two origins behind one proxy: a tunnel each, each reused only for its own origin
    (127.0.0.1 and localhost reach the same listener, and are still two origins)."""
    with answering(*[keep("x")] * 4, tls=tls) as (server, _):
        by_ip = client_for(f"https://127.0.0.1:{server.port}/v1", via)
        by_name = client_for(f"https://localhost:{server.port}/v1", via)
        for client in (by_ip, by_name, by_ip, by_name):
            assert (await outcome(client)).ok
        hosts = [r.header("Host")[0] for r in server.requests]
    assert sorted(c.target for c in proxy.connects) == sorted(
        [f"127.0.0.1:{server.port}", f"localhost:{server.port}"]
    )
    assert hosts == [f"127.0.0.1:{server.port}", f"localhost:{server.port}"] * 2
    assert [r.connection for r in server.requests] == [1, 2, 1, 2]


async def test_forward_proxy_keeps_one_connection_per_origin(via: DirectTransport, proxy: HttpProxy) -> None:
    """Plain http targets: absolute-form requests, one proxy connection per origin (the proxy
    refuses an origin switch on a connection; none happens)."""
    with answering(*[keep("a")] * 3) as (a, _), answering(*[keep("b")] * 3) as (b, _):
        ca, cb = client_for(a.base_url, via), client_for(b.base_url, via)
        got = [await outcome(c) for c in (ca, cb, ca, cb)]
    assert [g.text for g in got] == ["a", "b", "a", "b"], got
    assert proxy.connections == 2 and not proxy.refused and not proxy.connects
    targets = [s.target for s in proxy.forwarded]
    assert targets == [f"http://127.0.0.1:{p}/v1/responses" for p in (a.port, b.port)] * 2
    assert a.connections == 1 and b.connections == 1


async def test_the_pool_keeps_proxied_and_direct_connections_apart(proxy: HttpProxy) -> None:
    """One provider reached by two names, one of them in no_proxy: the direct requests go
    straight there and never carry the proxy's credentials; the proxied ones go through the
    proxy, which alone sees them."""
    with answering(*[keep("x")] * 4) as (server, _):
        url = proxy.url("alice", PASSWORD)
        env = {"HTTP_PROXY": url, "NO_PROXY": "localhost"}
        transport = DirectTransport(ssl.create_default_context, proxies=proxy_settings(env))
        try:
            direct = client_for(f"http://localhost:{server.port}/v1", transport)
            proxied = client_for(f"http://127.0.0.1:{server.port}/v1", transport)
            for client in (direct, proxied, direct, proxied):
                assert (await outcome(client)).ok
        finally:
            await transport.aclose()
    assert [r.header("Host")[0].split(":")[0] for r in server.requests] == ["localhost", "127.0.0.1"] * 2
    assert [r.connection for r in server.requests] == [1, 2, 1, 2]
    assert all(not r.header("Proxy-Authorization") for r in server.requests)
    assert all(b"s3cr" not in r.head and b"alice" not in r.head for r in server.requests)
    assert [s.target.split("/")[2] for s in proxy.forwarded] == [f"127.0.0.1:{server.port}"] * 2
    assert all(s.header("Proxy-Authorization") == [BASIC] for s in proxy.forwarded)


async def test_credentials_go_to_the_proxy_only(
    via: DirectTransport, proxy: HttpProxy, tls: ssl.SSLContext
) -> None:
    """On CONNECT, and never inside the tunnel, where the provider reads."""
    proxy.require_auth = BASIC
    with answering(keep("one"), keep("two"), tls=tls) as (server, _):
        client = client_for(server.base_url, via)
        assert (await outcome(client)).ok and (await outcome(client)).ok
    assert [c.header("Proxy-Authorization") for c in proxy.connects] == [[BASIC]]
    assert len(server.requests) == 2
    assert all(not r.header("Proxy-Authorization") and b"Basic" not in r.head for r in server.requests)


async def test_a_callers_proxy_authorization_is_not_a_second_one(proxy: HttpProxy) -> None:
    """A configured header of that name is replaced by the proxy's own, not sent beside it."""
    proxy.require_auth = BASIC
    with answering(keep("ok")) as (server, _):
        url = proxy.url("alice", PASSWORD)
        transport = DirectTransport(ssl.create_default_context, proxies=proxy_settings({"HTTP_PROXY": url}))
        try:
            client = client_for(
                server.base_url, transport, http_headers={"Proxy-Authorization": "Basic Zm9v"}
            )
            assert (await outcome(client)).ok
        finally:
            await transport.aclose()
    assert [s.header("Proxy-Authorization") for s in proxy.forwarded] == [[BASIC]]


# --- the proxy's bad answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("407", "refused CONNECT"),
        ("500", "refused CONNECT"),
        ("close", "closed the connection without answering"),
        ("midhead", "closed the connection in the middle"),
        ("huge", "over 100 KiB"),
        ("extra", "bytes after accepting CONNECT"),
    ],
)
async def test_a_bad_connect_answer_is_a_clear_error_naming_the_proxy(
    via: DirectTransport, proxy: HttpProxy, tls: ssl.SSLContext, mode: str, fragment: str
) -> None:
    proxy.connect_mode = mode
    with answering(keep("must not be reached"), tls=tls) as (server, _):
        result = await outcome(client_for(server.base_url, via))
    assert not result.ok
    if mode == "extra" and fragment not in result.text:
        # The forged bytes came after the check: then they reach the TLS handshake, which
        # refuses them.  Either way nothing forged is read as the provider's.
        assert "through the proxy" in result.text, result.text
    else:
        assert fragment in result.text, result.text
    assert f"http://***@127.0.0.1:{proxy.port}" in result.text, result.text
    assert "s3cr" not in result.text and "alice" not in result.text
    assert not server.requests  # (with "extra" the proxy had opened its side: the provider saw nothing)
    assert server.connections == (1 if mode == "extra" else 0)
    assert len(proxy.connects) == 1, "a failed CONNECT was tried again silently"


async def test_a_407_says_so(via: DirectTransport, proxy: HttpProxy, tls: ssl.SSLContext) -> None:
    proxy.require_auth = "Basic wrong"
    with answering(keep("never"), tls=tls) as (server, _):
        result = await outcome(client_for(server.base_url, via))
    assert "407" in result.text and "authentication" in result.text, result.text
    assert "s3cr" not in result.text and BASIC not in result.text


async def test_connect_timeout_covers_a_proxy_that_never_answers(
    via: DirectTransport, proxy: HttpProxy, tls: ssl.SSLContext
) -> None:
    proxy.connect_mode = "hang"
    with answering(keep("never"), tls=tls) as (server, _):
        url = server.base_url
        with pytest.raises(Exception) as info:
            await via.send("POST", url + "/responses", headers=[], content=b"{}", connect_timeout=1.0)
    assert "timed out connecting" in str(info.value) and "***@" in str(info.value), str(info.value)
    assert not server.requests


async def test_an_unreachable_proxy_is_named_without_credentials(pki: Pki) -> None:
    from tests.security.wire_support import answering as _answering

    with _answering() as (dead, _):
        port = dead.port
    transport = DirectTransport(
        pki.client_context,
        proxies=proxy_settings({"HTTPS_PROXY": f"http://alice:{PASSWORD}@127.0.0.1:{port}"}),
    )
    try:
        result = await outcome(client_for("https://api.invalid/v1", transport))
    finally:
        await transport.aclose()
    assert f"could not connect to the proxy http://***@127.0.0.1:{port}" in result.text, result.text
    assert "s3cr" not in result.text and "alice" not in result.text


# --- the provider's attacks through the tunnel ---------------------------------------------------


async def test_an_answer_written_ahead_into_the_tunnel_is_never_read(
    via: DirectTransport, proxy: HttpProxy, tls: ssl.SSLContext
) -> None:
    fake = respond(sse_body("FAKE"))
    with answering(Answer(respond(sse_body("first")) + fake), keep("second"), tls=tls) as (server, _):
        client = client_for(server.base_url, via)
        first, second = await outcome(client), await outcome(client)
    assert (first.text, second.text) == ("first", "second")
    assert len(server.requests) == 2 and server.connections == 2 and len(proxy.connects) == 2


async def test_a_truncated_tunnel_is_not_a_complete_answer(
    via: DirectTransport, proxy: HttpProxy, tls: ssl.SSLContext
) -> None:
    """A close-delimited body cut without close_notify, through the tunnel."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    with answering(Answer(head + sse_body("cut")[:40], end="cut"), tls=tls) as (server, _):
        result = await outcome(client_for(server.base_url, via))
    assert not result.ok and "close_notify" in result.text, result.text


# --- TLS to the proxy itself ---------------------------------------------------------------------


async def test_tls_proxy_and_tls_provider(pki: Pki, tls: ssl.SSLContext) -> None:
    """An `https://` proxy: TLS to the proxy, CONNECT inside it, TLS to the provider inside
    that; kept alive like any other connection."""
    with HttpProxy(tls=server_context(*pki.leaf("proxy"))) as proxy:
        transport = DirectTransport(pki.client_context, proxies=proxy_settings({"HTTPS_PROXY": proxy.url()}))
        try:
            with answering(keep("one"), keep("two"), tls=tls) as (server, _):
                client = client_for(server.base_url, transport)
                got = [await outcome(client), await outcome(client)]
        finally:
            await transport.aclose()
    assert [g.text for g in got] == ["one", "two"], got
    assert proxy.connections == 1 and len(proxy.connects) == 1 and server.connections == 1


async def test_an_untrusted_tls_proxy_is_refused(
    pki: Pki, tls: ssl.SSLContext, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = Pki(tmp_path_factory.mktemp("other-pki"))
    with HttpProxy(tls=server_context(*other.leaf("proxy"))) as proxy:
        transport = DirectTransport(pki.client_context, proxies=proxy_settings({"HTTPS_PROXY": proxy.url()}))
        try:
            with answering(keep("never"), tls=tls) as (server, _):
                result = await outcome(client_for(server.base_url, transport))
        finally:
            await transport.aclose()
    assert "could not connect to the proxy" in result.text and "certificate verify failed" in result.text
    assert not proxy.connects and not server.requests
