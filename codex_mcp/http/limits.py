"""What one network peer may cost the HTTP server, in one place: connections, bytes, time.

Every resource a peer can make the server hold is bounded here, so that a flood from the
network degrades into refusals (503, 429, a closed idle connection) instead of an exit or
unbounded memory:

* connections: a global cap and a per-address cap (`ConnectionTable` enforces them);
* request heads: bytes, header fields, and the time to send them (slowloris);
* request bodies: a per-request limit, checked against `Content-Length` before anything is
  read and while chunks stream, plus a budget shared by all bodies being received at once;
* keep-alive: how long an idle connection is kept;
* sessions: a global cap and a per-client quota (`SessionManager` enforces them).

The default connection cap follows the process's file-descriptor limit, leaving half of the
descriptors to sessions (model connections, command pipes, rollout files).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

DEFAULT_MAX_CONNECTIONS = 512
MIN_CONNECTIONS = 8
DEFAULT_MAX_BODY = 16 * 1024 * 1024
BODY_BUDGET_FACTOR = 4
"""All bodies being received at once may hold this many times the per-request limit."""
MAX_HEAD_BYTES = 32 * 1024
MAX_HEADER_FIELDS = 100
HEAD_TIMEOUT = 10.0
"""A request head must arrive whole within this long of its first byte (of the accept, for
the first request of a connection)."""
KEEPALIVE_TIMEOUT = 75.0
BODY_TIMEOUT = 60.0
WRITE_TIMEOUT = 60.0
DEFAULT_MAX_SESSIONS = 64
DEFAULT_MAX_SESSIONS_PER_CLIENT = 16
RETRY_AFTER_SECONDS = 1


def fd_limit() -> int | None:
    """The soft limit on open file descriptors, or None when unknown or unlimited."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def default_max_connections(nofile: int | None) -> int:
    """`DEFAULT_MAX_CONNECTIONS`, but never more than half the descriptors the process has."""
    if nofile is None:
        return DEFAULT_MAX_CONNECTIONS
    return max(MIN_CONNECTIONS, min(DEFAULT_MAX_CONNECTIONS, nofile // 2))


@dataclass
class HttpLimits:
    """The bounds of the HTTP transport: connections, body size, sessions."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connections_per_peer: int | None = None
    """None: half of `max_connections`, so one address can never take every slot."""
    max_body: int = DEFAULT_MAX_BODY
    max_sessions: int = DEFAULT_MAX_SESSIONS
    max_sessions_per_client: int = DEFAULT_MAX_SESSIONS_PER_CLIENT

    @property
    def per_peer(self) -> int:
        if self.max_connections_per_peer is not None:
            return self.max_connections_per_peer
        return max(1, self.max_connections // 2)

    @property
    def body_budget(self) -> int:
        return self.max_body * BODY_BUDGET_FACTOR


class BodyBudget:
    """Bytes of request bodies being buffered right now, across every connection."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0

    def reserve(self, size: int) -> bool:
        if self.used + size > self.total:
            return False
        self.used += size
        return True

    def release(self, size: int) -> None:
        self.used = max(0, self.used - size)


class RateLimitedLog:
    """One log line per `interval` for a recurring condition, with a count of the ones held
    back: a flood must not turn into a flood of log lines (the log file is on disk)."""

    def __init__(self, logger: logging.Logger, level: int, interval: float = 10.0) -> None:
        self._logger = logger
        self._level = level
        self._interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def __call__(self, key: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._held[key] = self._held.get(key, 0) + 1
            return
        self._last[key] = now
        held = self._held.pop(key, 0)
        suffix = f" ({held} more like this in the last {now - last:.0f} s)" if held and last else ""
        self._logger.log(self._level, message + suffix, *args)
