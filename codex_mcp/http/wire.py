"""HTTP/1.1 server connections on an anyio byte stream, with `h11` doing the parsing.

`h11` is a pure protocol state machine (no I/O, no threads), which is all an MCP endpoint
needs: one route, small JSON bodies, long-lived SSE responses.  A full ASGI stack
(starlette + uvicorn) would add a dozen runtime dependencies for that.

A request is read in two steps, so that nothing a stranger sends is buffered before the
endpoint has checked who is asking: `next_request()` returns the head only, and the body is
read by `read_body()` once the access checks passed.  A refused request's body is never
read into memory: the connection is answered, marked for closing, and drained.

Everything a peer controls is bounded (`limits`): the request head (bytes and fields, else
431) and the time to send it (`HEAD_TIMEOUT`, else 408), the body (`max_body`, checked
against `Content-Length` first, else 413; plus a budget shared by every body being received,
else 503) and the time to send it (`BODY_TIMEOUT`), an idle keep-alive connection
(`KEEPALIVE_TIMEOUT`, then closed) and every write (`WRITE_TIMEOUT`: a client that stops
reading its stream loses the connection).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from http import HTTPStatus

import anyio
import h11
from anyio.abc import ByteStream

from codex_mcp.http.limits import (
    BODY_TIMEOUT,
    DEFAULT_MAX_BODY,
    HEAD_TIMEOUT,
    KEEPALIVE_TIMEOUT,
    MAX_HEAD_BYTES,
    MAX_HEADER_FIELDS,
    RETRY_AFTER_SECONDS,
    WRITE_TIMEOUT,
    BodyBudget,
)

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
MAX_PIPELINED = 1024 * 1024
LINGER_TIMEOUT = 5.0
LINGER_EXTRA = 1024 * 1024
SERVER_HEADER = ("server", "codex-mcp-server")

_IO_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


class HttpError(Exception):
    """A request we answer with an error status and then close the connection for."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class PeerGone(Exception):
    """The client closed the connection, or stopped reading for longer than WRITE_TIMEOUT."""


