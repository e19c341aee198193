"""A hostile provider's response head: endless or huge lines, floods of fields, dribbled
bytes, control characters, folding, garbage, HTTP/0.9 and HTTP/2, odd statuses, interim
floods and protocol switches.

Every attack runs in process against both transports (ours and the httpx fallback) and is
judged by what the caller gets: never an answer built from bytes that were not a valid
HTTP/1.1 response, a clear error within the head-wait bound (the provider's
`stream_idle_timeout_ms`), and bounded memory.  Where the fallback is laxer but still safe,
the test says so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from codex_mcp.agent.model.transport import ProviderTransport
from tests.security.wire_support import (
    Answer,
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
PEAK_LIMIT = 8 * MiB
"""Python memory an attack on the head may cost the client (the head bound is 100 KiB)."""
IDLE_MS = 1500


def endless(first: bytes, piece: bytes) -> Iterator[bytes]:
    yield first
    while True:
        yield piece


def is_direct(http: ProviderTransport) -> bool:
    return type(http).__name__ == "DirectTransport"


async def refused(http: ProviderTransport, *answers: Answer, fragment: str = "", bound: float = 30.0) -> str:
    """Play `answers`; the call must fail (never complete) within `bound` seconds with
    bounded memory; returns the error text (checked for `fragment` on our transport)."""
    with answering(*answers) as (server, _), traced_peak() as peak:
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS), bound=bound)
    assert not result.ok, f"the attack produced an answer: {result.text!r}"
    assert result.elapsed < bound
    assert peak[0] < PEAK_LIMIT, f"peak {peak[0] / MiB:.1f} MiB"
    if is_direct(http):
        assert fragment in result.text, result.text
    return result.text


# --- size ------------------------------------------------------------------------------------


async def test_endless_status_line(http: ProviderTransport) -> None:
    await refused(
        http,
        Answer(lambda: endless(b"HTTP/1.1 200 ", b"A" * 8192), end="close"),
        fragment="response head is over 100 KiB",
    )


async def test_endless_header_line(http: ProviderTransport) -> None:
    await refused(
        http,
        Answer(lambda: endless(b"HTTP/1.1 200 OK\r\nX-Pad: ", b"B" * 8192), end="close"),
        fragment="response head is over 100 KiB",
    )


async def test_ten_thousand_header_fields(http: ProviderTransport) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(10_000))
    text = await refused(http, Answer(head + b"Content-Length: 0\r\n\r\n", end="close"))
    if is_direct(http):  # ~110 KiB of fields: the byte bound or the count bound, whichever first
        assert "more than 256 header fields" in text or "response head is over 100 KiB" in text, text


async def test_one_huge_header(http: ProviderTransport) -> None:
    await refused(
        http,
        Answer(
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"C" * (2 * MiB) + b"\r\nContent-Length: 0\r\n\r\n", end="close"
        ),
        fragment="response head is over 100 KiB",
    )


async def test_a_head_just_over_the_bound_in_one_piece(http: ProviderTransport) -> None:
    """The bound holds when the whole oversized head (ending included) arrives in one read."""
    head = b"HTTP/1.1 200 OK\r\nX-Big: " + b"D" * (100 * 1024 + 10) + b"\r\nContent-Length: 0\r\n\r\n"
    await refused(http, Answer(head, end="close"), fragment="response head is over 100 KiB")


async def test_many_small_fields_just_under_the_byte_bound(http: ProviderTransport) -> None:
    """300 short fields (a few KiB): refused by count on ours, not by size."""
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"a%d:\r\n" % i for i in range(300)) + b"\r\n"
    await refused(http, Answer(head, end="close"), fragment="more than 256 header fields")


# --- time --------------------------------------------------------------------------------------


async def test_slowloris_head_ends_at_the_head_wait_bound(http: ProviderTransport) -> None:
    """One byte every 20 ms of a head that never ends: the call ends at the idle bound."""

    def dribble() -> Iterator[bytes]:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: ":
            yield bytes([byte])
        while True:
            yield b"s"

    text = await refused(
        http,
        Answer(dribble, end="close", pace=0.02),
        fragment="timed out waiting for response headers",
        bound=15,
    )
    assert "timed out" in text or "Timeout" in text


async def test_slowloris_of_a_valid_head_slower_than_the_bound(http: ProviderTransport) -> None:
    """A valid head, but at a pace that takes longer than the bound to finish."""
    data = respond(sse_body("late"))

    def dribble() -> Iterator[bytes]:
        for byte in data:
            yield bytes([byte])

    await refused(http, Answer(dribble, end="close", pace=0.05), fragment="timed out", bound=15)


async def test_one_byte_at_a_time_valid_response_is_read_exactly(http: ProviderTransport) -> None:
    """Not an attack on the bound: a whole chunked response written one byte per write
    (each a TCP segment) is read exactly, with no lost or doubled byte."""
    data = respond(sse_body("byte by byte"), framing="chunked")

    def dribble() -> Iterator[bytes]:
        for byte in data:
            yield bytes([byte])

    with answering(Answer(dribble, end="close")) as (server, _):
        result = await outcome(client_for(server.base_url, http, idle_ms=10_000))
    assert result.ok and result.text == "byte by byte", result


async def test_silence_after_connect(http: ProviderTransport) -> None:
    """The provider accepts, reads the request and says nothing: ends at the bound."""
    await refused(http, Answer(b"", end="hold"), fragment="timed out waiting for response headers", bound=15)


# --- bytes that are not a field ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [b"a\x00b", b"a\rb", b"a\x0bb", b"a\x7fb", b"a\x1bb"],
    ids=["nul", "cr", "vt", "del", "esc"],
)
async def test_control_characters_in_a_value(http: ProviderTransport, value: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Evil: " + value + b"\r\n"
    body = sse_body("smuggled")
    answer = Answer(head + b"Content-Length: %d\r\n\r\n" % len(body) + body, end="close")
    if not is_direct(http) and value in (b"a\x7fb", b"a\x1bb"):
        # h11 lets DEL and ESC through in a value: no line or framing can come of them
        # (CR, LF and NUL it refuses), so the fallback's laxness is noted, not fatal.
        with answering(answer) as (server, _):
            result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
        assert result.ok and result.text == "smuggled", result
        return
    await refused(http, answer, fragment="control characters in the header `X-Evil`")


async def test_folded_header(http: ProviderTransport) -> None:
    body = sse_body("folded")
    head = b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nContent-Length: %d\r\n\r\n" % len(body)
    with answering(Answer(head + body, end="close")) as (server, _):
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
    if is_direct(http):
        assert not result.ok and "folded header line" in result.text, result
    else:  # h11 unfolds an obs-fold into the previous field, as RFC 9112 allows a recipient
        assert result.ok and result.text == "folded", result


async def test_folded_content_length(http: ProviderTransport) -> None:
    """A fold that would hide a second framing field inside another field's value."""
    body = sse_body("x")
    head = b"HTTP/1.1 200 OK\r\nX-A: a\r\n Content-Length: 1\r\nContent-Length: %d\r\n\r\n" % len(body)
    with answering(Answer(head + body, end="close")) as (server, _):
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
    if is_direct(http):
        assert not result.ok and "folded header line" in result.text, result
    else:
        assert result.ok and result.text == "x", result  # the fold is a value, the framing one field


