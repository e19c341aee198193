"""MCP tasks (revision 2025-11-25): a `codex` / `codex-reply` call that answers at once with a
task, runs in the background, and is polled (`tasks/get`, `tasks/list`), fetched
(`tasks/result`, which waits for the end) or cancelled (`tasks/cancel`).

This module is the record keeping: what a task is on the wire, which transitions it may make,
and one client's store of them, with its limits.  Running a task is the server's (it owns
the call's task and cancel scope, `server.py`).

Who may see a task.  A task belongs to the client that created it: its store is shared by
every session of that client (over HTTP: the same address and local user, `http.peers`), so
a task survives the connection, or the session, that created it, and can be fetched again
from a new one.  Its id is 192 random bits and works as a capability: `tasks/get`,
`tasks/result` and `tasks/cancel` accept it from any session of the client.  `tasks/list`
shows a session only the tasks it created or has opened by id: several people behind one
reverse proxy share an address, and must not learn each other's task ids by listing.

Limits (the spec asks receivers to bound and document them): `MAX_ACTIVE_TASKS` working per
client (more are refused with a JSON-RPC error), `MAX_KEPT_TASKS` remembered per client (the
oldest finished ones are forgotten first), and each task's results are kept for its `ttl`:
what the client asked for, within `MIN_TTL_MS`..`MAX_TTL_MS`, `DEFAULT_TTL_MS` if it did not.
"""

from __future__ import annotations

import base64
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import anyio

RELATED_TASK = "io.modelcontextprotocol/related-task"
STATUS_NOTIFICATION = "notifications/tasks/status"
TASK_METHODS = frozenset({"tasks/get", "tasks/list", "tasks/result", "tasks/cancel"})

DEFAULT_TTL_MS = 60 * 60 * 1000
MIN_TTL_MS = 10 * 1000
MAX_TTL_MS = 24 * 60 * 60 * 1000
POLL_INTERVAL_MS = 1000
MAX_ACTIVE_TASKS = 16
MAX_KEPT_TASKS = 256
PAGE_SIZE = 50
STATUS_MESSAGE_MAX = 200
"""A finished task's `statusMessage` is the start of its answer (or of its error)."""

INVALID_REQUEST = -32600
INVALID_PARAMS = -32602

