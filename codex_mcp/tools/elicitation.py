"""Asking the person through the MCP client: approvals, and the agent's MCP servers' questions.

Both become `elicitation/create` requests sent on behalf of the `tools/call` that runs the
turn (so a transport with a stream per request delivers them there), and both are bounded by
`[codex_mcp] elicitation_timeout_sec`: every way an answer can fail to arrive (no elicitation
capability, a JSON-RPC error, a timeout, a disconnect) denies the approval or declines the
question, with a reason the model and the client see.  The forms and the reading of answers
are `approvals`, imported with the first question (a call that asks nothing never needs them).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from codex_mcp.agent.events import ApprovalRequest, ElicitationRequest, UserInputRequest

if TYPE_CHECKING:
    from codex_mcp.connection import ConnectionState
    from codex_mcp.jsonrpc import RequestId
    from codex_mcp.outgoing import Outcome, Outgoing
    from codex_mcp.tools.approvals import Verdict
    from codex_mcp.tools.route import CallRoute

log = logging.getLogger(__name__)

ELICITATION_METHOD = "elicitation/create"
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


class Elicitor:
    """The questions of one tool call's turn."""

    def __init__(
        self,
        outgoing: Outgoing,
        connection: ConnectionState,
        request_id: RequestId,
        thread_id: str,
        timeout: float,
        *,
        route: CallRoute | None = None,
    ) -> None:
        """Questions go out on behalf of `request_id`, or of `route` (a task)."""
        self._outgoing = outgoing
        self._connection = connection
        self._request_id = request_id
        self._thread_id = thread_id
        self._timeout = timeout
        self._route = route

    async def _ask(self, params: dict[str, Any]) -> Outcome:
        route = self._route
        if route is None:
            return await self._outgoing.request(
                ELICITATION_METHOD, params, wait_seconds=self._timeout, request=self._request_id
            )
        params = {**params, "_meta": {**params.get("_meta", {}), **route.meta}}
        await route.waiting(True)
        try:
            return await self._outgoing.request(
                ELICITATION_METHOD, params, wait_seconds=self._timeout, request=route.key
            )
        finally:
            with anyio.CancelScope(shield=True):
                await route.waiting(False)

    async def approval(self, event: ApprovalRequest) -> Verdict:
        """The person's decision on a command or patch (denied, with a reason, when none comes)."""
        from codex_mcp.tools import approvals
        from codex_mcp.tools.approvals import Verdict

        if not self._connection.supports_elicitation:
            return Verdict("denied", approvals.NO_ELICITATION_REASON)
        builders = {
            "exec": approvals.exec_elicitation_params,
            "patch": approvals.patch_elicitation_params,
            "network": approvals.network_elicitation_params,
        }
        params = builders[event.kind](
            event.msg, self._thread_id, self._request_id, event.id, self._connection.protocol_version
        )
        verdict = approvals.verdict_for(await self._ask(params))
        if event.kind == "network" and verdict.decision == "abort":
            return Verdict("denied", "the connection was denied (a network question does not stop the turn)")
        return verdict

    @property
    def can_ask(self) -> bool:
        """Whether the client can show a form at all."""
        return self._connection.supports_elicitation

    async def user_input(self, event: UserInputRequest) -> dict[str, str] | None:
        """The person's answers to the model's questions; None when the client cannot ask,
        the person declines or dismisses the form, or no answer comes in time."""
        if not self._connection.supports_elicitation:
            return None
        from codex_mcp.tools.questions import question_params, read_answers

        params = question_params(
            event.msg, self._thread_id, self._request_id, event.id, self._connection.protocol_version
        )
        return read_answers(await self._ask(params), event.questions)

    async def server_question(self, event: ElicitationRequest) -> dict[str, Any]:
        """The person's answer to an MCP server's question, as the `ElicitResult` the server
        gets: declined when the client cannot ask, fails, times out, or answers with content
        that does not follow the server's `requestedSchema` (the server would only fail on it)."""
        if not self._connection.supports_elicitation:
            return {"action": "decline"}
        schema = event.requested_schema or EMPTY_SCHEMA
        params = {
            "message": event.message,
            "requestedSchema": schema,
            "threadId": self._thread_id,
            "codex_elicitation": "mcp-server",
            "codex_mcp_tool_call_id": str(self._request_id),
            "codex_event_id": event.id,
            "codex_server_name": event.server_name,
            "codex_request_id": event.msg.get("id"),
        }
        answer = server_elicitation_answer(await self._ask(params))
        if answer["action"] == "accept" and "content" in answer:
            from codex_mcp.agent.json_schema import violation

            problem = await violation(schema, answer["content"])
            if problem is not None:
                log.warning("declined an answer to %s that breaks its schema: %s", event.server_name, problem)
                return {"action": "decline"}
        return answer


def server_elicitation_answer(outcome: Outcome) -> dict[str, Any]:
    """Our client's answer as the ElicitResult we give the server; anything but an answer declines."""
    from codex_mcp.outgoing import Answered

    if isinstance(outcome, Answered) and isinstance(outcome.result, dict):
        action = outcome.result.get("action")
        if action in ("accept", "decline", "cancel"):
            answer: dict[str, Any] = {"action": action}
            content = outcome.result.get("content")
            if action == "accept" and isinstance(content, dict):
                answer["content"] = content
            return answer
    return {"action": "decline"}
