"""A thread's network proxy, wired to its turns: questions to the person, events, the summary.

The proxy itself (`sandbox.netproxy`) knows nothing of turns.  This module gives it what it
needs from the thread: a way to ask (an `exec_approval_request` with a
`network_approval_context`, through the thread's approval broker, on the turn that is running
when the connection comes), a place for its connection events, and the traffic summary at the
end of each turn.  With no turn running there is nobody to ask: the connection is denied.

The proxy is created on the first command that needs it (`attach`) and closed with the
thread: from then on no byte passes and every open question is denied.  Its modules are
imported then too: a thread whose commands never use it (the proxy is off by default) does
not load them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from anyio.abc import TaskGroup

from codex_mcp.agent import events as ev
from codex_mcp.agent.approvals import Decision
from codex_mcp.agent.config.model import Config

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import EventMsg, ExecApprovalRequestMsg, NetworkUsage
    from codex_mcp.sandbox.boundary import NetworkChannel
    from codex_mcp.sandbox.netproxy.service import Answer, ConnectionReport, NetworkProxy, Question

log = logging.getLogger(__name__)

AskOnTurn = Callable[[str, "ExecApprovalRequestMsg"], Awaitable[Decision]]
EmitOnTurn = Callable[[str, "EventMsg"], Awaitable[None]]
NO_TURN_REASON = "no turn is running, so nobody can be asked; the connection was denied"
NEVER_REASON = "the approval policy is `never`, so hosts outside the allow list are not asked about"
APPROVAL_MARGIN_SEC = 5.0
"""The proxy's own bound on a question, beyond the client's elicitation timeout."""


def notes_text(notes: Sequence[str]) -> str:
    """What the model reads after a command's output about its refused connections."""
    return "".join(f"\n[network proxy] {note}" for note in notes)


def proxy_wanted(config: Config) -> bool:
    """Whether the thread's commands get their network through the proxy: it is configured,
    and the sandbox keeps the network off (with the network on, or no sandbox, commands have
    the network already)."""
    policy = config.sandbox_policy
    return config.network_proxy.enabled and not policy.is_full_access and not policy.network_access


class ThreadNetwork:
    """Implements `boundary.NetworkAttacher` for the thread's commands."""

    def __init__(
        self,
        config: Config,
        task_group: TaskGroup,
        *,
        current_turn: Callable[[], str | None],
        ask: AskOnTurn,
        emit: EmitOnTurn,
    ) -> None:
        self._config = config
        self._task_group = task_group
        self._current_turn = current_turn
        self._ask_on_turn = ask
        self._emit_on_turn = emit
        self._proxy: NetworkProxy | None = None
        self._closed = False

    def attach(self, command: Sequence[str], cwd: str) -> NetworkChannel:
        if self._proxy is None:
            from codex_mcp.sandbox.netproxy.service import NetworkProxy

            self._proxy = NetworkProxy(
                self._config.network_proxy,
                self,
                self._task_group,
                approval_timeout=self._config.server.elicitation_timeout_sec + APPROVAL_MARGIN_SEC,
            )
            if self._closed:
                self._proxy.close()
        return self._proxy.attach(command, cwd)

    def close(self) -> None:
        """The thread is closed: no more traffic."""
        self._closed = True
        if self._proxy is not None:
            self._proxy.close()

    async def usage_event(self, turn_id: str) -> NetworkUsage | None:
        """The traffic since the last summary (the connections of finished commands
        included), or None when there was none."""
        if self._proxy is None:
            return None
        await self._proxy.settle()
        hosts = self._proxy.take_usage()
        if not hosts:
            return None
        return ev.network_usage(
            turn_id,
            [
                {"host": u.host, "port": u.port, "protocol": u.protocol, "connections": u.connections,
                 "denied": u.denied, "bytes_sent": u.bytes_sent, "bytes_received": u.bytes_received}
                for u in hosts
            ],
        )  # fmt: skip

    # -- the proxy's hooks -----------------------------------------------------------------

    async def ask(self, question: Question) -> Answer:
        from codex_mcp.sandbox.netproxy.model import Answer  # loaded with the proxy that asks

        if self._config.approval_policy == "never":
            return Answer("denied", NEVER_REASON)
        turn_id = self._current_turn()
        if turn_id is None:
            return Answer("denied", NO_TURN_REASON)
        msg = ev.network_approval_request(
            question.question_id, turn_id, list(question.command), question.cwd,
            question.host, question.port, question.protocol,
        )  # fmt: skip
        decision = await self._ask_on_turn(turn_id, msg)
        if decision.decision == "approved_for_session":
            return Answer("approved_for_session")
        if decision.decision == "approved":
            return Answer("approved")
        return Answer("denied", decision.reason or "the person denied it")

    async def report(self, report: ConnectionReport, ended: bool) -> None:
        turn_id = self._current_turn()
        if turn_id is None:
            return
        begin = ev.network_access_begin(
            report.connection_id, turn_id, report.host, report.port, report.protocol, list(report.command)
        )
        if not ended:
            await self._emit_on_turn(turn_id, begin)
            return
        end = ev.network_access_end(
            begin, outcome=report.outcome or "failed", reason=report.reason, address=report.address,
            bytes_sent=report.bytes_sent, bytes_received=report.bytes_received, seconds=report.duration_s,
        )  # fmt: skip
        await self._emit_on_turn(turn_id, end)
