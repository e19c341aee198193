"""MCP sessions over HTTP: one `McpServer` per `Mcp-Session-Id`, and the registry of them.

A session is what a stdio connection is: its own negotiated state, pushed sandbox state,
agent (`Codex`) and running calls.  Its `McpServer` runs as a task of the registry's task
group and owns its calls, so ending a session (DELETE, idle timeout, server shutdown)
cancels them the structured way: turns interrupted, their processes killed, pending
elicitations resolved as disconnected.

Messages of one session are handed to its server one at a time, in arrival order (a lock
around `handle`), exactly as the stdio reader does: a `codex/sandbox-state/update` that was
answered is in force for every call that arrives after it.

How many sessions may exist, and who pays when there are too many:

* each client identity (`peers`: its address, and the local user owning its socket) has a
  quota (`max_sessions_per_client`).  Many clients never send DELETE (they just exit), so
  at its quota a client's own longest-idle session (nothing running, no stream open) makes
  room; when all of them are busy, the new one is refused (429);
* the server has a global cap (`max_sessions`).  At the cap, a client may still replace its
  own idle sessions, but never anyone else's: otherwise the new session is refused (503).
  A flood of sessions from one client therefore costs other clients nothing they already
  have; at worst, new sessions wait until the flood's sessions end (idle timeout).
"""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from codex_mcp.connection import ConnectionState
from codex_mcp.http.limits import DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_CLIENT
from codex_mcp.http.routing import RoutingSink
from codex_mcp.jsonrpc import Incoming, RequestId
from codex_mcp.outgoing import Outgoing
from codex_mcp.server import McpServer, ServerOptions
from codex_mcp.tools.tasks import TaskStore

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 30 * 60.0
SESSION_END_WAIT = 15.0
"""How long DELETE or shutdown waits for a session's calls to be cancelled and reaped."""


RETRY_AFTER_IDLE = 60
MAX_TASK_CLIENTS = 256
"""Clients whose tasks (and their results) are remembered after their sessions ended."""


class SessionRefused(Exception):
    """No session for this client now: an HTTP status, a message, and when to retry."""

    def __init__(self, status: int, message: str, retry_after: int = RETRY_AFTER_IDLE) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class HttpSession:
    def __init__(
        self,
        session_id: str,
        options: ServerOptions,
        idle_timeout: float,
        client: str = "?",
        tasks: TaskStore | None = None,
    ) -> None:
        """`tasks` is the client's task store, shared with its other sessions."""
        self.id = session_id
        self.client = client
        """The identity whose quota this session counts against."""
        self.sink = RoutingSink()
        self.outgoing = Outgoing(self.sink)
        self.sink.outgoing = self.outgoing
        self.server = McpServer(
            options, self.outgoing, ConnectionState(version=options.version), tasks, session_id
        )
        self.server.on_unanswered = self._unanswered
        self.server.tasks.on_wait = self.sink.watch_task
        self.server.tasks.on_end = self.sink.forget_task
        self.idle_timeout = idle_timeout
        self.last_activity = anyio.current_time()
        self.done = anyio.Event()
        self._lock = anyio.Lock()
        self._end = anyio.Event()
        self._end_reason = "the session ended"
        self._stop_tasks = False

    @property
    def state(self) -> ConnectionState:
        return self.server.state

    @property
    def ended(self) -> bool:
        return self._end.is_set() or self.done.is_set()

    @property
    def busy(self) -> bool:
        return self.sink.busy or self.server.running_calls > 0

    def touch(self) -> None:
        self.last_activity = anyio.current_time()

    async def handle(self, message: Incoming) -> None:
        """Hand one message to the server, in arrival order."""
        self.touch()
        async with self._lock:
            await self.server.handle(message)

    def close(self, reason: str, *, stop_tasks: bool = False) -> None:
        """End the session: its calls are cancelled, and its tasks too with `stop_tasks`
        (else they run on to their end; see `run`)."""
        if self._end.is_set():
            if stop_tasks and not self._stop_tasks:  # ended earlier; its tasks ran on until now
                self._stop_tasks = True
                self.server.stop(reason)
            return
        self._stop_tasks = stop_tasks
        self._end_reason = reason
        self._end.set()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The session's lifetime; reports `started` once messages can be handled."""
        try:
            await self.server.run(lambda: self._until_end(task_status), self._end_reason)
        finally:
            self.sink.close_all()
            self.done.set()

    async def _until_end(self, task_status: TaskStatus[None]) -> None:
        task_status.started()
        while not self._end.is_set():
            remaining = self.last_activity + self.idle_timeout - anyio.current_time()
            if remaining <= 0:
                if self.busy:  # a call is running or a stream is open: not idle
                    self.touch()
                    continue
                log.info("session %s: idle for %.0f s, ending it", self.id, self.idle_timeout)
                self.close(f"the session was idle for {self.idle_timeout:g} s")
                break
            with anyio.move_on_after(remaining):
                await self._end.wait()
        log.info("session %s ends: %s", self.id, self._end_reason)
        # Its running tasks go on (their results stay fetchable from the client's other
        # sessions); only the server's own shutdown cancels them (`SessionManager.close_all`).
        self.server.stop(self._end_reason, keep_tasks=not self._stop_tasks)
        self.sink.close_all()

    async def _unanswered(self, request_id: RequestId) -> None:
        # Through the writer's queue, so the request's stream ends after its last event.
        await self.outgoing.end_request(request_id)


