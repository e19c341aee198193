"""A hostile provider's body framing: smuggling with Content-Length and Transfer-Encoding,
hostile chunk sizes, chunks longer than announced, trailer floods, bytes after the body on a
kept connection, and the one resend of a request the provider never answered.

Judged from outside: what the caller gets (never an answer made of bytes the provider sent
after a response, never a body framed two ways), and what the provider saw (how many
requests, on which connections).  Both transports unless the test says otherwise.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_mcp.agent.model.transport import ProviderTransport
from tests.security.wire_support import (
    Answer,
    Outcome,
    Peer,
    RawServer,
    answering,
    client_for,
    ok_head,
    outcome,
    respond,
    sse_body,
    traced_peak,
)

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
IDLE_MS = 1500
FAKE = respond(sse_body("FAKE: a response nobody asked for"))


def is_direct(http: ProviderTransport) -> bool:
    return type(http).__name__ == "DirectTransport"


async def one(
    http: ProviderTransport, *answers: Answer, bound: float = 30.0, peak_limit: int = 8 * MiB
) -> Outcome:
    with answering(*answers) as (server, _), traced_peak() as peak:
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS), bound=bound)
    assert result.elapsed < bound
    assert peak[0] < peak_limit, f"peak {peak[0] / MiB:.1f} MiB"
    return result


async def refused(
    http: ProviderTransport,
    *answers: Answer,
    fragment: str = "",
    bound: float = 30.0,
    peak_limit: int = 8 * MiB,
) -> str:
    result = await one(http, *answers, bound=bound, peak_limit=peak_limit)
    assert not result.ok, f"the attack produced an answer: {result.text!r}"
    if is_direct(http):
        assert fragment in result.text, result.text
    return result.text


def chunked(body: bytes, size: int = 50) -> bytes:
    out = b"".join(
        b"%x\r\n" % len(body[i : i + size]) + body[i : i + size] + b"\r\n" for i in range(0, len(body), size)
    )
    return out + b"0\r\n\r\n"


# --- Content-Length and Transfer-Encoding -------------------------------------------------------


async def test_length_and_chunked_together_never_desynchronise(http: ProviderTransport) -> None:
    """CL says 5 bytes, TE says chunked; a reader trusting CL would take the chunked data
    for the next response.  Ours reads the chunks and never reuses the connection."""
    body = sse_body("first")
    first = ok_head("Content-Length: 5", "Transfer-Encoding: chunked") + chunked(body)
    with answering(Answer(first), Answer(respond(sse_body("second")))) as (server, _):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        a = await outcome(client)
        b = await outcome(client)
    assert (a.ok and a.text == "first") or not a.ok, a
    assert b.ok and b.text == "second", b
    if is_direct(http):
        assert a.ok
        assert server.connections == 2, "a connection framed two ways was reused"


async def test_chunked_then_length_in_the_other_order(http: ProviderTransport) -> None:
    body = sse_body("first")
    smuggle = chunked(body) + FAKE
    first = ok_head("Transfer-Encoding: chunked", f"Content-Length: {len(smuggle)}") + smuggle
    with answering(Answer(first), Answer(respond(sse_body("second")))) as (server, _):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        await outcome(client)
        b = await outcome(client)
    assert b.ok and b.text == "second", b


@pytest.mark.parametrize(
    "fields",
    [
        ("Content-Length: 10", "Content-Length: 20"),
        ("Content-Length: 10, 20",),
        ("Content-Length: -5",),
        ("Content-Length: +5",),
        ("Content-Length: 0x10",),
        ("Content-Length: 1e3",),
        ("Content-Length: 5 5",),
        ("Content-Length:",),
        ("Content-Length: 99999999999999999999",),
        ("Content-Length: \uff15",),
    ],
    ids=[
        "two",
        "list",
        "negative",
        "plus",
        "hex",
        "exponent",
        "inner-space",
        "empty",
        "20-digits",
        "fullwidth",
    ],
)
async def test_invalid_content_length(http: ProviderTransport, fields: tuple[str, ...]) -> None:
    if "\uff15" in fields[0]:  # a digit to `str.isdigit`, three non-digit bytes on the wire
        data = ok_head("Content-Length: PLACEHOLDER").replace(b"PLACEHOLDER", "\uff15".encode()) + sse_body(
            "x"
        )
    else:
        data = ok_head(*fields) + sse_body("x")
    await refused(http, Answer(data, end="close"), fragment="Content-Length")


@pytest.mark.parametrize("pad", [b"\xa0", b"\x85"], ids=["nbsp", "nel"])
async def test_content_length_with_unicode_blank(http: ProviderTransport, pad: bytes) -> None:
    """`5\\xa0`: a latin-1 byte some string functions call white space; HTTP does not
    (only SP and HTAB), so the field is invalid, not 5."""
    body = sse_body("x")
    data = b"HTTP/1.1 200 OK\r\nContent-Length: %d" % len(body) + pad + b"\r\n\r\n" + body
    await refused(http, Answer(data, end="close"), fragment="Content-Length")


async def test_same_length_twice_is_one_length(http: ProviderTransport) -> None:
    body = sse_body("twice")
    data = ok_head(f"Content-Length: {len(body)}", f"Content-Length: {len(body)}, {len(body)}") + body
    result = await one(http, Answer(data, end="close"))
    assert result.ok and result.text == "twice", result


async def test_huge_content_length_with_a_short_body(http: ProviderTransport) -> None:
    data = ok_head("Content-Length: 9223372036854775807") + sse_body("short")
    await refused(http, Answer(data, end="close"), fragment="before the end of the body")


@pytest.mark.parametrize(
    "coding",
    ["gzip, chunked", "chunked, gzip", "identity", "gzip", "xchunked", "chunked;q=1", "chunked, chunked"],
)
async def test_transfer_codings_we_do_not_read(http: ProviderTransport, coding: str) -> None:
    data = ok_head(f"Transfer-Encoding: {coding}") + chunked(sse_body("x"))
    await refused(http, Answer(data, end="close"), fragment="transfer-encoding")


async def test_two_transfer_encoding_fields(http: ProviderTransport) -> None:
    data = ok_head("Transfer-Encoding: chunked", "Transfer-Encoding: chunked") + chunked(sse_body("x"))
    await refused(http, Answer(data, end="close"), fragment="transfer-encoding")


@pytest.mark.parametrize("value", ["Chunked", "CHUNKED", " chunked", "chunked\t"])
async def test_chunked_in_any_case_and_blank(http: ProviderTransport, value: str) -> None:
    data = ok_head(f"Transfer-Encoding: {value}") + chunked(sse_body("cased"))
    result = await one(http, Answer(data, end="close"))
    assert result.ok and result.text == "cased", result


@pytest.mark.parametrize("pad", [b"\xa0", b"\x85", b"\x1c"], ids=["nbsp", "nel", "fs"])
async def test_chunked_with_unicode_blank_is_not_chunked(http: ProviderTransport, pad: bytes) -> None:
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked" + pad + b"\r\n\r\n" + chunked(sse_body("x"))
    await refused(http, Answer(data, end="close"), fragment="the model provider")


# --- chunks -------------------------------------------------------------------------------------


def endless_chunk(size_line: bytes) -> Iterator[bytes]:
    yield ok_head("Transfer-Encoding: chunked") + size_line + b"\r\n"
    yield b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": "'
    while True:
        yield b"A" * 65536


async def test_chunk_of_two_to_the_64(http: ProviderTransport) -> None:
    """A 2^64-1 byte chunk, filled forever: memory follows the SSE bound, not the size."""
    await refused(
        http,
        Answer(lambda: endless_chunk(b"ffffffffffffffff"), end="close"),
        fragment="SSE line larger than 8 MiB",
        peak_limit=48 * MiB,
    )


@pytest.mark.parametrize(
    "line",
    [b"-1", b"0x10", b"1ffffffffffffffff", b"+5", b"5 5", b"", b"g", b"5\x00", b"\xa05"],
    ids=["negative", "0x", "17-digits", "plus", "inner-space", "empty", "non-hex", "nul", "nbsp"],
)
async def test_invalid_chunk_sizes(http: ProviderTransport, line: bytes) -> None:
    data = ok_head("Transfer-Encoding: chunked") + line + b"\r\nhello\r\n0\r\n\r\n"
    await refused(http, Answer(data, end="close"), fragment="chunk size")


async def test_chunk_size_line_too_long(http: ProviderTransport) -> None:
    data = ok_head("Transfer-Encoding: chunked") + b"5;" + b"e" * 4000 + b"\r\nhello\r\n0\r\n\r\n"
    await refused(http, Answer(data, end="close"), fragment="chunk-size line over 1024 bytes")


async def test_endless_chunk_size_line(http: ProviderTransport) -> None:
    def frames() -> Iterator[bytes]:
        yield ok_head("Transfer-Encoding: chunked") + b"5;"
        while True:
            yield b"x" * 4096

    await refused(http, Answer(frames, end="close"), fragment="chunk-size line over 1024 bytes")


async def test_chunk_extension_flood_is_read_correctly_and_bounded(http: ProviderTransport) -> None:
    """One-byte chunks, each with a 1000-byte extension: legal, slow to parse, bounded."""
    body = sse_body("extensions")
    ext = b";" + b"k=v;" * 249
    data = ok_head("Transfer-Encoding: chunked")
    data += (
        b"".join(b"1" + ext + b"\r\n" + body[i : i + 1] + b"\r\n" for i in range(len(body))) + b"0\r\n\r\n"
    )
    result = await one(http, Answer(data, end="close"))
    assert result.ok and result.text == "extensions", result


@pytest.mark.parametrize("extra", [b"X", b"EXTRA BYTES" * 100, b"\r"], ids=["one", "many", "cr"])
async def test_chunk_longer_than_announced(http: ProviderTransport, extra: bytes) -> None:
    body = sse_body("x")
    data = ok_head("Transfer-Encoding: chunked") + b"%x\r\n" % len(body) + body + extra + b"\r\n0\r\n\r\n"
    await refused(http, Answer(data, end="close"), fragment="longer than its size")


async def test_chunked_body_cut_by_close(http: ProviderTransport) -> None:
    body = sse_body("x")
    data = ok_head("Transfer-Encoding: chunked") + b"%x\r\n" % (len(body) + 100) + body
    await refused(http, Answer(data, end="close"), fragment="before the end of the body")


async def test_trailer_flood(http: ProviderTransport) -> None:
    trailers = b"".join(b"X-T%d: %s\r\n" % (i, b"v" * 100) for i in range(2000))
    data = ok_head("Transfer-Encoding: chunked") + chunked(sse_body("trailers"))[:-2] + trailers + b"\r\n"
    result = await one(http, Answer(data, end="close"))
    # The whole answer came before the trailers: the SSE stream completed; ours refuses the
    # flood when it reaches it, but the caller already had `response.completed`.
    if is_direct(http) and not result.ok:
        assert "trailers are over" in result.text, result


async def test_trailer_flood_keeps_the_connection_out_of_the_pool(http: ProviderTransport) -> None:
    trailers = b"".join(b"X-T%d: %s\r\n" % (i, b"v" * 100) for i in range(2000))
    first = ok_head("Transfer-Encoding: chunked") + chunked(sse_body("first"))[:-2] + trailers + b"\r\n"
    with answering(Answer(first), Answer(respond(sse_body("second")))) as (server, _):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        await outcome(client)
        b = await outcome(client)
    assert b.ok and b.text == "second", b


async def test_endless_trailer(http: ProviderTransport) -> None:
    def frames() -> Iterator[bytes]:
        yield ok_head("Transfer-Encoding: chunked") + chunked(sse_body("t"))[:-2] + b"X-Endless: "
        while True:
            yield b"t" * 4096

    result = await one(http, Answer(frames, end="close"))
    assert result.ok or "trailer" in result.text or not is_direct(http), result


# --- what follows a body on a kept connection -----------------------------------------------------


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_a_second_response_smuggled_after_the_body(http: ProviderTransport, framing: str) -> None:
    """The first answer carries a complete fake second answer after its body, in the same
    write; the second request must get the provider's real answer to it."""
    first = respond(sse_body("first"), framing=framing) + FAKE
    with answering(Answer(first), Answer(respond(sse_body("second")))) as (server, _):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        a = await outcome(client)
        b = await outcome(client)
    assert a.ok and a.text == "first", a
    assert b.ok and b.text == "second", b
    assert "FAKE" not in b.text


