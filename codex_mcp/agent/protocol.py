"""The agent's submission/event protocol, in Codex's JSON shapes.

An `Event` is `{id, msg}` where `msg` is `{"type": <snake_case>, ...payload}` exactly as it
goes on the wire inside `codex/event`; keeping it a dict means relaying an event costs one
`json.dumps`, which matters at tens of thousands of deltas per second.  Ops are small
dataclasses: they never leave the process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

ReviewDecision = Literal["approved", "approved_for_session", "denied", "abort"]
REVIEW_DECISIONS: tuple[ReviewDecision, ...] = ("approved", "approved_for_session", "denied", "abort")

INITIAL_SUBMIT_ID = ""


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    msg: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.msg["type"])

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "msg": self.msg}


# --- ops ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextInput:
    text: str


@dataclass(frozen=True, slots=True)
class ImageInput:
    image_url: str


@dataclass(frozen=True, slots=True)
class LocalImageInput:
    path: str


UserInput = TextInput | ImageInput | LocalImageInput


@dataclass(frozen=True, slots=True)
class UserInputOp:
    items: tuple[UserInput, ...]


@dataclass(frozen=True, slots=True)
class InterruptOp:
    pass


@dataclass(frozen=True, slots=True)
class ExecApprovalOp:
    call_id: str
    decision: ReviewDecision
    reason: str | None = None  # why, when the host decided on the user's behalf (shown to the model)


@dataclass(frozen=True, slots=True)
class PatchApprovalOp:
    call_id: str
    decision: ReviewDecision
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ShutdownOp:
    pass


# --- MCP client (issue 7): the host's answer to an `elicitation_request` event ---
@dataclass(frozen=True, slots=True)
class ResolveElicitationOp:
    server_name: str
    request_id: str | int
    result: dict[str, Any]  # an MCP ElicitResult: {"action": accept|decline|cancel, "content"?: {...}}


Op = UserInputOp | InterruptOp | ExecApprovalOp | PatchApprovalOp | ShutdownOp | ResolveElicitationOp


# --- helpers for payloads ----------------------------------------------------------------

TURN_ENDING_EVENTS = frozenset({"task_complete", "turn_aborted", "error"})
"""A turn ends with exactly one of these (`error` only for a fatal failure)."""


def duration_json(seconds: float) -> dict[str, int]:
    """Codex serialises Rust `Duration` as `{secs, nanos}`."""
    secs = int(seconds)
    return {"secs": secs, "nanos": round((seconds - secs) * 1e9)}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class TokenUsageInfo:
    total: dict[str, int] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)
    model_context_window: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "total_token_usage": self.total,
            "last_token_usage": self.last,
            "model_context_window": self.model_context_window,
        }