class SessionManager:
    """Creates, finds and ends sessions; its task group owns every session's server."""

    def __init__(
        self,
        options: ServerOptions,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        max_per_client: int = DEFAULT_MAX_SESSIONS_PER_CLIENT,
    ) -> None:
        self._options = options
        self._idle_timeout = idle_timeout
        self._max_sessions = max_sessions
        self._max_per_client = max_per_client
        self._sessions: dict[str, HttpSession] = {}
        self._group: TaskGroup | None = None
        self._task_stores: OrderedDict[str, TaskStore] = OrderedDict()

    async def __aenter__(self) -> SessionManager:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._group is not None
        if exc is None:
            await self.close_all("the server is shutting down")
        self._group.cancel_scope.cancel()
        return await self._group.__aexit__(exc_type, exc, tb)

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> HttpSession | None:
        session = self._sessions.get(session_id)
        return None if session is None or session.ended else session

    async def create(self, client: str = "?") -> HttpSession:
        """A new running session for `client`; raises `SessionRefused` (see the module
        docstring for who makes room and when)."""
        assert self._group is not None
        live = [s for s in self._sessions.values() if not s.ended]
        own = [s for s in live if s.client == client]
        if len(own) >= self._max_per_client:
            if not self._replace_idle(own, "this client has too many sessions"):
                raise SessionRefused(
                    429,
                    f"Too Many Requests: this client already has {len(own)} sessions, all in use "
                    "(end one with DELETE)",
                )
        elif len(live) >= self._max_sessions and not self._replace_idle(
            own, "the server has too many sessions"
        ):
            raise SessionRefused(
                503, f"Service Unavailable: the server has too many sessions ({self._max_sessions})"
            )
        session = HttpSession(
            secrets.token_hex(16), self._options, self._idle_timeout, client, self._tasks_of(client)
        )
        self._sessions[session.id] = session
        await self._group.start(self._run, session)
        log.info("session %s started for %s", session.id, client)
        return session

    def _tasks_of(self, client: str) -> TaskStore:
        """The client's task store: its tasks outlive any one of its sessions (until their
        ttl).  Stores of clients that are gone are forgotten beyond `MAX_TASK_CLIENTS`."""
        store = self._task_stores.get(client)
        if store is None:
            store = self._task_stores[client] = TaskStore()
        self._task_stores.move_to_end(client)
        live = {s.client for s in self._sessions.values() if not s.ended}
        excess = len(self._task_stores) - MAX_TASK_CLIENTS
        for other in list(self._task_stores):
            if excess <= 0:
                break
            if other != client and other not in live and self._task_stores[other].active == 0:
                del self._task_stores[other]
                excess -= 1
        return store

    def _replace_idle(self, own: list[HttpSession], why: str) -> bool:
        """End the client's own longest-idle session; False when all of them are busy."""
        idle = [s for s in own if not s.busy]
        if not idle:
            return False
        oldest = min(idle, key=lambda s: s.last_activity)
        log.info("%s: ending its longest idle session %s", why, oldest.id)
        oldest.close(f"{why}; this one was its longest idle")
        return True

    async def _run(self, session: HttpSession, *, task_status: TaskStatus[Any]) -> None:
        try:
            await session.run(task_status=task_status)
        except Exception:  # one broken session must not take the others down
            log.exception("session %s failed", session.id)
        finally:
            self._sessions.pop(session.id, None)

    async def end(self, session: HttpSession, reason: str) -> bool:
        """End one session and wait (bounded) until it is gone, its processes reaped; with
        tasks running (they run on), until its calls are."""
        session.close(reason)
        gone = session.server.calls_done if session.server.tasks.running else session.done
        with anyio.move_on_after(SESSION_END_WAIT):
            await gone.wait()
        return gone.is_set()

    async def close_all(self, reason: str) -> None:
        sessions = list(self._sessions.values())
        for session in sessions:
            session.close(reason, stop_tasks=True)
        with anyio.move_on_after(SESSION_END_WAIT):
            for session in sessions:
                await session.done.wait()
