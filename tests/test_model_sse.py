from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp.agent.model.sse import SseEvent, SseLimitError, SseParser, iter_sse
from codex_mcp.agent.model.types import ModelError


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def parse_all(data: bytes, cuts: list[int] | None = None) -> list[SseEvent]:
    p = SseParser()
    out: list[SseEvent] = []
    pos = 0
    for cut in sorted(cuts or []):
        out += p.feed(data[pos:cut])
        pos = cut
    out += p.feed(data[pos:])
    out += p.close()
    return out


def test_event_and_data_lines() -> None:
    evs = parse_all(b'event: response.created\ndata: {"a": 1}\n\ndata: plain\n\n')
    assert evs == [SseEvent("response.created", '{"a": 1}'), SseEvent("message", "plain")]


def test_multiline_data_is_joined_with_newlines() -> None:
    assert parse_all(b"data: one\ndata: two\ndata:three\n\n") == [SseEvent("message", "one\ntwo\nthree")]


def test_crlf_and_lone_cr_line_endings() -> None:
    assert parse_all(b"event: x\r\ndata: 1\r\n\r\nevent: y\rdata: 2\r\r") == [
        SseEvent("x", "1"),
        SseEvent("y", "2"),
    ]


def test_crlf_split_between_chunks_is_not_a_blank_line() -> None:
    data = b"data: a\r\ndata: b\r\n\r\n"
    for cut in range(len(data) + 1):
        assert parse_all(data, [cut]) == [SseEvent("message", "a\nb")], cut


def test_comments_unknown_fields_and_blank_runs() -> None:
    data = b": keep-alive\n\n\n\nretry: 10\nfoo: bar\ndata: x\n: inner comment\n\n\n"
    assert parse_all(data) == [SseEvent("message", "x")]


def test_field_without_colon_and_without_space() -> None:
    assert parse_all(b"data\n\n") == [SseEvent("message", "")]
    assert parse_all(b"data:no-space\n\n") == [SseEvent("message", "no-space")]
    assert parse_all(b"data:  two-spaces\n\n") == [SseEvent("message", " two-spaces")]


def test_id_is_remembered_and_bom_is_skipped() -> None:
    evs = parse_all(b"\xef\xbb\xbfid: 7\ndata: a\n\ndata: b\n\n", [1, 2])
    assert evs == [SseEvent("message", "a", "7"), SseEvent("message", "b", "7")]


def test_unterminated_last_event_is_dropped() -> None:
    assert parse_all(b"data: a\n\ndata: b\n") == [SseEvent("message", "a")]


def test_event_without_data_is_not_dispatched() -> None:
    assert parse_all(b"event: ping\n\n") == []


def test_utf8_split_inside_a_character() -> None:
    data = "data: héllo ✓\n\n".encode()
    for cut in range(len(data) + 1):
        assert parse_all(data, [cut]) == [SseEvent("message", "héllo ✓")]


_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=20)
_event = st.tuples(
    st.one_of(st.none(), st.text(alphabet="abcdefghij._", min_size=1, max_size=10)),
    st.lists(_text, min_size=1, max_size=3),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(_event, max_size=8),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    data=st.data(),
)
def test_any_chunking_gives_the_same_events(
    events: list[tuple[str | None, list[str], bool]], eol: str, data: st.DataObject
) -> None:
    parts: list[str] = []
    expected: list[SseEvent] = []
    for name, lines, comment in events:
        if comment:
            parts.append(": c" + eol)
        if name is not None:
            parts.append(f"event: {name}{eol}")
        parts.extend(f"data: {line}{eol}" for line in lines)
        parts.append(eol)
        expected.append(SseEvent(name or "message", "\n".join(lines)))
    raw = "".join(parts).encode()
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert parse_all(raw) == expected
    assert parse_all(raw, cuts) == expected


async def _chunks(parts: list[bytes], then_hang: bool = False) -> AsyncIterator[bytes]:
    for p in parts:
        yield p
    if then_hang:
        await anyio.sleep_forever()


