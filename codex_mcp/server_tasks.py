"""Running task-augmented `tools/call`s and answering `tasks/*` for one server (connection or
HTTP session).  The records and their rules are `tools.tasks`.

A task-augmented call is answered at once with `CreateTaskResult`; the call itself then runs
as a task of the server's calls group, in its own cancel scope (`tasks/cancel`, or the
session ending, cancels it: turn interrupted, processes reaped).  Its notifications and
questions carry the related-task key and are queued under the task (`outgoing.TaskKey`), so
over HTTP they reach the stream of a `tasks/result` waiting for it, or the GET stream.
While a question to the person is open the task is `input_required`.  `tasks/result` waits
for the end and answers with exactly the call's `CallToolResult`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from codex_mcp import jsonrpc
from codex_mcp.jsonrpc import Request, RequestId
from codex_mcp.outgoing import Outgoing, TaskKey
from codex_mcp.tools.route import CallRoute
from codex_mcp.tools.tasks import STATUS_NOTIFICATION, Task, TaskError, TaskStore, related

log = logging.getLogger(__name__)

RunCall = Callable[
    [RequestId, str, "dict[str, Any] | None", "dict[str, Any]", CallRoute], Awaitable[dict[str, Any]]
]
"""Runs one call (`CodexTools.call`) with its messages routed to the task."""
SESSION_ENDED = "the session that ran this task ended"


class TaskCalls:
    def __init__(self, store: TaskStore, session: str, outgoing: Outgoing, run_call: RunCall) -> None:
        self.store = store
        self.session = session
        self._outgoing = outgoing
        self._run_call = run_call
        self.running: set[Task] = set()
        self.on_wait: Callable[[str, RequestId], Awaitable[None]] | None = None
        """Called when a `tasks/result` request starts waiting for a task (HTTP: put the
        task's messages on that request's stream)."""
        self.on_end: Callable[[str], None] | None = None
        """Called when a task this server ran has ended."""

    # -- creating and running -----------------------------------------------------------

    def start(
        self,
        req: Request,
        name: str,
        arguments: dict[str, Any] | None,
        meta: dict[str, Any],
        ttl: object,
        group: TaskGroup,
    ) -> dict[str, Any]:
        """The response to a task-augmented call: the new task, or an error (too many)."""
        try:
            task = self.store.create(self.session, ttl)
        except TaskError as exc:
            return jsonrpc.error_response(req.id, exc.code, exc.message)
        task.scope = anyio.CancelScope()
        self.running.add(task)
        group.start_soon(self._run, task, req, name, arguments, meta)
        log.info("task %s: %s started for request %r", task.task_id, name, req.id)
        return jsonrpc.result_response(req.id, {"task": task.to_wire()})

    async def _run(
        self, task: Task, req: Request, name: str, arguments: dict[str, Any] | None, meta: dict[str, Any]
    ) -> None:
        key = TaskKey(task.task_id)

        async def waiting(asking: bool) -> None:
            moved = (
                task.move("input_required", "Waiting for the person's answer")
                if asking
                else task.move("working", "Codex is working")
            )
            if moved:
                await self._status(task)

        route = CallRoute(key=key, meta=related(task.task_id), waiting=waiting, step=task.note)
        result: dict[str, Any] | None = None
        assert task.scope is not None
        try:
            with task.scope:
                result = await self._run_call(req.id, name, arguments, meta, route)
        except Exception as exc:
            log.exception("task %s failed", task.task_id)
            result = _error_result(f"internal error: {exc}")
        finally:
            self.running.discard(task)
            if result is None:  # cancelled: by tasks/cancel, or the session ending
                task.cancel(SESSION_ENDED)
                task.result = task.result or _error_result(f"Task cancelled: {task.status_message}")
            if self.on_end is not None:
                self.on_end(task.task_id)
        if result is not None:
            task.finish(result)
            log.info("task %s: %s", task.task_id, task.status)
            await self._status(task)

    async def _status(self, task: Task) -> None:
        """`notifications/tasks/status`, which clients may use instead of polling."""
        await self._outgoing.notify(STATUS_NOTIFICATION, task.to_wire(), request=TaskKey(task.task_id))

    def stop_all(self) -> None:
        """The server is ending: every task it runs is cancelled."""
        self.store.cancel_all(self.session, SESSION_ENDED)

    # -- tasks/get, tasks/list, tasks/cancel (answered inline) ---------------------------

    def answer(self, req: Request) -> dict[str, Any]:
        params = req.params or {}
        try:
            if req.method == "tasks/list":
                tasks, cursor = self.store.listed(self.session, params.get("cursor"))
                listed: dict[str, Any] = {"tasks": [t.to_wire() for t in tasks]}
                if cursor is not None:
                    listed["nextCursor"] = cursor
                return jsonrpc.result_response(req.id, listed)
            task = self.store.get(params.get("taskId"), self.session)
            if req.method == "tasks/cancel":
                if not task.cancel("The task was cancelled by request."):
                    raise TaskError(
                        jsonrpc.INVALID_PARAMS,
                        f"Cannot cancel task: already in terminal status '{task.status}'",
                    )
                log.info("task %s cancelled by request %r", task.task_id, req.id)
            return jsonrpc.result_response(req.id, task.to_wire())
        except TaskError as exc:
            return jsonrpc.error_response(req.id, exc.code, exc.message)

    # -- tasks/result (waits) ------------------------------------------------------------

    async def result(self, req: Request) -> dict[str, Any]:
        """The call's own result once the task has ended, tied to the task by `_meta`."""
        try:
            task = self.store.get((req.params or {}).get("taskId"), self.session)
        except TaskError as exc:
            return jsonrpc.error_response(req.id, exc.code, exc.message)
        if not task.terminal and self.on_wait is not None:
            await self.on_wait(task.task_id, req.id)
        await task.done.wait()
        result = dict(task.result or _error_result("The task ended without a result."))
        result["_meta"] = {**(result.get("_meta") or {}), **related(task.task_id)}
        return jsonrpc.result_response(req.id, result)


def _error_result(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}