async def test_a_second_response_smuggled_after_a_pause(http: ProviderTransport) -> None:
    """The fake arrives in its own segment after the first answer, before the next request."""
    sent = threading.Event()

    def late() -> Iterator[bytes]:
        yield respond(sse_body("first"))
        yield FAKE
        sent.set()

    with answering(Answer(late), Answer(respond(sse_body("second")))) as (server, _):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        a = await outcome(client)
        assert sent.wait(10)
        server.wait(lambda: True)
        b = await outcome(client)
    assert a.ok and a.text == "first", a
    assert b.ok and b.text == "second", b


@pytest.mark.parametrize("status", [204, 304])
async def test_bytes_after_a_bodiless_response(http: ProviderTransport, status: int) -> None:
    """204 and 304 have no body whatever they say: a fake answer written after one (with a
    Content-Length that pretends to cover it) is never read as the next response."""
    first = f"HTTP/1.1 {status} X\r\nContent-Length: {len(FAKE)}\r\n\r\n".encode() + FAKE
    with answering(Answer(first), Answer(respond(sse_body("second")))) as (server, _):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        a = await outcome(client)
        b = await outcome(client)
    assert not a.ok
    assert b.ok and b.text == "second", b


async def test_error_body_longer_than_read_is_not_the_next_response(http: ProviderTransport) -> None:
    """A 400 whose 1 MiB body the client stops reading at its 64 KiB bound, followed by a
    fake: the half-read connection is never reused."""
    big = b'{"error": {"message": "' + b"e" * MiB + b'"}}'
    first = respond(big, status=400, reason="Bad Request") + FAKE
    with answering(Answer(first), Answer(respond(sse_body("second")))) as (server, _):
        client = client_for(server.base_url, http, idle_ms=IDLE_MS)
        a = await outcome(client)
        b = await outcome(client)
    assert not a.ok
    assert b.ok and b.text == "second", b


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
    if is_direct(http):
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