@pytest.mark.anyio
async def test_iter_sse_over_async_chunks() -> None:
    raw = b"".join(f"data: {json.dumps({'n': i})}\n\n".encode() for i in range(50))
    parts = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    got = [json.loads(e.data)["n"] async for e in iter_sse(_chunks(parts), 5.0)]
    assert got == list(range(50))


@pytest.mark.anyio
async def test_idle_timeout_raises_retryable_error() -> None:
    seen: list[str] = []
    with pytest.raises(ModelError) as info:
        async for ev in iter_sse(_chunks([b"data: a\n\n"], then_hang=True), 0.05):
            seen.append(ev.data)
    assert seen == ["a"]
    assert str(info.value) == "idle timeout waiting for SSE"
    assert info.value.retryable
    assert info.value.kind == "response_stream_failed"


@pytest.mark.anyio
async def test_slow_consumer_does_not_trip_idle_timeout() -> None:
    got = []
    async for ev in iter_sse(_chunks([b"data: a\n\n", b"data: b\n\n"]), 0.02):
        await anyio.sleep(0.05)
        got.append(ev.data)
    assert got == ["a", "b"]


# --- caps and linearity ------------------------------------------------------------------


def test_a_line_over_the_cap_is_refused_before_it_is_kept() -> None:
    p = SseParser(max_event=1000, max_line=100)
    assert p.feed(b"data: " + b"x" * 90) == []
    with pytest.raises(SseLimitError) as info:
        p.feed(b"y" * 20)
    assert "SSE line larger than 100 bytes" in str(info.value)
    assert not info.value.retryable and info.value.kind == "response_stream_failed"


def test_an_event_of_short_lines_over_the_cap_is_refused() -> None:
    p = SseParser(max_event=100, max_line=100)
    with pytest.raises(SseLimitError) as info:
        for _ in range(30):
            p.feed(b"data: x\n")
    assert "SSE event larger than 100 bytes" in str(info.value)


def test_a_complete_event_over_the_cap_in_one_chunk_is_refused() -> None:
    p = SseParser(max_event=100, max_line=1000)
    with pytest.raises(SseLimitError):
        p.feed(b"data: a\n" * 20 + b"\n")
    p = SseParser(max_event=1000, max_line=50)
    with pytest.raises(SseLimitError):
        p.feed(b"data: " + b"z" * 60 + b"\n\n")


def test_events_up_to_the_caps_pass_whatever_the_chunking() -> None:
    body = b"data: " + b"q" * 94 + b"\n\n"  # a 100-byte line, a 101-byte event with its newline
    for cut in range(len(body) + 1):
        p = SseParser(max_event=101, max_line=100)
        events = p.feed(body[:cut]) + p.feed(body[cut:])
        assert events == [SseEvent("message", "q" * 94)], cut


def test_a_line_cap_counts_only_the_unfinished_line() -> None:
    p = SseParser(max_event=10_000, max_line=20)
    for _ in range(100):
        p.feed(b"data: 0123456789\n")  # many lines, each under the line cap
    assert p.feed(b"\n") == [SseEvent("message", "\n".join(["0123456789"] * 100))]


def test_held_cr_then_cap() -> None:
    p = SseParser(max_event=50, max_line=50)
    assert p.feed(b"data: a\r") == []
    assert p.feed(b"\r") == []  # CR CR: the event is complete once the next byte shows it
    assert p.close() == [SseEvent("message", "a")]


def test_huge_event_under_raised_caps_is_parsed_from_small_chunks() -> None:
    # Each byte is appended once and scanned once.  (The old parser re-scanned and copied the
    # whole unfinished event per chunk: 1,024 chunks of up to 64 MiB each, tens of seconds.)
    size = 64 * 1024 * 1024
    p = SseParser(max_event=size + 100, max_line=size + 100)
    p.feed(b"data: ")
    block = b"x" * 65536
    for _ in range(size // len(block)):
        assert p.feed(block) == []
    (event,) = p.feed(b"\n\n")
    assert len(event.data) == size


@pytest.mark.anyio
async def test_iter_sse_raises_the_cap_error() -> None:
    with pytest.raises(SseLimitError):
        async for _ in iter_sse(_chunks([b"data: " + b"w" * 65536] * 200), 5.0):
            pass
