"""Incremental Server-Sent Events parsing over an async stream of byte chunks, in linear time.

The parser works on whole blocks rather than characters.  Line endings of each new chunk
are normalised to ``\\n`` with ``bytes.replace`` (a CR at the very end of a chunk is held
back: it may be the first half of a CRLF), complete events (blocks ending in a blank line)
are cut off with ``bytes.split``, and only the unfinished event stays in a buffer.  Every
byte is copied a bounded number of times however the stream is chunked, so one huge event
or an endless line costs time proportional to its size, never to its size squared.

A provider chooses how long a line or an event is: both are capped
(`MAX_SSE_LINE_BYTES`, `MAX_SSE_EVENT_BYTES`), and crossing a cap ends the response with a
`ModelError` that names it, before the buffer grows any further.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

import anyio

from codex_mcp.agent.limits import MAX_SSE_EVENT_BYTES, MAX_SSE_LINE_BYTES, describe_bytes
from codex_mcp.agent.model.types import ModelError

IDLE_TIMEOUT_MESSAGE = "idle timeout waiting for SSE"

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: the `event:` name (default "message") and the joined `data:`."""

    event: str
    data: str
    id: str | None = None


class SseLimitError(ModelError):
    """The provider sent a line or an event over its cap.  Not retried: a provider that
    does this once will do it again, and each try would cost the same memory and time."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(
            f"the model provider sent an SSE {what} larger than {describe_bytes(limit)}, "
            "the limit; the response was abandoned",
            "response_stream_failed",
        )


class SseParser:
    """Feed raw bytes, get complete events back.  Pure and synchronous."""

    __slots__ = ("_cr", "_last_id", "_line_start", "_pre", "_started", "_tail", "max_event", "max_line")

    def __init__(self, max_event: int = MAX_SSE_EVENT_BYTES, max_line: int = MAX_SSE_LINE_BYTES) -> None:
        self.max_event = max_event
        self.max_line = max_line
        self._tail = bytearray()  # the unfinished event, line endings already normalised
        self._line_start = 0  # where the unfinished line begins in `_tail`
        self._cr = False  # the last chunk ended with a CR that is not in `_tail` yet
        self._pre = b""  # the first bytes of the stream while they may still be a BOM
        self._last_id: str | None = None
        self._started = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events `chunk` completes.  Raises `SseLimitError` for an over-long line/event."""
        if not chunk:
            return []
        if not self._started:
            chunk = self._pre + chunk
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._pre = chunk
                return []
            self._pre = b""
            self._started = True
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if b"\r" in chunk:
            if chunk.endswith(b"\r"):
                chunk = chunk[:-1]
                self._cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return self._feed_normalised(chunk)

    def close(self) -> list[SseEvent]:
        """End of stream.  Per the SSE rules an unterminated final event is discarded."""
        out: list[SseEvent] = []
        if self._cr:
            # A held-back CR was a line end after all; it may complete the last event.
            self._cr = False
            out = self._feed_normalised(b"\n")
        self._tail = bytearray()
        self._line_start = 0
        return out

    def _feed_normalised(self, chunk: bytes) -> list[SseEvent]:
        if not chunk:
            return []
        out: list[SseEvent] = []
        small = min(self.max_event, self.max_line)  # blocks up to this size pass unchecked
        tail = self._tail
        if tail:
            if tail[-1] == 0x0A and chunk[0] == 0x0A:
                del tail[-1]  # the blank line straddles the two chunks
                rest = chunk[1:]
            else:
                end = chunk.find(b"\n\n")
                if end < 0:
                    self._grow(chunk)
                    return out
                tail += memoryview(chunk)[:end]
                rest = chunk[end + 2 :]
            if len(tail) > small:
                self._check_block(tail)
            event = self._parse_block(tail)
            self._tail = bytearray()
            self._line_start = 0
            if event is not None:
                out.append(event)
        else:
            rest = chunk
        blocks = rest.split(b"\n\n")
        unfinished = blocks.pop()
        for block in blocks:
            if len(block) > small:
                self._check_block(block)
            event = self._parse_block(block)
            if event is not None:
                out.append(event)
        if unfinished:
            self._grow(unfinished)
        return out

    def _grow(self, data: bytes) -> None:
        """Append to the unfinished event, enforcing the caps before keeping anything."""
        tail = self._tail
        newline = data.rfind(b"\n")
        line_start = len(tail) + newline + 1 if newline >= 0 else self._line_start
        size = len(tail) + len(data)
        if size - line_start > self.max_line:
            raise SseLimitError("line", self.max_line)
        if size > self.max_event:
            raise SseLimitError("event", self.max_event)
        tail += data
        self._line_start = line_start

    def _check_block(self, block: bytes | bytearray) -> None:
        if len(block) > self.max_event:
            raise SseLimitError("event", self.max_event)
        if max(map(len, block.split(b"\n"))) > self.max_line:
            raise SseLimitError("line", self.max_line)

    def _parse_block(self, block: bytes | bytearray) -> SseEvent | None:
        if block.startswith(b"\n"):
            # Blank lines left over from a "\n\n\n" run: strip them.
            block = block.lstrip(b"\n")
            if not block:
                return None
        event = "message"
        data: list[bytes | bytearray] = []
        for line in block.split(b"\n"):
            colon = line.find(b":")
            if colon == 0:
                continue  # comment
            value: bytes | bytearray
            if colon < 0:
                name, value = line, b""
            else:
                name = line[:colon]
                value = line[colon + 1 :]
                if value[:1] == b" ":
                    value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value.decode("utf-8", "replace")
            elif name == b"id" and b"\x00" not in value:
                self._last_id = value.decode("utf-8", "replace")
            # "retry" and unknown fields are ignored.
        if not data:
            return None
        joined = data[0] if len(data) == 1 else b"\n".join(data)
        return SseEvent(event or "message", joined.decode("utf-8", "replace"), self._last_id)


async def iter_sse(
    chunks: AsyncIterator[bytes], idle_timeout: float | None = None
) -> AsyncGenerator[SseEvent, None]:
    """Yield the events of `chunks`.

    Each wait for more bytes is bounded by `idle_timeout` seconds; when it expires a
    retryable `ModelError("idle timeout waiting for SSE")` is raised.  The timeout scope
    never spans a ``yield``, so the consumer may take as long as it likes per event.
    """
    parser = SseParser()
    it = chunks.__aiter__()
    while True:
        try:
            if idle_timeout is None:
                chunk = await it.__anext__()
            else:
                with anyio.fail_after(idle_timeout):
                    chunk = await it.__anext__()
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise ModelError(IDLE_TIMEOUT_MESSAGE, "response_stream_failed", retryable=True) from None
        for ev in parser.feed(chunk):
            yield ev
    for ev in parser.close():
        yield ev
