"""The one resend of a request the provider never answered, and what it must never do:
resend after any byte of an answer (an interim one included), twice, or after a body
began; plus the token refresh, which shares the transport and must not be a way to
smuggle the model's answer.

Judged at the provider: how many times each request arrived, on which connection.
Both transports.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from codex_mcp.agent.model.transport import ProviderTransport
from tests.security.wire_support import (
    Answer,
    Peer,
    RawServer,
    answering,
    client_for,
    ok_head,
    outcome,
    respond,
    sse_body,
)

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
IDLE_MS = 1500
FAKE = respond(sse_body("FAKE: a response nobody asked for"))


def is_direct(http: ProviderTransport) -> bool:
    return type(http).__name__ == "DirectTransport"


# --- the one resend -------------------------------------------------------------------------


async def test_reused_connection_closed_before_answering_is_resent_once(http: ProviderTransport) -> None:
    """The provider answers, keeps the connection, reads the next request on it and closes
    without a byte: it never handled it, so the client sends it again, once, on a new one."""
    with answering(
        Answer(respond(sse_body("first"))), Answer(b"", end="close"), Answer(respond(sse_body("again")))
    ) as (
        server,
        _,
    ):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        a = await outcome(client)
        b = await outcome(client)
    assert a.ok and b.ok and b.text == "again", (a, b)
    assert len(server.requests) == 3
    if is_direct(http):
        assert [r.connection for r in server.requests] == [1, 1, 2]
    else:  # the fallback keeps no connection: the second request already had a new one
        assert [r.connection for r in server.requests] == [1, 2, 3]


async def test_the_fallback_keeps_no_connection(http: ProviderTransport) -> None:
    """Regression: httpx's pool read bytes left after a response as the next answer; the
    fallback now opens a connection per request (ours keeps them, checked above)."""
    with answering(Answer(respond(sse_body("a"))), Answer(respond(sse_body("b")))) as (server, _):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        assert (await outcome(client)).ok
        assert (await outcome(client)).ok
    assert server.connections == (1 if is_direct(http) else 2)


async def test_a_provider_that_never_answers_gets_the_request_twice_not_more(http: ProviderTransport) -> None:
    with answering(*[Answer(b"", end="close")] * 5) as (server, _):
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
    assert not result.ok
    assert len(server.requests) == 2


async def test_a_provider_that_resets_without_answering(http: ProviderTransport) -> None:
    with answering(*[Answer(b"", end="reset")] * 5) as (server, _):
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
    assert not result.ok
    assert 1 <= len(server.requests) <= 2


@pytest.mark.parametrize(
    "partial",
    [b"H", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\n\r\n"],
    ids=["one-byte", "status-line", "100-continue", "103-hints"],
)
async def test_no_resend_once_any_answer_byte_arrived(http: ProviderTransport, partial: bytes) -> None:
    """Bytes of an answer (even an interim one) prove the provider read the request: it is
    not sent again on the client's own initiative."""
    with answering(Answer(partial, end="close"), Answer(respond(sse_body("resent!")), end="close")) as (
        server,
        _,
    ):
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
    if is_direct(http):
        assert not result.ok, result
        assert len(server.requests) == 1, [r.connection for r in server.requests]
    else:
        # httpx raises the same RemoteProtocolError for "closed before a response" and
        # for a cut head, so its path resends these once (noted in the report).
        assert len(server.requests) <= 2


async def test_no_resend_on_a_reused_connection_once_a_byte_arrived(http: ProviderTransport) -> None:
    with answering(
        Answer(respond(sse_body("first"))),
        Answer(b"HTTP/1.1 2", end="close"),
        Answer(respond(sse_body("resent!"))),
    ) as (server, _):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        a = await outcome(client)
        b = await outcome(client)
    assert a.ok
    assert not b.ok or not is_direct(http), b
    if is_direct(http):
        assert len(server.requests) == 2


async def test_body_cut_mid_stream_is_not_resent(http: ProviderTransport) -> None:
    data = ok_head("Content-Length: 100000") + sse_body("cut")[:50]
    with answering(Answer(data, end="close"), Answer(respond(sse_body("resent!")), end="close")) as (
        server,
        _,
    ):
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
    assert not result.ok and result.retryable
    assert len(server.requests) == 1


async def test_early_answer_to_a_large_request(http: ProviderTransport) -> None:
    """The provider refuses a large request from its head alone (413), stops reading and
    resets the connection while the client still writes.  Neither transport reads while it
    writes, so the answer is lost with the connection: the request counts as never taken
    and is sent once more, never more, and the call ends with a clear error."""

    def script(peer: Peer) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = peer.sock.recv(65536)
            if not chunk:
                return
            data += chunk
        with server.lock:
            server.requests.append(None)  # type: ignore[arg-type]
        body = b'{"error": {"message": "request too large", "type": "invalid_request_error"}}'
        peer.send(respond(body, status=413, reason="Payload Too Large", headers=[("Connection", "close")]))
        peer.sock.shutdown(socket.SHUT_WR)
        taken = 0
        while taken < MiB:
            chunk = peer.sock.recv(65536)
            if not chunk:
                return
            taken += len(chunk)
        peer.reset()

    from codex_mcp.agent.model.types import Prompt

    big = Prompt(
        instructions="x",
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "y" * (8 * MiB)}]}
        ],
    )
    with RawServer(script) as server:
        result = await outcome(client_for(server.base_url, http, idle_ms=10_000), big)
    assert not result.ok
    assert 1 <= len(server.requests) <= 2, f"sent {len(server.requests)} times: {result.text}"
    if getattr(http, "proxied", False):
        # The proxy reads the whole request before passing it on, then relays the answer.
        assert "413" in result.text, result.text
    elif is_direct(http):
        assert "the connection broke while sending the request" in result.text, result.text


async def test_token_refresh_answer_cannot_smuggle_the_model_answer(
    http: ProviderTransport, tmp_path: Path
) -> None:
    """The ChatGPT token refresh shares the transport: a fake model answer written after
    the token answer is never read as the answer to the retried model request."""
    from codex_mcp.agent.model import ModelClient, resolve_auth
    from codex_mcp.agent.model.auth import REFRESH_URL_ENV
    from codex_mcp.agent.model.provider import ModelProviderInfo

    (tmp_path / "auth.json").write_text(
        json.dumps(
            {
                "OPENAI_API_KEY": None,
                "tokens": {
                    "id_token": "x.y.z",
                    "access_token": "old",
                    "refresh_token": "r1",
                    "account_id": "a",
                },
                "last_refresh": "2025-01-01T00:00:00Z",
            }
        )
    )
    unauthorized = respond(b'{"error": {"message": "expired"}}', status=401, reason="Unauthorized")
    token = respond(
        b'{"access_token": "new", "refresh_token": "r2"}', headers=[("Content-Type", "application/json")]
    )
    with answering(Answer(unauthorized), Answer(token + FAKE), Answer(respond(sse_body("real")))) as (
        server,
        _,
    ):
        provider = ModelProviderInfo(
            id="openai",
            name="OpenAI",
            base_url=server.base_url,
            wire_api="responses",
            requires_openai_auth=True,
        )
        auth = resolve_auth(
            provider,
            tmp_path,
            {REFRESH_URL_ENV: server.base_url + "/oauth/token"},
            chatgpt_base_url=server.base_url,
        )
        result = await outcome(ModelClient(provider, http=http, auth=auth, env={}))
    assert result.ok and result.text == "real", result
    assert [r.target for r in server.requests] == ["/v1/responses", "/v1/oauth/token", "/v1/responses"]
    assert server.requests[2].header("Authorization") == ["Bearer new"]
