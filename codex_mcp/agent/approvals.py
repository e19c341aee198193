"""The approval broker: a command or patch waits here for the host's decision.

A handler asks; the broker publishes an `ApprovalRequest` event on the turn's stream and
waits for the answer, which comes back through the event's own `approve()` / `deny()` or
through an `ExecApprovalOp` / `PatchApprovalOp`.  Nothing here times out by itself, on
purpose: the host owns the bound.  The MCP tools answer every request within the
elicitation timeout (an unanswered elicitation is denied); an embedder's turn ends when it
leaves the `turn()` block, which interrupts the turn and so cancels the wait.  When nobody
reads the turn's events at all, the request is denied at once.

Network questions (a running command's connection through the proxy) are asked on the turn
that is running when the connection comes; they do not run inside that turn's cancel scope,
so the turn's end denies those still open (`deny_turn`), and the proxy bounds its own wait.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from codex_mcp.agent.events import (
    EXEC_APPROVAL_REQUEST,
    ApprovalRequest,
    Event,
    ReviewDecision,
    UserInputRequest,
)
from codex_mcp.pending import DuplicateKey, PendingMap

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import (
        ExecApprovalRequestMsg,
        PatchApprovalRequestMsg,
        UserInputRequestMsg,
    )

log = logging.getLogger(__name__)

ApprovalKind = Literal["exec", "patch", "network"]
NOBODY_LISTENING = "nobody is listening for approval requests"


@dataclass(frozen=True)
class Decision:
    """The answer to one approval request, as the turn loop acts on it."""

    decision: ReviewDecision = "denied"
    reason: str | None = None
    """Why the host decided for the person (shown to the model); None for a real answer."""
    amendment: bool = False
    """The person also approved the command prefix the request proposed, for the session."""

    @property
    def approved(self) -> bool:
        return self.decision in ("approved", "approved_for_session")


@dataclass
class SessionGrants:
    """What the person approved "for this session": identical commands and patched paths run
    again without a question."""

    commands: set[tuple[str, ...]]
    paths: set[Path]
    prefixes: set[tuple[str, ...]] = field(default_factory=set)
    """Command prefixes the person approved for the session (a proposed amendment): a
    command they match as an `allow` rule would needs no new question."""

    @classmethod
    def empty(cls) -> SessionGrants:
        return cls(set(), set())


Publish = Callable[[Event], Awaitable[bool]]
"""Put an event on its turn's stream; False when nobody reads that stream."""


class ApprovalBroker:
    def __init__(self) -> None:
        self._pending: PendingMap[tuple[str, str], Decision] = PendingMap()

    async def ask(
        self, turn_id: str, msg: ExecApprovalRequestMsg | PatchApprovalRequestMsg, publish: Publish
    ) -> Decision:
        """Publish the request and wait for its decision (see the module docstring for bounds)."""
        kind = approval_kind(msg)
        key = (kind, msg["call_id"])
        with self._pending.expect(key, tag=(turn_id, kind)) as waiter:

            def answer(decision: ReviewDecision, reason: str | None, /, *, amendment: bool = False) -> None:
                waiter.resolve(Decision(decision, reason, amendment))

            delivered = await publish(ApprovalRequest(turn_id, dict(msg), answer, kind))
            if not delivered:
                return Decision("denied", NOBODY_LISTENING)
            return await waiter.wait()

    def resolve(self, kind: ApprovalKind, call_id: str, decision: ReviewDecision, reason: str | None) -> None:
        """The host's answer as an op (an exec answer also reaches a network question: the
        reference answers both with the same op)."""
        answer = Decision(decision, reason)
        if self._pending.resolve((kind, call_id), answer):
            return
        if kind == "exec" and self._pending.resolve(("network", call_id), answer):
            return
        log.warning("ignoring a %s decision for unknown call %s", kind, call_id)

    def deny_turn(self, turn_id: str, reason: str) -> None:
        """The turn ended: its network questions still open are denied."""
        self._pending.resolve_where(
            Decision("denied", reason), lambda waiter: waiter.tag == (turn_id, "network")
        )


class QuestionBroker:
    """The model's questions to the person (`request_user_input`) wait here, like approvals:
    no timeout of their own (the host bounds them), and unanswered when nobody listens."""

    def __init__(self) -> None:
        self._pending: PendingMap[str, dict[str, str] | None] = PendingMap()

    async def ask(self, turn_id: str, msg: UserInputRequestMsg, publish: Publish) -> dict[str, str] | None:
        """The answers by question id; None when declined or the model reused the call id of
        a question still waiting; an empty mapping when nobody is listening."""
        try:
            with self._pending.expect(msg["call_id"], tag=turn_id) as waiter:

                def answer(answers: dict[str, str] | None) -> None:
                    waiter.resolve(answers)

                if not await publish(UserInputRequest(turn_id, dict(msg), answer)):
                    return {}
                return await waiter.wait()
        except DuplicateKey:
            return None


def approval_kind(msg: ExecApprovalRequestMsg | PatchApprovalRequestMsg) -> ApprovalKind:
    if msg["type"] != EXEC_APPROVAL_REQUEST:
        return "patch"
    return "network" if "network_approval_context" in msg else "exec"