@dataclass
class HttpRequest:
    """One HTTP request as read from a connection (the body only once read)."""

    method: str
    target: str
    headers: dict[str, str]
    """Lower-case names; repeated headers joined with ", "."""
    body: bytes = b""
    """Empty until `HttpConnection.read_body()`."""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class HttpConnection:
    """One client connection: `next_request()` (the head), `read_body()`, a response, repeat."""

    def __init__(
        self, stream: ByteStream, max_body: int = DEFAULT_MAX_BODY, budget: BodyBudget | None = None
    ) -> None:
        self._stream = stream
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._max_body = max_body
        self._budget = budget if budget is not None else BodyBudget(max_body)
        self._reserved = 0
        self._closed = False
        self._requests = 0
        self._declared: int | None = None
        self._expects_body = False

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

    async def _head_event(self) -> h11.Event | type[h11.PAUSED] | None:
        """The next head event; None when the peer sent nothing before the idle timeout.

        The first request of a connection must arrive whole within `HEAD_TIMEOUT` of the
        accept; a later one may wait `KEEPALIVE_TIMEOUT` for its first byte, then has
        `HEAD_TIMEOUT` for the rest.
        """
        conn = self._conn
        now = anyio.current_time()
        started = bool(conn.trailing_data[0])
        deadline = now + (HEAD_TIMEOUT if started or self._requests == 0 else KEEPALIVE_TIMEOUT)
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    data = await self._stream.receive(READ_CHUNK)
            except TimeoutError:
                if not started:
                    return None
                raise HttpError(408, "Request Timeout: the request head did not arrive in time") from None
            except _IO_ERRORS:
                data = b""
            if data and not started:
                started = True
                deadline = min(deadline, anyio.current_time() + HEAD_TIMEOUT)
            conn.receive_data(data)

    async def next_request(self) -> HttpRequest | None:
        """The head of the next request; None when the peer closed or idled out between
        requests.  Its body is read separately (`read_body`), after the access checks.

        Raises `HttpError` for a request we must refuse (malformed, too large, too slow).
        """
        self.release_body()
        if self._closed:
            return None
        conn = self._conn
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        elif conn.our_state is not h11.IDLE:
            return None
        try:
            event = await self._head_event()
        except h11.RemoteProtocolError as exc:
            raise HttpError(exc.error_status_hint, str(exc) or "Bad Request") from None
        if not isinstance(event, h11.Request):
            return None  # ConnectionClosed, idle timeout (or an impossible PAUSED)
        self._requests += 1
        if len(event.headers) > MAX_HEADER_FIELDS:
            raise HttpError(431, f"Request Header Fields Too Large: at most {MAX_HEADER_FIELDS} fields")
        # h11 bounds an *incomplete* head; one that arrived whole in a single read is measured here.
        size = len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers)
        if size > MAX_HEAD_BYTES:
            raise HttpError(431, f"Request Header Fields Too Large: at most {MAX_HEAD_BYTES} bytes")
        headers: dict[str, str] = {}
        for raw_name, raw_value in event.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        length = headers.get("content-length")
        self._declared = int(length) if length is not None and length.strip().isdigit() else None
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._expects_body = chunked or bool(self._declared)
        return HttpRequest(event.method.decode("ascii"), event.target.decode("latin-1"), headers)

    @property
    def body_pending(self) -> bool:
        """The current request's body has not been read (the connection cannot be reused)."""
        return self._conn.their_state is h11.SEND_BODY

    async def read_body(self, limit: int | None = None) -> bytes:
        """The current request's body, at most `limit` (default: the connection's max_body)
        bytes.  A declared length over the limit is refused before any byte is read; a
        chunked body is cut off as soon as it passes the limit.  The bytes count against the
        shared body budget (as they arrive) until the next request (or `release_body`)."""
        limit = self._max_body if limit is None else limit
        declared = self._declared
        if declared is not None and declared > limit:
            raise HttpError(413, f"Payload Too Large: the limit is {limit} bytes")
        if self._conn.they_are_waiting_for_100_continue:
            await self._send(self._conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = bytearray()
        deadline = anyio.current_time() + BODY_TIMEOUT
        try:
            while True:
                event = await self._event(deadline)
                if isinstance(event, h11.Data):
                    if len(body) + len(event.data) > limit:
                        raise HttpError(413, f"Payload Too Large: the limit is {limit} bytes")
                    # Reserved as bytes arrive, so a declared length that never comes holds nothing.
                    if not self._reserve(len(event.data)):
                        raise _busy()
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    return bytes(body)
                else:
                    raise HttpError(400, "Bad Request: incomplete body")
        except TimeoutError:
            raise HttpError(408, "Request Timeout: the body did not arrive in time") from None
        except h11.RemoteProtocolError as exc:
            raise HttpError(exc.error_status_hint, str(exc) or "Bad Request") from None

    def _reserve(self, size: int) -> bool:
        if not self._budget.reserve(size):
            return False
        self._reserved += size
        return True

    def release_body(self) -> None:
        """The body is parsed and dropped: its bytes no longer count against the budget."""
        if self._reserved:
            self._budget.release(self._reserved)
            self._reserved = 0

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
        """After answering a request whose body we did not read (a refusal, 413, 408...):
        tell the client we are done, then keep reading and discarding for a bounded time
        and amount, so it finishes sending and sees our answer instead of a connection
        reset.  Nothing read here is kept."""
        self.release_body()
        if self._closed or not (self.body_pending and self._expects_body):
            return
        with contextlib.suppress(*_IO_ERRORS):
            await self._stream.send_eof()
        budget = min(self._declared or self._max_body, self._max_body + LINGER_EXTRA) + LINGER_EXTRA
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
        self.release_body()
        self._closed = True
        with anyio.move_on_after(1, shield=True):
            with contextlib.suppress(*_IO_ERRORS):
                await self._stream.aclose()


def _busy() -> HttpError:
    return HttpError(
        503,
        "Service Unavailable: too many request bodies are being received; retry shortly",
        (("retry-after", str(RETRY_AFTER_SECONDS)),),
    )
