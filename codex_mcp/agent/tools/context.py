"""What every tool handler receives, and the wording they share.

Handlers depend on this module only, never on the registry that dispatches to them, so the
dependency graph stays a tree: registry -> handlers -> context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread

from codex_mcp.agent.model.types import ResponseItem
from codex_mcp.agent.tools.diff import Snapshot, aggregate_diff, snapshot

if TYPE_CHECKING:
    from codex_mcp.agent.session import Thread


@dataclass
class ToolContext:
    """What a handler may use: the thread, the turn, and the turn's record of file changes."""

    thread: Thread
    turn_id: str
    originals: dict[Path, Snapshot] = field(default_factory=dict)
    """Before-turn state of every file the turn's patches touched, by resolved path."""
    shown: dict[Path, Path] = field(default_factory=dict)
    """The path a patch named for each resolved path (for display in the diff)."""
    pending_input: list[ResponseItem] = field(default_factory=list)
    """Items a handler wants the model to see after the call outputs (attached images)."""
    image_bytes: int = 0
    """Size of the images attached in this turn (their data URLs), against the turn's cap."""

    @property
    def changed_paths(self) -> list[Path]:
        return list(self.originals)

    def remember_original(self, path: Path, shown: Path | None = None) -> None:
        """Keep a file's state from before the turn first touched it (for `turn_diff`).

        `path` is the resolved path the writer will touch.  The read is bounded and never
        blocks (see `diff.snapshot`); call it off the event loop all the same.
        """
        if path in self.originals:
            return
        self.originals[path] = snapshot(path)
        if shown is not None:
            self.shown[path] = shown

    def turn_diff(self) -> str:
        """The turn's diff (reads every changed file: call `aturn_diff` on the event loop)."""
        return aggregate_diff(self.originals, self.thread.config.cwd, self.shown)

    async def aturn_diff(self) -> str:
        """`turn_diff` in a worker thread, so slow files cannot stall other sessions."""
        return await anyio.to_thread.run_sync(self.turn_diff)


def rejection_text(base: str, reason: str | None) -> str:
    """The denial the model sees; says why when the host decided for the user."""
    return f"{base} ({reason})" if reason else base
