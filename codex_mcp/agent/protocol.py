"""Ops: what a host submits to a thread besides starting turns (`Thread.submit`).

Ops are small frozen dataclasses; they never leave the process.  The events a thread
emits, and the answer helpers on its approval and elicitation events, are in `events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codex_mcp.agent.events import REVIEW_DECISIONS, Event, ReviewDecision

__all__ = [
    "REVIEW_DECISIONS",
    "Event",
    "ExecApprovalOp",
    "ImageInput",
    "InterruptOp",
    "LocalImageInput",
    "Op",
    "PatchApprovalOp",
    "ResolveElicitationOp",
    "ReviewDecision",
    "ShutdownOp",
    "TextInput",
    "UserInput",
    "UserInputOp",
]


@dataclass(frozen=True, slots=True)
class TextInput:
    """Text the person typed."""

    text: str


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image given by URL (a data URL or a remote one)."""

    image_url: str


@dataclass(frozen=True, slots=True)
class LocalImageInput:
    """An image given by a path on this machine (read and attached by the thread)."""

    path: str


UserInput = TextInput | ImageInput | LocalImageInput


@dataclass(frozen=True, slots=True)
class UserInputOp:
    """Start a turn with these inputs."""

    items: tuple[UserInput, ...]


@dataclass(frozen=True, slots=True)
class InterruptOp:
    """Interrupt the running turn."""


@dataclass(frozen=True, slots=True)
class ExecApprovalOp:
    """The host's answer to an `exec_approval_request` event."""

    call_id: str
    decision: ReviewDecision
    reason: str | None = None  # why, when the host decided on the user's behalf (shown to the model)


@dataclass(frozen=True, slots=True)
class PatchApprovalOp:
    """The host's answer to an `apply_patch_approval_request` event."""

    call_id: str
    decision: ReviewDecision
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ShutdownOp:
    """Close the thread."""


@dataclass(frozen=True, slots=True)
class ResolveElicitationOp:
    """The host's answer to an `elicitation_request` event (or use `ElicitationRequest.resolve`)."""

    server_name: str
    request_id: str | int
    result: dict[str, Any]  # an MCP ElicitResult: {"action": accept|decline|cancel, "content"?: {...}}


Op = UserInputOp | InterruptOp | ExecApprovalOp | PatchApprovalOp | ShutdownOp | ResolveElicitationOp
