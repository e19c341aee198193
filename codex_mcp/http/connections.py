"""Accepting connections without ever dying of it, and keeping their number bounded.

`accept_loop` never ends the server on an error from `accept()`.  Running out of file
descriptors (EMFILE/ENFILE) or kernel memory is the expected outcome of a connection flood:
it is logged (rate-limited), an idle connection is closed to free a descriptor, and the
loop backs off until one is released.  Per-connection errors (the peer reset before we
accepted) are skipped.

`ConnectionTable` tracks every open connection and what it is doing.  A connection that is
waiting for a request head (new or kept alive between requests) or lingering after a
refusal holds nothing of value: under pressure it is the one closed.  A connection serving
a request (a POST being answered, an SSE stream) is never closed to make room.  So when the
table is full (globally, or for one peer address):

* the oldest idle connection of the peer holding the most connections makes room (the
  flooder pays for its flood);
* if every connection is busy, the newcomer gets `503 Service Unavailable` with
  `Retry-After` and is closed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

import anyio
from anyio.abc import SocketAttribute, SocketListener, SocketStream, TaskGroup

from codex_mcp import jsonrpc
from codex_mcp.http.limits import RETRY_AFTER_SECONDS, RateLimitedLog
from codex_mcp.http.peers import Endpoints, endpoints_of, peer_key

log = logging.getLogger(__name__)

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
PEER_ERRNOS = frozenset(
    {errno.ECONNABORTED, errno.ECONNRESET, errno.EPROTO, errno.EPERM, errno.ENOTCONN, errno.EINTR}
)
BACKOFF_MIN = 0.01
BACKOFF_MAX = 1.0
MAX_REFUSING = 32
"""Connections being refused at once (each holds a descriptor for up to `REFUSE_LINGER`)."""
REFUSE_LINGER = 1.0
REFUSE_DRAIN = 64 * 1024
TCP_TUNING = (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3), ("TCP_USER_TIMEOUT", 90_000))
"""A silent peer is dropped after about 90 s: 60 s quiet, then 3 probes 10 s apart; data we
sent that stays unacknowledged for 90 s ends the connection too."""

_log_limited = RateLimitedLog(log, logging.WARNING)


class State(Enum):
    NEW = "new"
    """Accepted; the first request head has not arrived yet."""
    IDLE = "idle"
    """Between two requests of a kept-alive connection."""
    BUSY = "busy"
    """Serving a request: never closed to make room."""
    CLOSING = "closing"
    """Refused; reading what the client still sends so it sees our answer."""


EVICTABLE = frozenset({State.NEW, State.IDLE, State.CLOSING})


@dataclass(eq=False)
class Tracked:
    """One open connection, as the table sees it."""

    peer: str
    ends: Endpoints | None
    since: float
    state: State = State.NEW
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    evicted: bool = False

    def set_state(self, state: State) -> None:
        if state is not self.state:
            self.state = state
            self.since = anyio.current_time()


class ConnectionTable:
    def __init__(self, max_connections: int, per_peer: int) -> None:
        self.max_connections = max_connections
        self.per_peer = per_peer
        self._open: set[Tracked] = set()
        self._per_peer: dict[str, int] = {}
        self._released = anyio.Event()
        self._refusing = 0
        self.refused = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._open)

    def count(self, peer: str) -> int:
        return self._per_peer.get(peer, 0)

    def admit(self, peer: str, ends: Endpoints | None) -> Tracked | None:
        """A slot for a new connection from `peer`, making room if needed; None when full."""
        if self.count(peer) >= self.per_peer and not self._evict(peer):
            return None
        if len(self._open) >= self.max_connections and not self._evict(None):
            return None
        entry = Tracked(peer, ends, anyio.current_time())
        self._open.add(entry)
        self._per_peer[peer] = self.count(peer) + 1
        return entry

    def release(self, entry: Tracked) -> None:
        """The connection is closed (its descriptor is free)."""
        if entry in self._open:
            self._open.discard(entry)
            left = self.count(entry.peer) - 1
            if left > 0:
                self._per_peer[entry.peer] = left
            else:
                self._per_peer.pop(entry.peer, None)
        self._released.set()
        self._released = anyio.Event()

    def evict_one(self) -> bool:
        """Close one idle connection to free a descriptor (the accept loop ran out)."""
        return self._evict(None)

    def _evict(self, peer: str | None) -> bool:
        """Close the oldest evictable connection of `peer`, or, for None, of the peer that
        holds the most connections; False when every candidate is busy."""
        candidates = [
            e
            for e in self._open
            if e.state in EVICTABLE and not e.evicted and (peer is None or e.peer == peer)
        ]
        if not candidates:
            return False
        victim = min(candidates, key=lambda e: (-self.count(e.peer), e.since))
        victim.evicted = True
        victim.scope.cancel()
        # It no longer counts: its task closes the socket as soon as it runs.
        self.release(victim)
        self.evicted += 1
        _log_limited(
            "evict", "connection limit: closing an idle connection from %s to make room", victim.peer
        )
        return True

    async def wait_released(self) -> None:
        """Until some connection closes (bound it with a cancel scope)."""
        await self._released.wait()

    # -- refusing ------------------------------------------------------------------------

    def may_refuse(self) -> bool:
        return self._refusing < MAX_REFUSING

    async def refuse(self, stream: SocketStream) -> None:
        """`503` + `Retry-After`, then close, without reading the request."""
        self._refusing += 1
        self.refused += 1
        try:
            with anyio.move_on_after(REFUSE_LINGER):
                await stream.send(_UNAVAILABLE)
                await stream.send_eof()
                drained = 0
                while drained < REFUSE_DRAIN:
                    drained += len(await stream.receive())
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            self._refusing -= 1
            await _close(stream)


def _unavailable_response() -> bytes:
    body = jsonrpc.encode(
        jsonrpc.error_response(None, jsonrpc.INTERNAL_ERROR, "Service Unavailable: too many connections")
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "server: codex-mcp-server\r\n"
        f"retry-after: {RETRY_AFTER_SECONDS}\r\n"
        "connection: close\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


_UNAVAILABLE = _unavailable_response()


async def _close(stream: SocketStream) -> None:
    with (
        anyio.move_on_after(1, shield=True),
        contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError),
    ):
        await stream.aclose()


Handler = Callable[[SocketStream, Tracked], Awaitable[None]]


async def accept_loop(
    listener: SocketListener, table: ConnectionTable, handler: Handler, group: TaskGroup
) -> None:
    """Accept until cancelled (or the listener is closed); no accept error ends it."""
    backoff = BACKOFF_MIN
    while True:
        try:
            stream = await listener.accept()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return
        except OSError as exc:
            if exc.errno in PEER_ERRNOS:
                continue  # that one connection is gone; the next may be fine
            if exc.errno in RESOURCE_ERRNOS:
                freed = table.evict_one()
                _log_limited(
                    "accept",
                    "cannot accept connections: %s (%d open; %s)",
                    exc.strerror or exc,
                    len(table),
                    "closing idle ones" if freed else "waiting for some to close",
                )
            else:
                _log_limited("accept", "accepting a connection failed: %s; retrying", exc)
                freed = False
            with anyio.move_on_after(BACKOFF_MIN if freed else backoff):
                await table.wait_released()
            backoff = BACKOFF_MIN if freed else min(backoff * 2, BACKOFF_MAX)
            continue
        backoff = BACKOFF_MIN
        ends = _endpoints(stream)
        peer = peer_key(ends.remote[0]) if ends is not None else "?"
        entry = table.admit(peer, ends)
        if entry is not None:
            _tune(stream)
            group.start_soon(_serve, handler, stream, entry, table)
        elif table.may_refuse():
            _log_limited("refuse", "connection limit reached and every connection is busy: refusing")
            group.start_soon(table.refuse, stream)
        else:
            await _close(stream)


def _endpoints(stream: SocketStream) -> Endpoints | None:
    try:
        return endpoints_of(
            stream.extra(SocketAttribute.remote_address), stream.extra(SocketAttribute.local_address)
        )
    except (OSError, anyio.TypedAttributeLookupError):
        return None


def _tune(stream: SocketStream) -> None:
    """Notice a peer that vanished (no FIN, no RST) instead of holding its slot forever:
    TCP keepalive on a quiet connection, and a bound on unacknowledged data (an SSE stream
    to a dead host)."""
    try:
        sock = stream.extra(SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in TCP_TUNING:
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
    except (OSError, anyio.TypedAttributeLookupError):
        pass


async def _serve(handler: Handler, stream: SocketStream, entry: Tracked, table: ConnectionTable) -> None:
    try:
        with entry.scope:
            await handler(stream, entry)
    finally:
        await _close(stream)
        table.release(entry)
