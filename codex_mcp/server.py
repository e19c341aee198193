"""The MCP server: reads frames, dispatches methods, owns every task of the connection.

Requests other than `tools/call` are answered inline, so they are handled strictly in
arrival order (a `codex/sandbox-state/update` is applied before any later call starts).
Each `tools/call` runs in its own task with its own cancel scope, so a long agent turn
never blocks `ping`, `tools/list`, elicitation answers or other calls.

Shutdown on stdin EOF: running calls finish and their results are flushed, pending
elicitations are resolved as denied (nobody can answer them any more), then the writer
drains and the process exits 0.  If stdout is gone, everything is cancelled at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from codex_mcp import handshake, jsonrpc
from codex_mcp.handshake import ConnectionState
from codex_mcp.jsonrpc import ErrorReply, Notification, Request, RequestId, Response
from codex_mcp.outgoing import Outgoing
from codex_mcp.stdio import FdReader, LineTooLong, iter_lines

log = logging.getLogger(__name__)

SHUTDOWN_FLUSH_TIMEOUT = 10.0
SANDBOX_STATE_METHOD = "codex/sandbox-state/update"


@dataclass
class ServerOptions:
    codex_home: Path
    cwd: Path
    cli_overrides: list[tuple[list[str], Any]] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    version: str = "0.0.0"


class McpServer:
    def __init__(
        self, options: ServerOptions, outgoing: Outgoing, state: ConnectionState | None = None
    ) -> None:
        self.options = options
        self.outgoing = outgoing
        self.state = state or ConnectionState(version=options.version)
        self._calls: dict[tuple[type, RequestId], anyio.CancelScope] = {}
        self._cancelled: set[tuple[type, RequestId]] = set()
        self._tools: Any = None

    # -- lifecycle -----------------------------------------------------------------------

    async def serve(self, reader: FdReader, prefix: bytes = b"", prefix_eof: bool = False) -> int:
        """Run until stdin closes and the work is done; returns the exit code."""
        from codex_mcp.agent.codex import Codex

        read_scope = anyio.CancelScope()
        watch_scope = anyio.CancelScope()
        async with anyio.create_task_group() as root:
            root.start_soon(self.outgoing.run)
            async with Codex(env=self.options.env) as codex:
                self.codex = codex
                async with anyio.create_task_group() as calls:
                    root.start_soon(self._cancel_on_broken_stdout, calls, codex, read_scope, watch_scope)
                    with read_scope:
                        await self._read_loop(reader, calls, prefix, prefix_eof)
                    # EOF: nobody can answer an elicitation any more; running calls finish.
                    self.outgoing.disconnect("the client closed its input")
            watch_scope.cancel()
            self.outgoing.close()
            # Bounded flush: a client that never drains stdout cannot keep us alive.
            root.cancel_scope.deadline = anyio.current_time() + SHUTDOWN_FLUSH_TIMEOUT
        if root.cancel_scope.cancelled_caught:
            log.error("could not flush output within %.0f s; exiting", SHUTDOWN_FLUSH_TIMEOUT)
            return 1
        return 1 if self.outgoing.broken.is_set() else 0

    async def _cancel_on_broken_stdout(
        self, calls: TaskGroup, codex: Any, read_scope: anyio.CancelScope, watch_scope: anyio.CancelScope
    ) -> None:
        with watch_scope:
            await self.outgoing.broken.wait()
            log.warning("stdout is closed: cancelling %d running call(s)", len(self._calls))
            codex.shutdown()
            calls.cancel_scope.cancel()
            read_scope.cancel()

    async def _read_loop(self, reader: FdReader, calls: TaskGroup, prefix: bytes, prefix_eof: bool) -> None:
        async for line in iter_lines(reader, prefix=prefix, prefix_eof=prefix_eof):
            if isinstance(line, LineTooLong):
                await self.outgoing.send(
                    jsonrpc.error_response(None, jsonrpc.PARSE_ERROR, "Parse error: line too long")
                )
                continue
            if not line.strip():
                continue
            message = jsonrpc.parse_message(line)
            try:
                await self._dispatch(message, calls)
            except Exception:  # one bad message must never end the connection
                log.exception("failed to handle a message")
                if isinstance(message, Request):
                    await self.outgoing.send(
                        jsonrpc.error_response(message.id, jsonrpc.INTERNAL_ERROR, "internal error")
                    )

    # -- dispatch ------------------------------------------------------------------------

    async def _dispatch(self, message: jsonrpc.Incoming, calls: TaskGroup) -> None:
        if isinstance(message, ErrorReply):
            await self.outgoing.send(message.to_json())
        elif isinstance(message, Response):
            if not self.outgoing.deliver(message):
                log.debug("ignoring a response to unknown request id %r", message.id)
        elif isinstance(message, Notification):
            self._on_notification(message)
        elif message.method == "tools/call":
            await self._start_tool_call(message, calls)
        else:
            await self.outgoing.send(self._answer(message))

    def _answer(self, req: Request) -> dict[str, Any]:
        if req.method == SANDBOX_STATE_METHOD:
            return self._sandbox_state_update(req.id, req.params or {})
        answer = handshake.answer_request(self.state, req)
        if answer is not None:
            return answer
        return jsonrpc.method_not_found(req.id, req.method)

    def _sandbox_state_update(self, id: RequestId, params: dict[str, Any]) -> dict[str, Any]:
        from codex_mcp.tools.sandbox_state import SandboxStateError, parse_sandbox_state_update

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
            await self.outgoing.send(
                jsonrpc.error_response(
                    req.id, jsonrpc.INVALID_PARAMS, 'Invalid params: "name" must be a string'
                )
            )
            return
        arguments = params.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            await self.outgoing.send(
                jsonrpc.error_response(
                    req.id, jsonrpc.INVALID_PARAMS, 'Invalid params: "arguments" must be an object'
                )
            )
            return
        key = (type(req.id), req.id)
        if key in self._calls:
            await self.outgoing.send(
                jsonrpc.error_response(
                    req.id, jsonrpc.INVALID_REQUEST, f"request id {req.id!r} is already in use"
                )
            )
            return
        scope = anyio.CancelScope()
        self._calls[key] = scope
        calls.start_soon(self._run_tool_call, req, name, arguments, scope)

    async def _run_tool_call(
        self, req: Request, name: str, arguments: dict[str, Any] | None, scope: anyio.CancelScope
    ) -> None:
        key = (type(req.id), req.id)
        result: dict[str, Any] | None = None
        problem = _invalid_call_params(req.params or {})
        if problem is not None:
            self._calls.pop(key, None)
            await self.outgoing.send(jsonrpc.error_response(req.id, jsonrpc.INVALID_PARAMS, problem))
            return
        try:
            with scope:
                if self._tools is None:
                    from codex_mcp.tools.runner import ToolRunner

                    self._tools = ToolRunner(self)
                meta = (req.params or {}).get("_meta")
                result = await self._tools.call(
                    req.id, name, arguments, meta if isinstance(meta, dict) else {}
                )
        except Exception as exc:
            log.exception("tools/call %r failed", req.id)
            result = {"content": [{"type": "text", "text": f"internal error: {exc}"}], "isError": True}
        finally:
            self._calls.pop(key, None)
            cancelled_by_client = key in self._cancelled
            self._cancelled.discard(key)
        if cancelled_by_client or result is None:
            return  # MCP: a cancelled request gets no response
        await self.outgoing.send(jsonrpc.result_response(req.id, result))


def _invalid_call_params(params: dict[str, Any]) -> str | None:
    """Full validation of `tools/call` params against the MCP model (off the read loop)."""
    from pydantic import ValidationError

    from codex_mcp.mcp_types import CallToolRequestParams

    try:
        CallToolRequestParams.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "params"
        return f"Invalid params: `{where}`: {first.get('msg', 'invalid value')}"
    return None
