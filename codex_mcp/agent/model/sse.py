"""Incremental Server-Sent Events parsing over an async stream of byte chunks.

The parser works on whole blocks rather than characters: every chunk is appended to a
buffer, line endings are normalised to ``\\n`` with ``bytes.replace`` and complete events
(blocks ending in a blank line) are cut off with ``bytes.split``.  Only the unfinished tail
stays in the buffer, so a chunk boundary may fall anywhere, even between ``\\r`` and ``\\n``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

import anyio

from codex_mcp.agent.model.types import ModelError

IDLE_TIMEOUT_MESSAGE = "idle timeout waiting for SSE"

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: the `event:` name (default "message") and the joined `data:`."""

    event: str
    data: str
    id: str | None = None


class SseParser:
    """Feed raw bytes, get complete events back.  Pure and synchronous."""

    __slots__ = ("_buf", "_last_id", "_started")

    def __init__(self) -> None:
        self._buf = b""
        self._last_id: str | None = None
        self._started = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if not chunk:
            return []
        buf = self._buf + chunk if self._buf else chunk
        if not self._started:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                self._buf = buf
                return []
            self._started = True
            if buf.startswith(_BOM):
                buf = buf[len(_BOM) :]
        if b"\r" in buf:
            # A trailing CR may be the first half of a CRLF split across chunks: keep it back.
            held = buf.endswith(b"\r")
            if held:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buf += b"\r"
        blocks = buf.split(b"\n\n")
        self._buf = blocks.pop()
        if not blocks:
            return []
        out: list[SseEvent] = []
        for block in blocks:
            ev = self._parse_block(block)
            if ev is not None:
                out.append(ev)
        return out

    def close(self) -> list[SseEvent]:
        """End of stream.  Per the SSE rules an unterminated final event is discarded."""
        buf, self._buf = self._buf, b""
        if not buf.endswith(b"\r"):
            return []
        # A held-back CR was a line end after all; it may complete the last event.
        blocks = (buf[:-1] + b"\n").split(b"\n\n")
        blocks.pop()
        return [ev for ev in map(self._parse_block, blocks) if ev is not None]

    def _parse_block(self, block: bytes) -> SseEvent | None:
        if block.startswith(b"\n"):
            # Blank lines left over from a "\n\n\n" run: strip them.
            block = block.lstrip(b"\n")
            if not block:
                return None
        event = "message"
        data: list[bytes] = []
        for line in block.split(b"\n"):
            colon = line.find(b":")
            if colon == 0:
                continue  # comment
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
