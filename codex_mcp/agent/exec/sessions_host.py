"""The process sessions of one thread, started on first use and closed with the thread.

A thread's sessions must outlive the turn (and the tool call) that started them: a dev
server started in one turn answers `curl` in the next, and an interrupted turn leaves them
running, as the reference does.  So their manager lives in a task of the thread's owner
(`Codex`), not of the turn, and is only started when the model first runs `exec_command`
(a thread that never does costs nothing).  It is closed, every process tree killed and
reaped, when the thread is closed, shut down or evicted, and when the owner exits.

Every thread's manager counts its processes against the owner's one `ProcessBudget`
(`budget.py`): the limit holds across all threads of a server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from codex_mcp.errors import ThreadClosed

if TYPE_CHECKING:
    from codex_mcp.agent.exec.budget import ProcessBudget, ProcessSlot
    from codex_mcp.agent.exec.unified import UnifiedExecManager

__all__ = ["ThreadSessions"]


class ThreadSessions:
    """See the module docstring.  `manager()` starts the manager if needed; `existing()`
    never starts one (what `write_stdin` uses: no manager, no session)."""

    def __init__(
        self,
        task_group: TaskGroup,
        *,
        max_lifetime_s: float,
        budget: Callable[[], ProcessBudget] | None = None,
    ) -> None:
        """`budget` gives the owner's shared budget (asked when the manager starts, so a
        thread that never runs a command does not make the owner resolve it)."""
        self._task_group = task_group
        self._max_lifetime_s = max_lifetime_s
        self._budget = budget
        self._manager: UnifiedExecManager | None = None
        self._lock = anyio.Lock()
        self._closed = False

    def existing(self) -> UnifiedExecManager | None:
        return self._manager

    async def manager(self) -> UnifiedExecManager:
        """The thread's manager, started in the owner's task group on first use.  Raises
        `ThreadClosed` once the sessions were closed."""
        async with self._lock:
            if self._closed:
                raise ThreadClosed("this thread has been shut down")
            if self._manager is None:
                # Imported here, like the manager is made here: with it the process
                # machinery, which a thread that never runs `exec_command` does not need.
                from codex_mcp.agent.exec.unified import UnifiedExecManager

                budget = self._budget() if self._budget is not None else None
                manager = UnifiedExecManager(max_lifetime_s=self._max_lifetime_s, budget=budget)
                await manager.open(self._task_group)
                self._manager = manager
            return self._manager

    def take_slot(self) -> ProcessSlot | None:
        """A slot of the server's budget for a one-shot command (`shell`, `shell_command`),
        which counts like a session's process while it runs; None when the owner keeps no
        budget.  `ProcessLimitError` when the server's limit is reached."""
        if self._budget is None:
            return None
        own = self._manager.live_count if self._manager is not None else 0
        return self._budget().take(own)

    def request_close(self) -> None:
        """End every session soon (for callers that cannot wait); no new ones start."""
        self._closed = True
        if self._manager is not None:
            self._manager.request_close()

    async def aclose(self) -> None:
        """End every session and wait until their processes are reaped (bounded)."""
        self.request_close()
        async with self._lock:  # a manager being started right now is closed too
            manager = self._manager
        if manager is not None:
            await manager.aclose()
