"""A thread's MCP servers over the thread's life: started by its first turn, told each turn's
sandbox, closed with the thread; and their elicitations put to the person.

The connections outlive any single turn, so they are held by a task of the thread's owner
(`McpConnectionManager.open`), while starting them runs inside a turn: the startup events
reach that turn's reader, and an interrupt cancels a slow startup (a later turn tries again).

When a server asks the person something (`elicitation/create`), the question becomes an
`ElicitationRequest` event of the turn that last used the servers.  It is declined when
nobody reads that turn, when no answer comes within the elicitation timeout (plus a grace
period, so the host's own bounded question always gets to answer first), or when the turn ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
from anyio.abc import TaskGroup

from codex_mcp.agent import events as ev
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.events import ElicitationRequest, Emit, Event
from codex_mcp.agent.mcp_client.manager import McpConnectionManager
from codex_mcp.agent.mcp_client.output import ToolOutput
from codex_mcp.agent.model.types import ToolSpec
from codex_mcp.jsonrpc import RequestId
from codex_mcp.pending import DuplicateKey, PendingMap

log = logging.getLogger(__name__)

ELICITATION_GRACE_SEC = 30.0
"""How much longer than the host's own elicitation timeout we wait for its answer."""
DECLINE: dict[str, Any] = {"action": "decline"}

Publish = Callable[[Event], Awaitable[bool]]


class ThreadMcp:
    def __init__(
        self, servers: Mapping[str, Mapping[str, Any]], task_group: TaskGroup, publish: Publish
    ) -> None:
        self._servers = servers
        self._task_group = task_group
        self._publish = publish
        self._manager: McpConnectionManager | None = None
        self._lock = anyio.Lock()
        self._turn: str | None = None
        self._elicitation_timeout = 0.0
        self._elicitations: PendingMap[tuple[str, str], dict[str, Any]] = PendingMap()
        self._closed = False

    # -- per turn ----------------------------------------------------------------------

    async def prepare(self, config: Config, turn_id: str, emit: Emit) -> None:
        """Start the servers (first turn), or tell them this turn's sandbox state."""
        if self._closed:
            return
        self._turn = turn_id
        self._elicitation_timeout = config.server.elicitation_timeout_sec
        async with self._lock:
            if self._manager is None:
                manager = McpConnectionManager(
                    self._servers, config.sandbox_policy, config.cwd, elicit=self._forward_elicitation
                )
                await manager.open(self._task_group)
                self._manager = manager
            if not self._manager.started:
                await self._manager.start(emit)
            else:
                await self._manager.set_sandbox_state(config.sandbox_policy, config.cwd)

    def turn_ended(self, turn_id: str) -> None:
        """Nobody will answer the questions of a finished turn: decline them now."""
        self._elicitations.resolve_where(DECLINE, lambda waiter: waiter.tag == turn_id)

    # -- tools -------------------------------------------------------------------------

    @property
    def tool_specs(self) -> list[ToolSpec]:
        return self._manager.tool_specs if self._manager is not None and self._manager.started else []

    def owns(self, name: str) -> bool:
        return self._manager is not None and self._manager.owns(name)

    async def call(self, call_id: str, name: str, arguments: dict[str, Any] | None, emit: Emit) -> ToolOutput:
        if self._manager is None:
            return f"unsupported call: {name}"
        return await self._manager.call(call_id, name, arguments, emit)

    # -- elicitation -------------------------------------------------------------------

    async def _forward_elicitation(
        self, server_name: str, request_id: RequestId, params: dict[str, Any]
    ) -> dict[str, Any]:
        turn_id = self._turn
        if turn_id is None:
            return dict(DECLINE)
        key = (server_name, repr(request_id))
        try:
            with self._elicitations.expect(key, tag=turn_id) as waiter:
                msg = ev.elicitation_request(
                    turn_id,
                    server_name,
                    request_id,
                    str(params.get("message") or ""),
                    params.get("requestedSchema"),
                )

                def answer(result: dict[str, Any]) -> None:
                    waiter.resolve(result)

                event = ElicitationRequest(turn_id, dict(msg), answer)
                if not await self._publish(event):
                    return dict(DECLINE)
                try:
                    return await waiter.wait(self._elicitation_timeout + ELICITATION_GRACE_SEC)
                except TimeoutError:
                    return dict(DECLINE)
        except DuplicateKey:
            log.warning("MCP server %s reused the id of a pending elicitation; declined", server_name)
            return dict(DECLINE)

    def resolve_elicitation(self, server_name: str, request_id: str | int, result: dict[str, Any]) -> None:
        """The host's answer as an op."""
        if not self._elicitations.resolve((server_name, repr(request_id)), result):
            log.warning("ignoring an answer to unknown elicitation %r of %s", request_id, server_name)

    # -- closing -----------------------------------------------------------------------

    def request_close(self) -> None:
        """Close the connections soon (the holder task reaps the children); returns at once."""
        self._closed = True
        self._elicitations.close(dict(DECLINE))
        if self._manager is not None:
            self._manager.request_close()

    async def aclose(self) -> None:
        """Close the connections and wait (bounded) until every child is reaped."""
        self._closed = True
        self._elicitations.close(dict(DECLINE))
        if self._manager is not None:
            await self._manager.aclose()
