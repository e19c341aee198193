"""A hostile provider's body framing: smuggling with Content-Length and Transfer-Encoding,
hostile chunk sizes, chunks longer than announced, trailer floods, and bytes after the body
on a kept connection (the resend rules are in `test_wire_resend.py`).

Judged from outside: what the caller gets (never an answer made of bytes the provider sent
after a response, never a body framed two ways), and what the provider saw (how many
requests, on which connections).  Both transports unless the test says otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from codex_mcp.agent.model.transport import ProviderTransport
from tests.security.wire_support import (
    Answer,
    Outcome,
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