@pytest.mark.parametrize(
    "line",
    [b"Content-Length : 5", b" Content-Length: 5", b"Content Length: 5", b"Content-Length\t: 5", b"\x00X: y"],
    ids=["space-before-colon", "leading-space", "space-in-name", "tab-before-colon", "nul-name"],
)
async def test_malformed_field_names(http: ProviderTransport, line: bytes) -> None:
    body = sse_body("x")
    data = b"HTTP/1.1 200 OK\r\nX-First: 1\r\n" + line + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    if not is_direct(http) and line.startswith(b" "):
        # h11 reads a line starting with a blank as an obs-fold: part of X-First's value,
        # not a second Content-Length, so the framing stays the one real field.
        with answering(Answer(data, end="close")) as (server, _):
            result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
        assert result.ok and result.text == "x", result
        return
    await refused(http, Answer(data, end="close"), fragment="the model provider sent a")


async def test_bare_cr_line_ends(http: ProviderTransport) -> None:
    """Lines ended by CR alone are not lines: the head never ends and the bound applies."""
    data = b"HTTP/1.1 200 OK\rContent-Length: 0\r\r"
    await refused(http, Answer(data, end="hold"), fragment="timed out", bound=15)


# --- not HTTP/1.1 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        bytes(range(256)) * 4 + b"\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64 + b"\n\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/2 200\r\ncontent-length: 0\r\n\r\n",
        b"http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
        b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=[
        "ssh",
        "binary",
        "tls-record",
        "icy",
        "http-1.2",
        "http-2-text",
        "lowercase",
        "no-space",
        "blank-first",
    ],
)
async def test_garbage_instead_of_a_status_line(http: ProviderTransport, data: bytes) -> None:
    await refused(http, Answer(data, end="close"), fragment="the model provider")