Status = Literal["working", "input_required", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


def capability() -> dict[str, Any]:
    """The server's `tasks` capability: list, cancel, and task-augmented `tools/call`."""
    return {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}


def related(task_id: str) -> dict[str, Any]:
    """The `_meta` entry that ties a message to its task."""
    return {RELATED_TASK: {"taskId": task_id}}


def clamp_ttl(requested: object) -> int:
    if isinstance(requested, int) and not isinstance(requested, bool):
        return max(MIN_TTL_MS, min(MAX_TTL_MS, requested))
    return DEFAULT_TTL_MS


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TaskError(Exception):
    """A request about a task that cannot be served: a JSON-RPC error code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(eq=False)
class Task:
    """One MCP task: a task-augmented call, its status and its result once it ended."""

    task_id: str
    ttl_ms: int
    runner: str = ""
    """The session whose server runs the call (ending that session cancels the task)."""
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    status: Status = "working"
    status_message: str | None = "Codex is working"
    result: dict[str, Any] | None = None
    """The `CallToolResult`, once the task has ended (a cancelled one gets one too)."""
    sessions: set[str] = field(default_factory=set)
    """The sessions that list this task (the creator, and any that opened it by id)."""
    scope: anyio.CancelScope | None = None
    done: anyio.Event = field(default_factory=anyio.Event)

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def expired(self, now: float) -> bool:
        return self.terminal and now > self.created_at + self.ttl_ms / 1000

    def to_wire(self) -> dict[str, Any]:
        """The `Task` object (`tasks/get`, `tasks/list`, `tasks/cancel`, status notifications)."""
        task: dict[str, Any] = {
            "taskId": self.task_id,
            "status": self.status,
            "createdAt": _iso(self.created_at),
            "lastUpdatedAt": _iso(self.updated_at),
            "ttl": self.ttl_ms,
            "pollInterval": POLL_INTERVAL_MS,
        }
        if self.status_message:
            task["statusMessage"] = self.status_message
        return task

    def move(self, status: Status, message: str | None = None) -> bool:
        """Change the status along the allowed paths; False (nothing changes) once terminal."""
        if self.terminal:
            return False
        changed = status != self.status or (message is not None and message != self.status_message)
        self.status = status
        if message is not None:
            self.status_message = message
        if changed:
            self.updated_at = time.time()
        return changed

    def note(self, message: str) -> None:
        """What the task is doing now (its `statusMessage` while it works)."""
        if not self.terminal and message != self.status_message:
            self.status_message = message
            self.updated_at = time.time()

    def finish(self, result: dict[str, Any]) -> bool:
        """The call returned `result`: completed, or failed for an `isError` result.  A task
        cancelled meanwhile stays cancelled (its result is kept all the same)."""
        if self.result is None:
            self.result = result
        if self.terminal:
            self.done.set()
            return False
        texts = [c.get("text") for c in result.get("content") or [] if isinstance(c, dict)]
        first = next((t for t in texts if isinstance(t, str) and t), "")
        if result.get("isError"):
            self.move("failed", first[:STATUS_MESSAGE_MAX] or "the call failed")
        else:
            self.move("completed", first[:STATUS_MESSAGE_MAX] or "Done")
        self.done.set()
        return True

    def cancel(self, reason: str) -> bool:
        """Cancelled now (the call is being stopped); False when it had already ended."""
        if not self.move("cancelled", reason):
            return False
        if self.scope is not None:
            self.scope.cancel()
        self.done.set()
        return True


class TaskStore:
    """One client's tasks, shared by its sessions."""

    def __init__(self, max_active: int = MAX_ACTIVE_TASKS, max_kept: int = MAX_KEPT_TASKS) -> None:
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._max_active = max_active
        self._max_kept = max_kept

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def active(self) -> int:
        return sum(1 for t in self._tasks.values() if not t.terminal)

    def create(self, session: str, ttl: object) -> Task:
        """A new working task for `session`; refused while the client has `max_active`."""
        self.purge()
        if self.active >= self._max_active:
            raise TaskError(
                INVALID_REQUEST,
                f"Too many tasks: this client already has {self._max_active} running "
                "(wait for one to finish, or cancel one with tasks/cancel)",
            )
        import secrets  # with hmac and hashlib: only a call that asks for a task needs it

        task = Task(secrets.token_urlsafe(24), clamp_ttl(ttl), runner=session, sessions={session})
        self._tasks[task.task_id] = task
        self._forget_beyond_limit()
        return task

    def get(self, task_id: object, session: str) -> Task:
        """The task, which `session` may list from now on; `TaskError` (-32602) when there is
        no such task (never existed, expired, or forgotten)."""
        self.purge()
        task = self._tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise TaskError(INVALID_PARAMS, "Failed to retrieve task: Task not found")
        task.sessions.add(session)
        return task

    def listed(self, session: str, cursor: object) -> tuple[list[Task], str | None]:
        """One page of the tasks `session` may list, newest last, and the next cursor."""
        self.purge()
        visible = [t for t in self._tasks.values() if session in t.sessions]
        start = 0
        if cursor is not None:
            start = _decode_cursor(cursor)
            if start > len(visible):
                raise TaskError(INVALID_PARAMS, "Invalid cursor")
        page = visible[start : start + PAGE_SIZE]
        more = start + PAGE_SIZE < len(visible)
        return page, _encode_cursor(start + PAGE_SIZE) if more else None

    def cancel_all(self, session: str, reason: str) -> None:
        """The session that runs these tasks is ending: each one it runs is cancelled."""
        for task in self._tasks.values():
            if task.runner == session and not task.terminal:
                task.cancel(reason)

    def purge(self) -> None:
        now = time.time()
        for task_id in [i for i, t in self._tasks.items() if t.expired(now)]:
            del self._tasks[task_id]

    def _forget_beyond_limit(self) -> None:
        excess = len(self._tasks) - self._max_kept
        if excess <= 0:
            return
        for task_id in [i for i, t in self._tasks.items() if t.terminal][:excess]:
            del self._tasks[task_id]


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"tasks:{offset}".encode()).decode("ascii")


def _decode_cursor(cursor: object) -> int:
    try:
        text = base64.urlsafe_b64decode(str(cursor).encode("ascii")).decode("ascii")
        prefix, _, number = text.partition(":")
        offset = int(number)
        if prefix != "tasks" or offset < 0:
            raise ValueError(text)
    except (ValueError, UnicodeError):
        raise TaskError(INVALID_PARAMS, "Invalid cursor") from None
    return offset
