"""The MCP server: dispatches methods and owns every task of one connection (or HTTP session).

Requests other than `tools/call` are answered inline, so they are handled strictly in
arrival order (a `codex/sandbox-state/update` is applied before any later call starts).
Each `tools/call` runs in its own task with its own cancel scope, so a long agent turn
never blocks `ping`, `tools/list`, elicitation answers or other calls.

The server is transport-neutral: `run(feed)` owns the writer, the agent and the calls'
task group for as long as `feed` runs, and `feed` hands it parsed messages through
`handle()`.  `serve()` is the stdio feed (lines from stdin); the HTTP transport feeds one
`McpServer` per session from its POSTs (`codex_mcp.http`).

Shutdown when the input ends (stdin EOF): running calls finish and their results are
flushed, pending elicitations are resolved as denied (nobody can answer them any more),
then the writer drains and the process exits 0.  If the output is gone, or the transport
calls `stop()` (an HTTP session ends), everything is cancelled at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from codex_mcp import handshake, jsonrpc, prewarm
from codex_mcp.connection import REVISION_2025_11_25, ConnectionState
from codex_mcp.jsonrpc import ErrorReply, Notification, Request, RequestId, Response
from codex_mcp.outgoing import Outgoing
from codex_mcp.stdio import FdReader, LineTooLong, iter_lines

if TYPE_CHECKING:
    from codex_mcp.agent.exec.budget import ProcessBudget
    from codex_mcp.server_tasks import TaskCalls
    from codex_mcp.tools.route import CallRoute
    from codex_mcp.tools.tasks import TaskStore

log = logging.getLogger(__name__)

SHUTDOWN_FLUSH_TIMEOUT = 10.0
SANDBOX_STATE_METHOD = "codex/sandbox-state/update"
INPUT_CLOSED = "the client closed its input"


@dataclass
class ServerOptions:
    """What the server was started with: its home, its working directory and its `-c`
    overrides."""

    codex_home: Path
    cwd: Path
    cli_overrides: list[tuple[list[str], Any]] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    version: str = "0.0.0"
    exec_budget: ProcessBudget | None = None
    """The live-process count every agent of this process shares (the sessions of an HTTP
    server); None: the one agent makes its own."""


class McpServer:
    def __init__(
        self,
        options: ServerOptions,
        outgoing: Outgoing,
        state: ConnectionState | None = None,
        tasks: TaskStore | None = None,
        session: str = "stdio",
    ) -> None:
        """`tasks` is the client's task store (shared by the sessions of one HTTP client; a
        new one by default), `session` the name this server's tasks are created under."""
        self.options = options
        self.outgoing = outgoing
        self.state = state or ConnectionState(version=options.version)
        self._task_store = tasks
        self._session = session
        self._tasks: TaskCalls | None = None
        self._calls: dict[tuple[type, RequestId], anyio.CancelScope] = {}
        self._cancelled: set[tuple[type, RequestId]] = set()
        self._tools: Any = None
        self.codex: Any = None
        self._calls_group: TaskGroup | None = None
        self._tasks_group: TaskGroup | None = None
        self._feed_scope: anyio.CancelScope | None = None
        self.calls_done = anyio.Event()
        """Set once the input has ended and every plain call is over (tasks may run on)."""
        self.on_unanswered: Callable[[RequestId], Awaitable[None]] | None = None
        """Called when a request ends without a response (a cancelled `tools/call`), in output
        order: the HTTP transport closes the request's stream then."""

    # -- lifecycle -----------------------------------------------------------------------

    async def serve(self, reader: FdReader, prefix: bytes = b"", prefix_eof: bool = False) -> int:
        """Run until stdin closes and the work is done; returns the exit code."""
        return await self.run(lambda: self._read_loop(reader, prefix, prefix_eof))

    async def run(self, feed: Callable[[], Awaitable[None]], end_reason: str = INPUT_CLOSED) -> int:
        """Own the writer, the agent and the calls while `feed` hands us messages.

        When `feed` returns, the input has ended: pending elicitations are resolved as
        disconnected, running calls finish, and the output is flushed (bounded).  Returns the
        exit code: 0, or 1 when the output broke or could not be flushed in time.
        """
        from codex_mcp.agent.codex import Codex

        feed_scope = anyio.CancelScope()
        watch_scope = anyio.CancelScope()
        async with anyio.create_task_group() as root:
            root.start_soon(self.outgoing.run)
            options = self.options
            async with Codex(
                codex_home=options.codex_home,
                cwd=options.cwd,
                cli_overrides=options.cli_overrides,
                env=options.env,
                exec_budget=options.exec_budget,
            ) as codex:
                self.codex = codex
                async with anyio.create_task_group() as tasks:
                    self._tasks_group = tasks
                    async with anyio.create_task_group() as calls:
                        self._calls_group, self._feed_scope = calls, feed_scope
                        root.start_soon(self._cancel_on_broken_output, watch_scope)
                        with feed_scope:
                            await feed()
                        # EOF: nobody can answer an elicitation any more; running calls finish.
                        self.outgoing.disconnect(end_reason)
                    self._calls_group = None
                    self.calls_done.set()
                    # Tasks run on to their end, unless `stop()` cancels them too.
                self._tasks_group = None
            watch_scope.cancel()
            self.outgoing.close()
            # Bounded flush: a client that never drains its output cannot keep us alive.
            root.cancel_scope.deadline = anyio.current_time() + SHUTDOWN_FLUSH_TIMEOUT
        if root.cancel_scope.cancelled_caught:
            log.error("could not flush output within %.0f s; exiting", SHUTDOWN_FLUSH_TIMEOUT)
            return 1
        return 1 if self.outgoing.broken.is_set() else 0

    def stop(self, reason: str, *, keep_tasks: bool = False) -> None:
        """End everything now: pending elicitations, running calls (turns interrupted, their
        processes killed) and the feed.  For a transport whose client is gone for good.

        With `keep_tasks` (an HTTP session ended by its client, or idle), running tasks go on
        to their end, so their results can be fetched from another session; no question of
        theirs can reach anyone any more, so each is answered as unanswerable at once."""
        self.outgoing.disconnect(reason)
        if not keep_tasks:
            if self._tasks is not None:
                self._tasks.stop_all()
            if self.codex is not None:
                self.codex.shutdown()
        if self._calls_group is not None:
            self._calls_group.cancel_scope.cancel()
        if self._feed_scope is not None:
            self._feed_scope.cancel()

    @property
    def tasks(self) -> TaskCalls:
        """The task-augmented calls of this server, made when first needed: a client that
        uses no task never loads their machinery (`server_tasks`, `tools.tasks`)."""
        if self._tasks is None:
            from codex_mcp.server_tasks import TaskCalls
            from codex_mcp.tools.tasks import TaskStore

            store = self._task_store if self._task_store is not None else TaskStore()  # empty: falsy
            self._tasks = TaskCalls(store, self._session, self.outgoing, self._call_for_task)
        return self._tasks

    @property
    def running_calls(self) -> int:
        """Calls and tasks still running (`tasks/result` waits count as calls)."""
        return len(self._calls) + (len(self._tasks.running) if self._tasks is not None else 0)

    async def _cancel_on_broken_output(self, watch_scope: anyio.CancelScope) -> None:
        with watch_scope:
            await self.outgoing.broken.wait()
            log.warning("stdout is closed: cancelling %d running call(s)", len(self._calls))
            self.stop("the client closed its input")

    async def _read_loop(self, reader: FdReader, prefix: bytes, prefix_eof: bool) -> None:
        async for line in iter_lines(reader, prefix=prefix, prefix_eof=prefix_eof):
            if isinstance(line, LineTooLong):
                await self.outgoing.respond(
                    None, jsonrpc.error_response(None, jsonrpc.PARSE_ERROR, "Parse error: line too long")
                )
                continue
            if not line.strip():
                continue
            await self.handle(jsonrpc.parse_message(line))

    async def handle(self, message: jsonrpc.Incoming) -> None:
        """Process one message; only while `run()` is active.  Callers hand messages over one
        at a time, in arrival order: inline requests are answered before this returns."""
        calls = self._calls_group
        if calls is None:
            raise RuntimeError("McpServer.handle() called outside run()")
        try:
            await self._dispatch(message, calls)
            if not self._calls:
                prewarm.resume_warm_up()  # paused by the handshake or while calls ran
        except Exception:  # one bad message must never end the connection
            log.exception("failed to handle a message")
            if isinstance(message, Request):
                await self.outgoing.respond(
                    message.id, jsonrpc.error_response(message.id, jsonrpc.INTERNAL_ERROR, "internal error")
                )

    # -- dispatch ------------------------------------------------------------------------

    async def _dispatch(self, message: jsonrpc.Incoming, calls: TaskGroup) -> None:
        if isinstance(message, ErrorReply):
            await self.outgoing.respond(message.id, message.to_json())
        elif isinstance(message, Response):
            if not self.outgoing.deliver(message):
                log.debug("ignoring a response to unknown request id %r", message.id)
        elif isinstance(message, Notification):
            self._on_notification(message)
        elif message.method == "tools/call":
            await self._start_tool_call(message, calls)
        elif message.method.startswith("tasks/") and _is_task_method(message.method, self.state):
            await self._task_request(message, calls)
        else:
            await self.outgoing.respond(message.id, self._answer(message))

    def _answer(self, req: Request) -> dict[str, Any]:
        if req.method == SANDBOX_STATE_METHOD:
            return self._sandbox_state_update(req.id, req.params or {})
        answer = handshake.answer_request(self.state, req)
        if answer is not None:
            return answer
        return jsonrpc.method_not_found(req.id, req.method)

    def _sandbox_state_update(self, id: RequestId, params: dict[str, Any]) -> dict[str, Any]:
        from codex_mcp.sandbox.state import SandboxStateError, parse_sandbox_state_update

        try:
            self.state.sandbox_state = parse_sandbox_state_update(params)
        except SandboxStateError as exc:
            return jsonrpc.error_response(id, jsonrpc.INVALID_PARAMS, f"Invalid params: {exc}")
        return jsonrpc.result_response(id, {})

    def _on_notification(self, note: Notification) -> None:
        if note.method == "notifications/cancelled":
            request_id = (note.params or {}).get("requestId")
            if isinstance(request_id, (str, int)) and jsonrpc.is_request_id(request_id):
                key: tuple[type, RequestId] = (type(request_id), request_id)
                scope = self._calls.get(key)
                if scope is not None:
                    log.info("cancelling tools/call %r", request_id)
                    self._cancelled.add(key)
                    scope.cancel()
                    return
            log.debug("ignoring a cancellation for unknown request %r", request_id)
        elif note.method == "notifications/initialized":
            log.debug("client initialized")
        else:
            log.debug("ignoring notification %s", note.method)

    # -- tools/call ----------------------------------------------------------------------

    async def _start_tool_call(self, req: Request, calls: TaskGroup) -> None:
        params = req.params or {}
        name = params.get("name")
        if not isinstance(name, str):
            await self.outgoing.respond(
                req.id,
                jsonrpc.error_response(
                    req.id, jsonrpc.INVALID_PARAMS, 'Invalid params: "name" must be a string'
                ),
            )
            return
        arguments = params.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            problem = 'Invalid params: "arguments" must be an object'
            await self.outgoing.respond(
                req.id, jsonrpc.error_response(req.id, jsonrpc.INVALID_PARAMS, problem)
            )
            return
        key = (type(req.id), req.id)
        if key in self._calls:
            in_use = f"request id {req.id!r} is already in use"
            await self.outgoing.respond(
                req.id, jsonrpc.error_response(req.id, jsonrpc.INVALID_REQUEST, in_use)
            )
            return
        task = params.get("task")
        if task is not None and self.state.speaks(REVISION_2025_11_25):
            invalid = _invalid_call_params(params)
            if invalid is not None:
                reply = jsonrpc.error_response(req.id, jsonrpc.INVALID_PARAMS, invalid)
            else:
                meta = params.get("_meta")
                ttl = task.get("ttl") if isinstance(task, dict) else None
                group = self._tasks_group
                assert group is not None  # set for as long as messages are handled
                reply = self.tasks.start(
                    req, name, arguments, meta if isinstance(meta, dict) else {}, ttl, group
                )
            await self.outgoing.respond(req.id, reply)
            return
        scope = anyio.CancelScope()
        self._calls[key] = scope
        prewarm.pause_warm_up()
        calls.start_soon(self._run_tool_call, req, name, arguments, scope)

    async def _run_tool_call(
        self, req: Request, name: str, arguments: dict[str, Any] | None, scope: anyio.CancelScope
    ) -> None:
        key = (type(req.id), req.id)
        result: dict[str, Any] | None = None
        problem = _invalid_call_params(req.params or {})
        if problem is not None:
            self._call_ended(key)
            await self.outgoing.respond(
                req.id, jsonrpc.error_response(req.id, jsonrpc.INVALID_PARAMS, problem)
            )
            return
        try:
            with scope:
                meta = (req.params or {}).get("_meta")
                result = await self._codex_tools().call(
                    req.id, name, arguments, meta if isinstance(meta, dict) else {}
                )
        except Exception as exc:
            log.exception("tools/call %r failed", req.id)
            result = {"content": [{"type": "text", "text": f"internal error: {exc}"}], "isError": True}
        finally:
            self._call_ended(key)
            cancelled_by_client = key in self._cancelled
            self._cancelled.discard(key)
        if cancelled_by_client or result is None:
            # MCP: a cancelled request gets no response.
            if self.on_unanswered is not None:
                await self.on_unanswered(req.id)
            return
        await self.outgoing.respond(req.id, jsonrpc.result_response(req.id, result))

    def _call_ended(self, key: tuple[type, RequestId]) -> None:
        self._calls.pop(key, None)
        if not self._calls:
            prewarm.resume_warm_up()  # paused while calls ran

    def _codex_tools(self) -> Any:
        if self._tools is None:
            from codex_mcp.tools.calls import CodexTools

            self._tools = CodexTools(self.codex, self.outgoing, self.state)
        return self._tools

    async def _call_for_task(
        self,
        request_id: RequestId,
        name: str,
        arguments: dict[str, Any] | None,
        meta: dict[str, Any],
        route: CallRoute,
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._codex_tools().call(request_id, name, arguments, meta, route)
        return result

    # -- tasks/* -------------------------------------------------------------------------

    async def _task_request(self, req: Request, calls: TaskGroup) -> None:
        """`tasks/get`, `tasks/list` and `tasks/cancel` are answered inline; `tasks/result`
        waits for its task in a task of its own (a cancellation ends the wait, not the task)."""
        if req.method != "tasks/result":
            await self.outgoing.respond(req.id, self.tasks.answer(req))
            return
        key = (type(req.id), req.id)
        if key in self._calls:
            in_use = f"request id {req.id!r} is already in use"
            await self.outgoing.respond(
                req.id, jsonrpc.error_response(req.id, jsonrpc.INVALID_REQUEST, in_use)
            )
            return
        scope = anyio.CancelScope()
        self._calls[key] = scope
        calls.start_soon(self._wait_task_result, req, scope)

    async def _wait_task_result(self, req: Request, scope: anyio.CancelScope) -> None:
        key = (type(req.id), req.id)
        reply: dict[str, Any] | None = None
        try:
            with scope:
                reply = await self.tasks.result(req)
        finally:
            self._calls.pop(key, None)
            self._cancelled.discard(key)
        if reply is None:
            if self.on_unanswered is not None:
                await self.on_unanswered(req.id)
            return
        await self.outgoing.respond(req.id, reply)


_PLAIN_CALL_KEYS = frozenset({"name", "arguments", "_meta", "task"})


def _plainly_valid_call_params(params: dict[str, Any]) -> bool:
    """True for the shape every client sends (`name`, object `arguments`, a task-augmented
    call's `task` with an optional integer `ttl`, `_meta` with an optional string or integer
    `progressToken`): the MCP model accepts it, so the model, and pydantic with it, need not
    be loaded for it.  False means "let the model decide"."""
    if not _PLAIN_CALL_KEYS.issuperset(params) or type(params.get("name")) is not str:
        return False
    arguments = params.get("arguments")
    if arguments is not None and type(arguments) is not dict:
        return False
    task = params.get("task")
    if task is not None and not (
        type(task) is dict
        and task.keys() <= {"ttl"}
        and (task.get("ttl") is None or type(task["ttl"]) is int)
    ):
        return False
    meta = params.get("_meta")
    if meta is None:
        return True
    if type(meta) is not dict or "progress_token" in meta:
        return False
    token = meta.get("progressToken")
    return token is None or type(token) is str or type(token) is int


def _invalid_call_params(params: dict[str, Any]) -> str | None:
    """Full validation of `tools/call` params against the MCP model (off the read loop)."""
    if _plainly_valid_call_params(params):
        return None
    from pydantic import ValidationError

    from codex_mcp.mcp_types import CallToolRequestParams

    try:
        CallToolRequestParams.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "params"
        return f"Invalid params: `{where}`: {first.get('msg', 'invalid value')}"
    return None


def _is_task_method(method: str, state: ConnectionState) -> bool:
    """One of the `tasks/*` requests, from a client that speaks the revision that has them."""
    from codex_mcp.tools.tasks import TASK_METHODS

    return method in TASK_METHODS and state.speaks(REVISION_2025_11_25)
