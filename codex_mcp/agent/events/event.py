"""What a reader of a turn receives: `Event`, and the two events that can be answered.

`ApprovalRequest` (a command or a patch waits for the person's decision) and
`ElicitationRequest` (one of the agent's MCP servers asks the person something) carry their
own way to answer, so a host never reads dict keys or builds ops by hand to reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from codex_mcp.agent.events.payloads import EventMsg

ReviewDecision = Literal["approved", "approved_for_session", "denied", "abort"]
REVIEW_DECISIONS: tuple[ReviewDecision, ...] = ("approved", "approved_for_session", "denied", "abort")

Emit = Callable[[EventMsg], Awaitable[None]]
"""Emit one event of the running turn (bound to that turn)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a turn: `id` is the turn id (empty for `session_configured`)."""

    id: str
    msg: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.msg["type"])

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "msg": self.msg}


AnswerApproval = Callable[[ReviewDecision, str | None], None]
AnswerElicitation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class ApprovalRequest(Event):
    """A command or patch waiting for the person's decision.  Answer it once with
    `approve()`, `deny()`, `abort()` or `decide()`; the turn stays paused until then, or until
    it is interrupted (leaving its `turn()` block denies by interrupting it)."""

    answer: AnswerApproval = field(default=lambda decision, reason: None, repr=False, compare=False)
    kind: Literal["exec", "patch", "network"] = "exec"
    """What waits: a command (`exec`), a patch, or a running command's connection to a host
    (`network`: `network` says where; `approved` allows that command, `approved_for_session`
    every later one, and `abort` only denies)."""

    @property
    def call_id(self) -> str:
        return str(self.msg.get("call_id") or "")

    @property
    def command(self) -> list[str]:
        """The command to run (exec approvals; empty for patches)."""
        return list(self.msg.get("command") or [])

    @property
    def changes(self) -> dict[str, Any]:
        """The file changes by path (patch approvals; empty for commands)."""
        return dict(self.msg.get("changes") or {})

    @property
    def network(self) -> dict[str, Any] | None:
        """`{host, port, protocol}` of a network approval (None for the other kinds)."""
        context = self.msg.get("network_approval_context")
        return dict(context) if isinstance(context, dict) else None

    @property
    def reason(self) -> str | None:
        reason = self.msg.get("reason")
        return reason if isinstance(reason, str) else None

    def decide(self, decision: ReviewDecision, reason: str | None = None) -> None:
        """`reason` says why when the host decided for the person (the model is told)."""
        self.answer(decision, reason)

    def approve(self, *, for_session: bool = False) -> None:
        self.answer("approved_for_session" if for_session else "approved", None)

    def deny(self, reason: str | None = None) -> None:
        self.answer("denied", reason)

    def abort(self) -> None:
        """Deny and stop the turn."""
        self.answer("abort", None)


@dataclass(frozen=True, slots=True)
class ElicitationRequest(Event):
    """One of the agent's MCP servers asks the person something (`msg["requested_schema"]`
    describes the answer).  Answer once; unanswered, it is declined when its wait runs out
    or the turn ends."""

    answer: AnswerElicitation = field(default=lambda result: None, repr=False, compare=False)

    @property
    def server_name(self) -> str:
        return str(self.msg.get("server_name") or "")

    @property
    def request_id(self) -> str | int:
        raw = self.msg.get("id")
        return raw if isinstance(raw, str | int) else str(raw)

    @property
    def message(self) -> str:
        return str(self.msg.get("message") or "")

    @property
    def requested_schema(self) -> Any:
        return self.msg.get("requested_schema")

    def resolve(self, result: dict[str, Any]) -> None:
        """Answer with an MCP `ElicitResult` (`{"action": "accept" | "decline" | "cancel", ...}`)."""
        self.answer(result)

    def accept(self, content: dict[str, Any]) -> None:
        self.answer({"action": "accept", "content": content})

    def decline(self) -> None:
        self.answer({"action": "decline"})

    def cancel(self) -> None:
        self.answer({"action": "cancel"})
