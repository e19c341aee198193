"""One HTTP/1.1 connection to a model provider: write a request, read its answer.

Reads are buffered and bounded: a head may not exceed `MAX_HEAD_BYTES`, a chunk-size line
`MAX_CHUNK_LINE`, trailers `MAX_TRAILER_BYTES`; a body is handed on in pieces of at most
`READ_SIZE` whatever sizes the provider announces, so memory never follows a number the
provider chose.  Time is bounded by the caller (the model client's scopes around the wait
for the head and between body pieces).  Searches resume where the last one stopped, so a
provider dribbling one byte at a time costs linear work, not quadratic.
"""

from __future__ import annotations

import select
import ssl
import time
from collections.abc import AsyncIterator, Hashable

import anyio
import anyio.abc
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute, TLSStream

from codex_mcp.agent.model.transport.http11 import (
    MAX_CHUNK_LINE,
    MAX_HEAD_BYTES,
    MAX_TRAILER_BYTES,
    Framing,
    ResponseHead,
    body_framing,
    find_head_end,
    parse_chunk_size,
    parse_head,
)
from codex_mcp.errors import ProviderClosedEarly, ProviderTransportError

READ_SIZE = 64 * 1024
MAX_INTERIM_RESPONSES = 16
"""`100 Continue` and friends before the real answer; more than this is a provider stalling."""
WRITE_PIECE = 1024 * 1024

_STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, ssl.SSLError)


