"""Where a call's messages go, when that is not simply "the request's own"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from codex_mcp.outgoing import Route


@dataclass(frozen=True)
class CallRoute:
    """Where the messages of a call go and what they carry, when that is not simply "the
    request's own" (a task-augmented call, answered at once with its task)."""

    key: Route
    """What every notification and question of the call is queued under."""
    meta: dict[str, Any]
    """Added to the `_meta` of each of them (the related task)."""
    waiting: Callable[[bool], Awaitable[None]]
    """Told when a question to the person starts (True) and ends (False)."""
    step: Callable[[str], None]
    """Told what the turn is doing now (the progress message of each step)."""
