"""HTTP/1.1 server connections on an anyio byte stream, with `h11` doing the parsing.

`h11` is a pure protocol state machine (no I/O, no threads), which is all an MCP endpoint
needs: one route, small JSON bodies, long-lived SSE responses.  A full ASGI stack
(starlette + uvicorn) would add a dozen runtime dependencies for that.

Everything a peer controls is bounded: the request head (`MAX_HEAD_BYTES`, else 431), the
body (`max_body`, else 413), the time to send a request (`REQUEST_TIMEOUT`, else 408), an
idle keep-alive connection (`IDLE_TIMEOUT`, then closed) and every write
(`WRITE_TIMEOUT`: a client that stops reading its stream loses the connection).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from http import HTTPStatus

import anyio
import h11
from anyio.abc import ByteStream

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
DEFAULT_MAX_BODY = 16 * 1024 * 1024
IDLE_TIMEOUT = 120.0
REQUEST_TIMEOUT = 60.0
WRITE_TIMEOUT = 60.0
READ_CHUNK = 64 * 1024
MAX_PIPELINED = 1024 * 1024
LINGER_TIMEOUT = 5.0
LINGER_BYTES = 64 * 1024 * 1024
SERVER_HEADER = ("server", "codex-mcp-server")

_IO_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


class HttpError(Exception):
    """A request we answer with an error status and then close the connection for."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PeerGone(Exception):
    """The client closed the connection, or stopped reading for longer than WRITE_TIMEOUT."""


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]
    """Lower-case names; repeated headers joined with ", "."""
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class HttpConnection:
    """One client connection: `next_request()`, then a response (whole or streamed), repeat."""

    def __init__(self, stream: ByteStream, max_body: int = DEFAULT_MAX_BODY) -> None:
        self._stream = stream
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._max_body = max_body
        self._closed = False

    # -- reading -------------------------------------------------------------------------

    async def _event(self, deadline: float) -> h11.Event | type[h11.PAUSED]:
        conn = self._conn
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    data = await self._stream.receive(READ_CHUNK)
            except _IO_ERRORS:
                data = b""
            conn.receive_data(data)

    async def next_request(self) -> HttpRequest | None:
        """The next complete request; None when the peer closed or idled out between requests.

        Raises `HttpError` for a request we must refuse (malformed, too large, too slow).
        """
        if self._closed:
            return None
        conn = self._conn
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        elif conn.our_state is not h11.IDLE:
            return None
        idle = not conn.trailing_data[0]
        try:
            event = await self._event(anyio.current_time() + (IDLE_TIMEOUT if idle else REQUEST_TIMEOUT))
        except TimeoutError:
            if idle:
                return None
            raise HttpError(408, "Request Timeout") from None
        except h11.RemoteProtocolError as exc:
            raise HttpError(exc.error_status_hint, str(exc) or "Bad Request") from None
        if not isinstance(event, h11.Request):
            return None  # ConnectionClosed (or an impossible PAUSED): nothing more to serve
        headers: dict[str, str] = {}
        for raw_name, raw_value in event.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        request = HttpRequest(event.method.decode("ascii"), event.target.decode("latin-1"), headers, b"")
        request.body = await self._read_body(headers)
        return request

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max_body:
            raise HttpError(413, f"Payload Too Large: the limit is {self._max_body} bytes")
        if self._conn.they_are_waiting_for_100_continue:
            await self._send(self._conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        deadline = anyio.current_time() + REQUEST_TIMEOUT
        try:
            while True:
                event = await self._event(deadline)
                if isinstance(event, h11.Data):
                    body += event.data
                    if len(body) > self._max_body:
                        raise HttpError(413, f"Payload Too Large: the limit is {self._max_body} bytes")
                elif isinstance(event, h11.EndOfMessage):
                    return bytes(body)
                else:
                    raise HttpError(400, "Bad Request: incomplete body")
        except TimeoutError:
            raise HttpError(408, "Request Timeout: the body did not arrive in time") from None
        except h11.RemoteProtocolError as exc:
            raise HttpError(exc.error_status_hint, str(exc) or "Bad Request") from None

    async def wait_peer_closed(self) -> None:
        """Return when the client closes the connection (used while a response streams).

        Whatever the client sends meanwhile (a pipelined request) stays buffered in h11 for
        the next cycle; a client that floods us instead counts as gone.
        """
        while True:
            try:
                data = await self._stream.receive(READ_CHUNK)
            except _IO_ERRORS:
                return
            try:
                self._conn.receive_data(data)
            except RuntimeError:
                return
            if len(self._conn.trailing_data[0]) > MAX_PIPELINED:
                return

    # -- writing -------------------------------------------------------------------------

    @property
    def can_respond(self) -> bool:
        return not self._closed and self._conn.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    async def _send(self, data: bytes | None) -> None:
        if not data:
            return
        try:
            with anyio.fail_after(WRITE_TIMEOUT):
                await self._stream.send(data)
        except (TimeoutError, *_IO_ERRORS) as exc:
            self._closed = True
            raise PeerGone(str(exc) or type(exc).__name__) from exc

    def _head(self, status: int, headers: list[tuple[str, str]], length: int | None) -> h11.Response:
        all_headers = [SERVER_HEADER, *headers]
        if length is not None:
            all_headers.append(("content-length", str(length)))
        if self._closed or self._conn.their_state is not h11.DONE:
            # We answer before reading the whole request (413, 431...): the rest of the
            # connection is unusable, so say so.
            all_headers.append(("connection", "close"))
        return h11.Response(status_code=status, headers=all_headers, reason=_reason(status))

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        """A complete response with a Content-Length body."""
        conn = self._conn
        await self._send(conn.send(self._head(status, headers, len(body))))
        if body:
            await self._send(conn.send(h11.Data(data=body)))
        await self._send(conn.send(h11.EndOfMessage()))

    async def start_stream(self, status: int, headers: list[tuple[str, str]]) -> None:
        """A response head without a length: the body goes out chunked (HTTP/1.1)."""
        await self._send(self._conn.send(self._head(status, headers, None)))

    async def send_chunk(self, data: bytes) -> None:
        await self._send(self._conn.send(h11.Data(data=data)))

    async def end_stream(self) -> None:
        await self._send(self._conn.send(h11.EndOfMessage()))

    @property
    def reusable(self) -> bool:
        """Another request may follow on this connection."""
        conn = self._conn
        return not self._closed and conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def linger(self) -> None:
        """After refusing a request whose body we did not read (413, 408...): keep reading
        and discarding for a bounded time, so the client finishes sending and sees our
        answer instead of a connection reset."""
        if self._closed:
            return
        budget = self._max_body + LINGER_BYTES
        with anyio.move_on_after(LINGER_TIMEOUT):
            while budget > 0:
                try:
                    budget -= len(await self._stream.receive(READ_CHUNK))
                except _IO_ERRORS:
                    return

    def mark_broken(self) -> None:
        """A response was cut off half-way: never reuse this connection."""
        self._closed = True

    async def aclose(self) -> None:
        self._closed = True
        with anyio.move_on_after(1, shield=True):
            with contextlib.suppress(*_IO_ERRORS):
                await self._stream.aclose()
