"""What every tool handler receives, and the wording they share.

Handlers depend on this module only, never on the registry that dispatches to them, so the
dependency graph stays a tree: registry -> handlers -> context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from codex_mcp.agent.model.types import ResponseItem
from codex_mcp.agent.tools.diff import aggregate_diff

if TYPE_CHECKING:
    from codex_mcp.agent.session import Thread


@dataclass
class ToolContext:
    """What a handler may use: the thread, the turn, and the turn's record of file changes."""

    thread: Thread
    turn_id: str
    originals: dict[Path, bytes | None] = field(default_factory=dict)
    pending_input: list[ResponseItem] = field(default_factory=list)
    """Items a handler wants the model to see after the call outputs (attached images)."""
    image_bytes: int = 0
    """Size of the images attached in this turn (their data URLs), against the turn's cap."""

    @property
    def changed_paths(self) -> list[Path]:
        return list(self.originals)

    def remember_original(self, path: Path) -> None:
        """Keep a file's content from before the turn first touched it (for `turn_diff`)."""
        if path in self.originals:
            return
        try:
            self.originals[path] = path.read_bytes()
        except OSError:
            self.originals[path] = None

    def turn_diff(self) -> str:
        return aggregate_diff(self.originals, self.thread.config.cwd)


def rejection_text(base: str, reason: str | None) -> str:
    """The denial the model sees; says why when the host decided for the user."""
    return f"{base} ({reason})" if reason else base
