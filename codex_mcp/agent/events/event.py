"""What a reader of a turn receives: `Event`, and the two events that can be answered.

`ApprovalRequest` (a command or a patch waits for the person's decision) and
`ElicitationRequest` (one of the agent's MCP servers asks the person something) carry their
own way to answer, so a host never reads dict keys or builds ops by hand to reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import EventMsg


ReviewDecision = Literal["approved", "approved_for_session", "denied", "abort"]
REVIEW_DECISIONS: tuple[ReviewDecision, ...] = ("approved", "approved_for_session", "denied", "abort")

Emit = Callable[["EventMsg"], Awaitable[None]]
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


class AnswerApproval(Protocol):
    """Give the decision; `reason` says why when the host decided for the person, and
    `amendment` that the person also approved the proposed command prefix for later."""

    def __call__(
        self, decision: ReviewDecision, reason: str | None, /, *, amendment: bool = False
    ) -> None: ...


def _unanswerable(decision: ReviewDecision, reason: str | None, /, *, amendment: bool = False) -> None:
    return None


AnswerElicitation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class ApprovalRequest(Event):
    """A command or patch waiting for the person's decision.  Answer it once with
    `approve()`, `deny()`, `abort()` or `decide()`; the turn stays paused until then, or until
    it is interrupted (leaving its `turn()` block denies by interrupting it)."""

    answer: AnswerApproval = field(default=_unanswerable, repr=False, compare=False)
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

    @property
    def proposed_amendment(self) -> list[str]:
        """A command prefix the model proposed for approval beyond this command (empty: none)."""
        return [str(word) for word in self.msg.get("proposed_execpolicy_amendment") or []]

    def decide(self, decision: ReviewDecision, reason: str | None = None, *, amendment: bool = False) -> None:
        """`reason` says why when the host decided for the person (the model is told);
        `amendment` (with an approval) approves the proposed prefix too."""
        approved = decision in ("approved", "approved_for_session")
        self.answer(decision, reason, amendment=amendment and approved)

    def approve(self, *, for_session: bool = False) -> None:
        self.answer("approved_for_session" if for_session else "approved", None)

    def approve_amendment(self) -> None:
        """Approve this command, and for the rest of the session every command that starts
        with `proposed_amendment` (a plain approval when nothing was proposed)."""
        self.answer("approved", None, amendment=bool(self.proposed_amendment))

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


AnswerUserInput = Callable[[dict[str, str] | None], None]


@dataclass(frozen=True, slots=True)
class UserInputRequest(Event):
    """The model asks the person questions (`msg["questions"]`: id, header, question,
    options).  Answer once with `respond({question id: answer})`, `decline()` or
    `cannot_ask()`; the turn waits until then, or until it is interrupted."""

    answer: AnswerUserInput = field(default=lambda answers: None, repr=False, compare=False)

    @property
    def call_id(self) -> str:
        return str(self.msg.get("call_id") or "")

    @property
    def questions(self) -> list[dict[str, Any]]:
        return [q for q in self.msg.get("questions") or [] if isinstance(q, dict)]

    def respond(self, answers: dict[str, str]) -> None:
        self.answer(dict(answers))

    def decline(self) -> None:
        self.answer(None)

    def cannot_ask(self) -> None:
        """Nobody can be asked (the host has no way to show questions): the model is told
        so, rather than that the person declined."""
        self.answer({})
