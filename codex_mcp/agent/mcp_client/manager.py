"""`McpConnectionManager`: a thread's connections to its configured MCP servers.

It lives as one task in the owner's task group (the connections outlive any single turn),
starts every enabled server concurrently when asked (the first turn asks), and from then on
offers their tools and routes the model's calls to them.  Nothing a server does can end a
turn: a server that fails to start is reported and skipped, a call that fails or times out
is an error text for the model.

    manager = McpConnectionManager(config.mcp_servers, policy, cwd, elicit=...)
    await manager.open(task_group)          # the holder task
    await manager.start(emit)               # mcp_startup_update / mcp_startup_complete
    specs = manager.tool_specs
    output = await manager.call(call_id, "mcp__docs__search", {"q": "x"}, emit)
    await manager.aclose()                  # every child reaped, bounded
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from codex_mcp.agent import events as ev
from codex_mcp.agent.events import Emit
from codex_mcp.agent.mcp_client.client import McpClient, McpError, McpTimeout
from codex_mcp.agent.mcp_client.config import McpServerConfig, StdioTransportConfig, parse_servers
from codex_mcp.agent.mcp_client.output import ToolOutput, checked_model_output, error_output
from codex_mcp.agent.mcp_client.tools import QualifiedTool, qualified_name, qualify_tools
from codex_mcp.agent.mcp_client.transport import StdioTransport, Transport
from codex_mcp.jsonrpc import RequestId
from codex_mcp.sandbox import state as sandbox_state
from codex_mcp.sandbox.policy import SandboxPolicy

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import EventMsg, McpInvocation

log = logging.getLogger(__name__)

ElicitForward = Callable[[str, RequestId, dict[str, Any]], Awaitable[dict[str, Any]]]
"""`(server_name, request_id, params) -> ElicitResult` supplied by the owner."""

CLOSE_TIMEOUT_SEC = 10.0


@dataclass
class _Server:
    """A started MCP server of the thread, with the tools it listed."""

    config: McpServerConfig
    client: McpClient
    tools: list[dict[str, Any]] = field(default_factory=list)

    @property
    def wants_update(self) -> bool:
        caps = self.client.initialize_result.get("capabilities")
        return sandbox_state.declared(caps, sandbox_state.CAPABILITY_UPDATE)

    @property
    def wants_meta(self) -> bool:
        caps = self.client.initialize_result.get("capabilities")
        return sandbox_state.declared(caps, sandbox_state.CAPABILITY_META)


async def _no_emit(msg: EventMsg) -> None:
    return None


class McpConnectionManager:
    def __init__(
        self,
        servers: Mapping[str, Mapping[str, Any]],
        sandbox_policy: SandboxPolicy,
        cwd: Path,
        *,
        base_env: Mapping[str, str] | None = None,
        elicit: ElicitForward | None = None,
    ) -> None:
        self._raw = servers
        self._policy = sandbox_policy
        self._cwd = cwd
        self._base_env = os.environ if base_env is None else base_env
        self._elicit = elicit
        self._servers: dict[str, _Server] = {}
        self._tools: dict[str, QualifiedTool] = {}
        self._disabled: dict[str, str] = {}
        self._tg: TaskGroup | None = None
        self._close_requested = anyio.Event()
        self._closed = anyio.Event()
        self._start_lock = anyio.Lock()
        self.started = False
        self.ready: list[str] = []
        self.failed: list[dict[str, str]] = []

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self, task_group: TaskGroup) -> None:
        """Start the task that holds the connections (in `task_group`, which must outlive turns)."""
        await task_group.start(self._hold)

    async def _hold(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                task_status.started()
                try:
                    await self._close_requested.wait()
                finally:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT_SEC):
                        await self._close_servers()
                    tg.cancel_scope.cancel()
        finally:
            self._tg = None
            self._closed.set()

    async def _close_servers(self) -> None:
        servers, self._servers = list(self._servers.values()), {}
        self._tools = {}
        async with anyio.create_task_group() as tg:
            for server in servers:
                tg.start_soon(server.client.aclose)

    def request_close(self) -> None:
        """Ask the holder task to close everything (returns at once; `aclose` waits)."""
        self._close_requested.set()

    async def aclose(self) -> None:
        """Close every connection and reap every child; bounded, safe to call twice."""
        self._close_requested.set()
        if self._tg is None and not self._closed.is_set():
            return  # never opened
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT_SEC + 2):
            await self._closed.wait()

    # -- startup -------------------------------------------------------------------------

    async def start(self, emit: Emit = _no_emit) -> None:
        """Start every enabled server at once; report each one and the summary.  Idempotent.

        If the caller is cancelled halfway, what was started is closed again and a later
        call starts over.
        """
        async with self._start_lock:
            if self.started or self._close_requested.is_set():
                return
            servers, problems = parse_servers(self._raw)
            self._disabled = {
                qualified_name(s.name, t): f"tool '{t}' is disabled for MCP server '{s.name}'"
                for s in servers
                for t in s.disabled_tools
            }
            failed = [{"server": p.server, "error": p.error} for p in problems]
            for problem in failed:
                await emit(ev.mcp_startup_update(problem["server"], "failed", problem["error"]))
            for server in servers:
                await emit(ev.mcp_startup_update(server.name, "starting"))
            results: dict[str, _Server | str] = {}
            try:
                async with anyio.create_task_group() as tg:
                    for server in servers:
                        tg.start_soon(self._start_one, server, results)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    for outcome in results.values():
                        if isinstance(outcome, _Server):
                            await outcome.client.aclose()
                raise
            for name in sorted(results):
                outcome = results[name]
                if isinstance(outcome, str):
                    failed.append({"server": name, "error": outcome})
                    await emit(ev.mcp_startup_update(name, "failed", outcome))
                else:
                    self._servers[name] = outcome
                    await emit(ev.mcp_startup_update(name, "ready"))
            self.ready = sorted(self._servers)
            self.failed = sorted(failed, key=lambda f: f["server"])
            listed = {
                name: [t for t in s.tools if s.config.tool_allowed(str(t.get("name")))]
                for name, s in self._servers.items()
            }
            tools, warnings = qualify_tools(listed)
            self._tools = {t.qualified_name: t for t in tools}
            for warning in warnings:
                log.warning("%s", warning)
                await emit(ev.warning(warning))
            await emit(ev.mcp_startup_complete(self.ready, self.failed))
            self.started = True
            await self._push_sandbox_state(list(self._servers.values()))

    def _transport(self, config: McpServerConfig) -> Transport:
        if isinstance(config.transport, StdioTransportConfig):
            return StdioTransport(config.name, config.transport, self._base_env)
        from codex_mcp.agent.mcp_client.http import HttpTransport

        return HttpTransport(config.name, config.transport, self._base_env)

    async def _start_one(self, config: McpServerConfig, results: dict[str, _Server | str]) -> None:
        assert self._tg is not None, "call open() first"
        name, timeout = config.name, config.startup_timeout_sec
        client: McpClient | None = None
        try:
            client = McpClient(name, self._transport(config), elicit=partial(self._forward_elicitation, name))
            with anyio.fail_after(timeout):
                await client.start(self._tg)
                await client.initialize(None)
                tools = await client.list_tools(timeout)
            results[name] = _Server(config, client, tools)
            return
        except TimeoutError:
            error = f"MCP server '{name}' did not answer initialize and tools/list within {timeout:g} s"
        except McpError as exc:
            error = f"MCP server '{name}' failed to start: {exc}"
        except (OSError, ValueError) as exc:
            error = f"MCP server '{name}' could not be started: {exc}"
        except BaseException:  # cancelled (the turn was interrupted): no child may outlive this
            if client is not None:
                with anyio.CancelScope(shield=True):
                    await client.aclose()
            raise
        log.warning("%s", error)
        results[name] = error
        if client is not None:
            with anyio.CancelScope(shield=True):
                await client.aclose()

    async def _forward_elicitation(
        self, server: str, request_id: RequestId, params: dict[str, Any]
    ) -> dict[str, Any]:
        if self._elicit is None:
            return {"action": "decline"}
        return await self._elicit(server, request_id, params)

    # -- sandbox state -------------------------------------------------------------------

    async def set_sandbox_state(self, policy: SandboxPolicy, cwd: Path) -> None:
        """A turn's policy and cwd; servers that asked for updates hear about a change."""
        if (policy, cwd) == (self._policy, self._cwd):
            return
        self._policy, self._cwd = policy, cwd
        if self.started:
            await self._push_sandbox_state(list(self._servers.values()))

    async def _push_sandbox_state(self, servers: list[_Server]) -> None:
        params = sandbox_state.sandbox_state_update_params(self._policy, self._cwd)
        async with anyio.create_task_group() as tg:
            for server in servers:
                if server.wants_update:
                    tg.start_soon(self._send_update, server, params)

    @staticmethod
    async def _send_update(server: _Server, params: dict[str, Any]) -> None:
        try:
            await server.client.request(
                sandbox_state.UPDATE_METHOD, params, server.config.startup_timeout_sec
            )
        except McpError as exc:
            log.warning("sandbox state update to MCP server '%s' failed: %s", server.config.name, exc)

    # -- tools ---------------------------------------------------------------------------

    @property
    def tool_specs(self) -> list[dict[str, Any]]:
        return [self._tools[name].spec for name in sorted(self._tools)]

    def owns(self, name: str) -> bool:
        return name in self._tools or name in self._disabled

    async def call(
        self, call_id: str, name: str, arguments: dict[str, Any] | None, emit: Emit = _no_emit
    ) -> ToolOutput:
        """Run one model call of an MCP tool; always returns the output for the model."""
        tool = self._tools.get(name)
        if tool is None:
            return self._disabled.get(name) or f"unsupported call: {name}"
        server = self._servers.get(tool.server)
        invocation: McpInvocation = {"server": tool.server, "tool": tool.tool, "arguments": arguments}
        await emit(ev.mcp_tool_call_begin(call_id, invocation))
        started = time.monotonic()
        output: ToolOutput
        try:
            if server is None:
                raise McpError(f"MCP server '{tool.server}' is not running")
            meta = None
            if server.wants_meta:
                meta = {sandbox_state.META_KEY: sandbox_state.sandbox_state_meta(self._policy, self._cwd)}
            result = await server.client.call_tool(tool.tool, arguments, server.config.tool_timeout_sec, meta)
            end: dict[str, Any] = {"Ok": result}
            output = await checked_model_output(result, tool.output_schema)
        except McpTimeout:
            assert server is not None
            message = f"tool call timed out after {server.config.tool_timeout_sec:g} s"
            end, output = {"Err": message}, error_output(f"err: {message}")
        except McpError as exc:
            end, output = {"Err": str(exc)}, error_output(f"err: {exc}")
        await emit(ev.mcp_tool_call_end(call_id, invocation, time.monotonic() - started, end))
        return output