class Connection:
    """A byte stream with a read buffer, used for one request at a time."""

    def __init__(self, stream: anyio.abc.ByteStream, origin: Hashable) -> None:
        self.origin = origin
        """The pool's key: the origin, and the proxy it is reached through."""
        self._stream = stream
        self._buf = bytearray()
        self._eof = False
        self.requests = 0
        self.idle_since = 0.0
        self.closed = False
        self.reusable = False
        """Set once a whole response was read and both sides allow another request."""
        self._answered = False
        """Whether any byte arrived since the last request was written: from then on the
        provider has seen the request, and it must not be sent again on our initiative."""
        self._cut = False
        """The stream ended without TLS's close_notify: an end an attacker on the path can
        forge, so it may not end a body that only the end of the connection delimits."""

    # --- writing ----------------------------------------------------------------------------

    async def send_request(self, head: bytes, body: bytes) -> None:
        """Write the request.  A failure means the provider did not take it whole (the
        connection was closed under us), which is safe to send again: `ProviderClosedEarly`.
        (An answer it may have sent before it stopped reading is lost: the stream does not
        read while it writes.)"""
        self.requests += 1
        self.reusable = False
        self._answered = False
        try:
            if len(body) <= READ_SIZE:
                await self._stream.send(head + body)
                return
            await self._stream.send(head)
            for start in range(0, len(body), WRITE_PIECE):
                await self._stream.send(body[start : start + WRITE_PIECE])
        except _STREAM_ERRORS as exc:
            raise ProviderClosedEarly(
                f"the connection broke while sending the request: {describe_exc(exc)}"
            ) from None

    # --- reading ----------------------------------------------------------------------------

    async def _fill(self) -> bool:
        """Read more into the buffer; False at the end of the stream."""
        if self._eof:
            return False
        try:
            data = await self._stream.receive(READ_SIZE)
        except anyio.EndOfStream:
            self._eof = True
            return False
        except _STREAM_ERRORS as exc:
            if _is_tls_cut(exc):
                self._eof = self._cut = True
                return False
            raise ProviderTransportError(
                f"reading from the model provider failed: {describe_exc(exc)}"
            ) from None
        self._answered = True
        self._buf += data
        return True

    def _take(self, size: int) -> bytes:
        piece = bytes(self._buf[:size])
        del self._buf[:size]
        return piece

    async def read_head(self) -> tuple[ResponseHead, Framing, int]:
        """The final response head (interim 1xx answers skipped) and its body framing."""
        for _ in range(MAX_INTERIM_RESPONSES + 1):
            head = await self._read_one_head()
            if 100 <= head.status < 200:
                if head.status == 101:
                    raise ProviderTransportError("the model provider tried to switch protocols")
                continue
            framing, length = body_framing(head)
            return head, framing, length
        raise ProviderTransportError(
            f"the model provider sent over {MAX_INTERIM_RESPONSES} interim responses"
        )

    @property
    def buffered(self) -> int:
        """Bytes read and not yet consumed."""
        return len(self._buf)

    async def read_one_head(self) -> ResponseHead:
        """The next head as it is (a proxy's answer to CONNECT: no interim answers there)."""
        return await self._read_one_head()

    async def _read_one_head(self) -> ResponseHead:
        scanned = 0
        while True:
            end = find_head_end(self._buf, scanned)
            if 0 <= end <= MAX_HEAD_BYTES:
                data = self._take(end)
                return parse_head(data.rstrip(b"\r\n"))
            if end > MAX_HEAD_BYTES or len(self._buf) > MAX_HEAD_BYTES:
                # Also when the end is already here: one read can bring a whole oversized
                # head, and the bound must not depend on how the bytes were cut.
                raise ProviderTransportError(
                    f"the model provider's response head is over {MAX_HEAD_BYTES // 1024} KiB"
                )
            scanned = max(len(self._buf) - 3, 0)
            if not await self._fill():
                if not self._answered:
                    raise ProviderClosedEarly("the model provider closed the connection without answering")
                raise ProviderTransportError(
                    "the model provider closed the connection in the middle of its answer"
                )

    async def body(self, framing: Framing, length: int, keep: bool) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive; `reusable` is set when it ended cleanly and
        `keep` allows another request on this connection."""
        if framing == "length":
            async for piece in self._sized(length):
                yield piece
        elif framing == "chunked":
            async for piece in self._chunked():
                yield piece
        elif framing == "close":
            while True:
                if self._buf:
                    yield self._take(READ_SIZE)
                    continue
                if not await self._fill():
                    if self._cut:
                        raise ProviderTransportError(
                            "the model provider's TLS connection ended without close_notify "
                            "before the end of a body only the close delimits: it may be cut"
                        )
                    return  # a close-delimited body is never reused
        self.reusable = keep and not self._buf

    async def _sized(self, length: int) -> AsyncIterator[bytes]:
        remaining = length
        while remaining:
            if not self._buf and not await self._fill():
                raise ProviderTransportError(
                    f"the model provider closed the connection {remaining} bytes before the end of the body"
                )
            piece = self._take(min(remaining, READ_SIZE))
            remaining -= len(piece)
            yield piece

    async def _line(self, limit: int, what: str) -> bytes:
        """The next line, its end included, if it is at most `limit` bytes (wherever the
        reads happened to cut it)."""
        scanned = 0
        while True:
            nl = self._buf.find(b"\n", scanned, limit + 1)
            if nl >= 0:
                return self._take(nl + 1)
            if len(self._buf) > limit:
                raise ProviderTransportError(f"the model provider sent a {what} over {limit} bytes")
            scanned = len(self._buf)
            if not await self._fill():
                raise ProviderTransportError(f"the model provider closed the connection inside a {what}")

    async def _chunk_end(self) -> None:
        """The line end after a chunk's data: exactly CRLF (or a bare LF), nothing else."""
        while len(self._buf) < 2 and self._buf[:1] != b"\n":
            if not await self._fill():
                raise ProviderTransportError("the model provider closed the connection inside a chunk end")
        if self._buf[:1] == b"\n":
            del self._buf[:1]
        elif self._buf[:2] == b"\r\n":
            del self._buf[:2]
        else:
            raise ProviderTransportError("the model provider's chunk is longer than its size")

    async def _chunked(self) -> AsyncIterator[bytes]:
        while True:
            size = parse_chunk_size(await self._line(MAX_CHUNK_LINE, "chunk-size line"))
            if size == 0:
                break
            async for piece in self._sized(size):
                yield piece
            await self._chunk_end()
        trailer_bytes = 0
        while True:
            line = await self._line(MAX_TRAILER_BYTES, "trailer")
            trailer_bytes += len(line)
            if trailer_bytes > MAX_TRAILER_BYTES:
                raise ProviderTransportError(
                    f"the model provider's trailers are over {MAX_TRAILER_BYTES} bytes"
                )
            if not line.rstrip(b"\r\n"):
                return

    # --- the pool's view ----------------------------------------------------------------------

    def looks_usable(self) -> bool:
        """An idle connection with nothing to read: the peer has not closed it (a readable
        socket would mean EOF or bytes nobody asked for; either way it is done)."""
        if self.closed or not self.reusable or self._buf:
            return False
        try:
            sock = self._stream.extra(SocketAttribute.raw_socket)
            if hasattr(select, "poll"):  # select() cannot watch a descriptor above 1023
                poller = select.poll()
                poller.register(sock, select.POLLIN)
                readable = bool(poller.poll(0))
            else:
                readable = bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError, anyio.TypedAttributeLookupError):
            return False
        if readable:
            return False
        # Every TLS layer (the provider's, and a TLS proxy's under it) may hold decrypted
        # bytes the socket no longer shows.
        layer: anyio.abc.ByteStream | None = self._stream
        while isinstance(layer, TLSStream):
            if layer.extra(TLSAttribute.ssl_object).pending():
                return False
            inner = layer.transport_stream
            layer = inner if isinstance(inner, anyio.abc.ByteStream) else None
        return True

    def mark_idle(self) -> None:
        self.idle_since = time.monotonic()

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            await anyio.aclose_forcefully(self._stream)


def _is_tls_cut(exc: BaseException) -> bool:
    """A TLS stream read that failed because the peer's TCP connection ended without
    close_notify (anyio reports it as a broken stream caused by the EOF error)."""
    cause = exc.__cause__
    return isinstance(exc, anyio.BrokenResourceError) and (
        isinstance(cause, ssl.SSLEOFError)
        or (isinstance(cause, ssl.SSLError) and "UNEXPECTED_EOF" in str(cause))
    )


def describe_exc(exc: BaseException) -> str:
    """An exception as `Type: text`, seeing through anyio's wrapper to the socket's error."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, anyio.BrokenResourceError) and cause is not None:
        exc = cause
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
