"""The server-wide count of live command processes: those of process sessions, and
one-shot commands (`shell`, `shell_command`) while they run.

Each thread keeps at most 64 sessions (`unified.py`), but a server runs many threads at
once (concurrent calls over stdio, sessions over `--http`), so per-thread limits alone let
one server hold thousands of processes.  A `ProcessBudget` is shared by every thread of one
server: a command takes a `ProcessSlot` before anything is spawned and gives it back once
its process is gone (exited and reaped, killed, pruned, cancelled, its thread closed).  At
the limit a new command is refused; nothing else is ended to make room, so one caller can
never end another caller's processes.

Taking a slot is a check and an increment under one lock, with no await in between: many
threads starting commands at the same instant cannot overshoot the limit.  Giving a slot
back twice counts once, so a release on every path that may end a process cannot drift.
"""

from __future__ import annotations

import threading

from codex_mcp.agent.exec.unified_api import UnifiedExecError

__all__ = ["ProcessBudget", "ProcessLimitError", "ProcessSlot"]


class ProcessLimitError(UnifiedExecError):
    """The server already runs as many command processes as it allows (all threads
    together): nothing was started."""

    def __init__(self, limit: int, own: int) -> None:
        super().__init__(
            f"this server already runs {limit} processes for commands, its limit for all threads together "
            f"(`[codex_mcp] exec_server_max_processes`; {own} of them are yours), so this "
            "command was not started. End the sessions you no longer need (send Ctrl-C or `exit` "
            "with write_stdin, or poll them with write_stdin until they exit) or wait for running "
            "commands to finish, then try again."
        )
        self.limit = limit


class ProcessSlot:
    """One live process's share of a budget; `release()` gives it back (idempotent)."""

    __slots__ = ("_budget",)

    def __init__(self, budget: ProcessBudget) -> None:
        self._budget: ProcessBudget | None = budget

    @property
    def held(self) -> bool:
        return self._budget is not None

    def release(self) -> None:
        budget, self._budget = self._budget, None
        if budget is not None:
            budget._give_back()


class ProcessBudget:
    """At most `limit` slots taken at once.  Safe to share between event loops and threads.

    The limit may be left for later (None) when the budget is made before the configuration
    is read (one budget shared by the agents of an HTTP server's sessions): the first owner
    that knows it sets it (`configure`), and until then nothing can be taken."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit: int | None = None
        self._live = 0
        self._lock = threading.Lock()
        if limit is not None:
            self.configure(limit)

    def configure(self, limit: int) -> None:
        """Set the limit if none is set yet (the first setting wins: it is the server's)."""
        if limit < 1:
            raise ValueError("the process limit must be at least 1")
        with self._lock:
            if self.limit is None:
                self.limit = limit

    @property
    def live(self) -> int:
        """Slots taken now (processes started and not yet gone, plus starts in progress)."""
        return self._live

    def try_take(self) -> ProcessSlot | None:
        """A slot, or None when `limit` are taken (then nothing changed)."""
        with self._lock:
            if self.limit is None:
                raise RuntimeError("the process budget has no limit yet (configure it first)")
            if self._live >= self.limit:
                return None
            self._live += 1
        return ProcessSlot(self)

    def take(self, own: int) -> ProcessSlot:
        """A slot, or `ProcessLimitError` (whose text names the limit and what to do; `own`
        is how many of the live processes are the caller's)."""
        slot = self.try_take()
        if slot is None:
            raise ProcessLimitError(self.limit or 0, own)
        return slot

    def _give_back(self) -> None:
        with self._lock:
            self._live -= 1
