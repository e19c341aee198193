"""What every tool handler receives: values and callables, never the thread.

A handler sees the session's configuration, the turn it runs in, and a few callables:
`emit` (an event of this turn), `ask_approval` (wait for the person's decision; `abort`
stops the turn before it returns) and `remember_original` (a file's state before the turn
first touched it, for `turn_diff`); and the thread's process sessions, which belong to the
thread, not to the turn.  So a handler can be driven in a unit test with fakes,
and it cannot reach anything else of the thread.

Handlers depend on this module only, never on the registry that dispatches to them, so the
dependency graph stays a tree: registry -> handlers -> context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import anyio.to_thread

from codex_mcp.agent.approvals import Decision, SessionGrants
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.events import Emit
from codex_mcp.agent.handlers.diff import Snapshot, aggregate_diff, snapshot
from codex_mcp.agent.model.types import ResponseItem
from codex_mcp.sandbox.boundary import NetworkAttacher

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import (
        ExecApprovalRequestMsg,
        PatchApprovalRequestMsg,
        UserInputRequestMsg,
    )
    from codex_mcp.agent.exec.sessions_host import ThreadSessions

AskApproval = Callable[["ExecApprovalRequestMsg | PatchApprovalRequestMsg"], Awaitable[Decision]]
"""Ask the person; returns the decision (an `abort` decision cancels the turn first)."""
AskUser = Callable[["UserInputRequestMsg"], Awaitable[dict[str, str] | None]]
"""Put the model's questions to the person; their answers by question id, None when they
declined or did not answer in time, an empty mapping when nobody can be asked."""


class McpTools(Protocol):
    """The thread's MCP servers, as far as a tool call needs them."""

    def owns(self, name: str) -> bool: ...

    async def call(
        self, call_id: str, name: str, arguments: dict[str, Any] | None, emit: Emit
    ) -> str | list[dict[str, Any]]: ...


class TurnChanges:
    """The before-turn state of every file the turn's patches touched (for `turn_diff`)."""

    def __init__(self, cwd: Path) -> None:
        self._cwd = cwd
        self.originals: dict[Path, Snapshot] = {}
        """By resolved path."""
        self.shown: dict[Path, Path] = {}
        """The path a patch named for each resolved path (for display in the diff)."""
        self.writes = 0
        """Patches applied so far in the turn (each one is followed by a `turn_diff`)."""

    @property
    def paths(self) -> list[Path]:
        return list(self.originals)

    def remember(self, path: Path, shown: Path | None = None) -> None:
        """Keep `path`'s state from before the turn first touched it.

        `path` is the resolved path the writer will touch.  The read is bounded and never
        blocks (see `diff.snapshot`); call it off the event loop all the same.
        """
        if path in self.originals:
            return
        self.originals[path] = snapshot(path)
        if shown is not None:
            self.shown[path] = shown

    def diff(self) -> str:
        """The turn's diff (reads every changed file: use `adiff` on the event loop)."""
        return aggregate_diff(self.originals, self._cwd, self.shown)

    async def adiff(self) -> str:
        """`diff` in a worker thread, so slow files cannot stall other sessions."""
        return await anyio.to_thread.run_sync(self.diff)


@dataclass
class HandlerContext:
    """What a handler of a model tool gets from the turn: values and callables, never the
    thread."""

    turn_id: str
    config: Config
    emit: Emit
    ask_approval: AskApproval
    grants: SessionGrants
    """Commands and paths the person approved for the whole session."""
    changes: TurnChanges
    mcp: McpTools | None = None
    network: NetworkAttacher | None = None
    """The thread's network proxy: pass it to `confine.session_boundary` so that the command's
    sandbox reaches hosts through it (None: no proxy, the network is what the policy says)."""
    ask_user: AskUser | None = None
    """None: nobody can be asked (the model is told so)."""
    image_detail_original: bool = False
    """The family takes images at their original resolution (`view_image` `detail`)."""
    pending_input: list[ResponseItem] = field(default_factory=list)
    """Items a handler wants the model to see after the call outputs (attached images)."""
    image_bytes: int = 0
    """Size of the images attached in this turn (their data URLs), against the turn's cap."""
    sessions: ThreadSessions | None = None
    """The thread's process sessions (`exec_command`, `write_stdin`); they outlive the turn."""

    def remember_original(self, path: Path, shown: Path | None = None) -> None:
        self.changes.remember(path, shown)


def rejection_text(base: str, reason: str | None) -> str:
    """The denial the model sees; says why when the host decided for the user."""
    return f"{base} ({reason})" if reason else base