async def test_http09_style_body_is_never_an_answer(http: ProviderTransport) -> None:
    """A complete Responses stream with no status line and no fields, ended by the close:
    read as a body it would be a successful answer."""
    await refused(http, Answer(sse_body("no head at all"), end="close"), fragment="not an HTTP/1.1 response")


async def test_http09_style_body_without_blank_line(http: ProviderTransport) -> None:
    data = b'data: {"type": "response.created"}\n'
    await refused(http, Answer(data, end="close"), fragment="the model provider")


@pytest.mark.parametrize("end", ["close", "hold"])
async def test_http2_preface_and_settings(http: ProviderTransport, end: str) -> None:
    settings = b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64"
    await refused(
        http,
        Answer(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings, end=end),
        fragment="not an HTTP/1.1 response",
        bound=15,
    )


async def test_http2_settings_frame_alone(http: ProviderTransport) -> None:
    """An HTTP/2 server's first frame: binary, no line end; the bound ends the wait."""
    await refused(
        http, Answer(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00", end="hold"), fragment="timed out", bound=15
    )


# --- statuses -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [b"000", b"099", b"1000", b"2OO", b"-20", b"+200", b"20"])
async def test_invalid_status_codes(http: ProviderTransport, status: bytes) -> None:
    body = sse_body("bad status")
    data = b"HTTP/1.1 " + status + b" OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    await refused(http, Answer(data, end="close"), fragment="not an HTTP/1.1 response")


async def test_status_999_is_not_success(http: ProviderTransport) -> None:
    body = sse_body("odd status")
    data = b"HTTP/1.1 999 Whatever\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    text = await refused(http, Answer(data, end="close"))
    assert "999" in text


async def test_endless_100_continue(http: ProviderTransport) -> None:
    await refused(
        http,
        Answer(lambda: endless(b"", b"HTTP/1.1 100 Continue\r\n\r\n"), end="close"),
        fragment="over 16 interim responses",
        bound=15,
    )


async def test_slow_interim_flood_ends_at_the_bound(http: ProviderTransport) -> None:
    """102 Processing every 100 ms (each a valid head): the wait is bounded in total, not
    per interim answer, and the interim count bound is reached or the time runs out."""
    text = await refused(
        http,
        Answer(lambda: endless(b"", b"HTTP/1.1 102 Processing\r\n\r\n"), end="close", pace=0.1),
        bound=15,
    )
    if is_direct(http):
        assert "interim responses" in text or "timed out" in text, text


async def test_interim_answers_with_fields_then_the_answer(http: ProviderTransport) -> None:
    """Legitimate 103 Early Hints (up to the bound) before the answer: read correctly."""
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n" * 16
    with answering(Answer(hints + respond(sse_body("after hints")), end="close")) as (server, _):
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
    assert result.ok and result.text == "after hints", result


async def test_101_switching_protocols(http: ProviderTransport) -> None:
    """A protocol switch, followed by bytes that would read as an answer if HTTP went on."""
    data = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    data += respond(sse_body("after the switch"))
    await refused(http, Answer(data, end="close"), fragment="tried to switch protocols")


async def test_interim_answer_with_a_body_is_not_skipped_into_an_answer(http: ProviderTransport) -> None:
    """A 100 carrying a Content-Length and a body that is itself a response head: 1xx
    answers have no body, so those bytes are read as the next head (an invalid one)."""
    inner = b"X" * 10
    data = b"HTTP/1.1 100 Continue\r\nContent-Length: 10\r\n\r\n" + inner + respond(sse_body("x"))
    await refused(http, Answer(data, end="close"), fragment="not an HTTP/1.1 response")


async def test_head_is_read_within_the_bound_even_when_the_body_is_endless(http: ProviderTransport) -> None:
    """Control: the bound covers the head only; a valid head then a slow, valid body that
    finishes is an answer (the idle bound applies between body pieces)."""
    body = sse_body("slow body")
    pieces = [body[i : i + 40] for i in range(0, len(body), 40)]

    def frames() -> Iterator[bytes]:
        yield ok_head("Transfer-Encoding: chunked")
        for piece in pieces:
            yield b"%x\r\n" % len(piece) + piece + b"\r\n"
        yield b"0\r\n\r\n"

    start = time.monotonic()
    with answering(Answer(frames, end="close", pace=0.1)) as (server, _):
        result = await outcome(client_for(server.base_url, http, idle_ms=IDLE_MS))
    assert result.ok and result.text == "slow body", result
    assert time.monotonic() - start > IDLE_MS / 1000
