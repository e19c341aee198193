"""A thread's history and its rollout file, kept in step: the one place either changes.

Every item appended to the history is written to the rollout as it happens, and so are the
turn contexts, the persisted events and compactions; a thread resumed from the file (here
too) therefore starts from exactly the history it had.  The file format and its bounded
reader are `rollout`; this module decides what is recorded when.

The file is open only while there is something to write (`release` after each turn), so a
server holding thousands of threads does not hold thousands of open files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread

from codex_mcp.agent.config.model import Config
from codex_mcp.agent.events import PERSISTED_EVENTS
from codex_mcp.agent.ids import item_id
from codex_mcp.agent.items import unanswered_call_outputs, with_item_ids
from codex_mcp.agent.model.types import ResponseItem
from codex_mcp.agent.rollout import (
    RolloutRecorder,
    find_rollout,
    load_rollout,
    load_rollout_tail,
    rollout_in_sessions,
    rollout_path_for,
)
from codex_mcp.agent.rollout_lock import RolloutLock
from codex_mcp.errors import ThreadNotFound


@dataclass(frozen=True)
class ResumeRecord:
    """What a thread's rollout file says: its history, metadata and last turn context."""

    path: Path
    items: list[ResponseItem]
    meta: dict[str, Any]
    turn_context: dict[str, Any]
    thread_id: str = ""

    @property
    def instructions(self) -> str | None:
        text = self.meta.get("instructions")
        return text if isinstance(text, str) and text else None

    def recorded_context(self) -> dict[str, Any]:
        """The last turn context, with the session's cwd when no turn recorded one."""
        context = dict(self.turn_context)
        context.setdefault("cwd", self.meta.get("cwd"))
        return context


class History:
    def __init__(self, recorder: RolloutRecorder, items: list[ResponseItem] | None = None) -> None:
        self._recorder = recorder
        self.items: list[ResponseItem] = list(items or [])
        """The conversation, oldest first.  Change it only through this class."""

    @property
    def rollout_path(self) -> Path:
        return self._recorder.path

    # -- starting and resuming ---------------------------------------------------------

    @classmethod
    def create(cls, codex_home: Path, thread_id: str, meta: dict[str, Any]) -> History:
        """A new rollout file for `thread_id`, opened with its `session_meta` line."""
        recorder = RolloutRecorder.create(rollout_path_for(codex_home, thread_id))
        recorder.record("session_meta", {"id": thread_id, "timestamp": now_iso(), **meta})
        return cls(recorder)

    @staticmethod
    async def find(codex_home: Path, thread_id: str) -> ResumeRecord:
        """Read the newest rollout file of `thread_id` (compactions applied).

        Raises `ThreadNotFound` when there is none, `RolloutError` when it cannot be read
        within its limits.  The walk and the read run in a worker thread: a large file must
        not stall other sessions.
        """
        return await History.read(await History.locate(codex_home, thread_id), thread_id)

    @staticmethod
    async def locate(codex_home: Path, thread_id: str) -> Path:
        """The newest rollout file of `thread_id`; `ThreadNotFound` when there is none."""
        path = await anyio.to_thread.run_sync(find_rollout, codex_home, thread_id)
        if path is None:
            raise ThreadNotFound(thread_id)
        return path

    @staticmethod
    async def read(path: Path, thread_id: str) -> ResumeRecord:
        """What the rollout at `path` holds (compactions applied); `RolloutError` when it
        cannot be read within its limits."""
        resumed = await anyio.to_thread.run_sync(load_rollout, path, thread_id)
        return ResumeRecord(path, resumed.history, resumed.meta, resumed.turn_context, thread_id)

    @staticmethod
    async def locate_at(codex_home: Path, path: Path) -> tuple[Path, str]:
        """(the real path, the thread id) of the rollout file at `path` (a config's
        `experimental_resume`).

        Only a `rollout-<time>-<thread id>.jsonl` file inside `$CODEX_HOME/sessions` is
        accepted, judged by its real path: a resume must not become a way to read, or to take
        the history of, a file elsewhere.  Raises `RolloutError` otherwise."""
        return await anyio.to_thread.run_sync(rollout_in_sessions, codex_home, path)

    @classmethod
    async def reopen(cls, record: ResumeRecord) -> History:
        """The history `record` holds, appending to its file from now on."""
        recorder = await anyio.to_thread.run_sync(RolloutRecorder.reopen, record.path)
        return cls(recorder, record.items)

    # -- recording ---------------------------------------------------------------------

    def append(self, items: list[ResponseItem]) -> None:
        """Keep `items`; those this server made get an id first (`msg_`, `fco_`, `ctco_`),
        so the history, the rollout and every request carry the same item."""
        if items:
            items = with_item_ids(items, item_id)
            self.items.extend(items)
            self._recorder.record_items(items)

    def record_turn_context(self, config: Config) -> None:
        """The settings a turn runs under (what a resume reads back as the record)."""
        self._recorder.record(
            "turn_context",
            {
                "cwd": str(config.cwd),
                "approval_policy": config.approval_policy,
                "sandbox_policy": config.sandbox_policy.to_json(),
                "model": config.model,
                "effort": config.model_reasoning_effort,
                "summary": config.model_reasoning_summary,
            },
        )

    def record_event(self, msg: dict[str, Any]) -> None:
        """Keep an event in the rollout when it is one of the persisted kinds."""
        if msg["type"] in PERSISTED_EVENTS:
            self._recorder.record("event_msg", msg)

    def replace(self, items: list[ResponseItem], summary: str) -> None:
        """Compaction: `items` become the history, and the rollout says so."""
        items = with_item_ids(items, item_id)
        self._recorder.record("compacted", {"message": summary, "replacement_history": items})
        self.items = list(items)

    def close_dangling_calls(self, output: str) -> None:
        """Give every tool call of an aborted round an output, so the history stays valid."""
        self.append(unanswered_call_outputs(self.items, output))

    def release(self) -> None:
        """Close the rollout file until the next write (which reopens it)."""
        self._recorder.close()

    # -- sharing the file with other processes -------------------------------------------

    def lock(self) -> RolloutLock:
        """The rollout's cross-process lock (not taken yet; see `rollout_lock`)."""
        return RolloutLock(self._recorder.path)

    def changed_elsewhere(self) -> bool:
        """Whether another process appended to the rollout since our last write."""
        return self._recorder.changed_elsewhere()

    async def reload(self, thread_id: str) -> None:
        """Take up what another process added: the history as the file now holds it.
        Only under the rollout's lock.

        When the file only grew past our last line, only the appended lines are read (a
        2,000-item thread took ~38 ms to read whole); anything else (it shrank, our last
        write failed) reads it all again."""
        path = self._recorder.path
        start = self._recorder.size
        if start is not None and 0 < start <= await anyio.to_thread.run_sync(_size_of, path):
            resumed = await anyio.to_thread.run_sync(load_rollout_tail, path, thread_id, start, self.items)
            self.items = resumed.history
        else:
            record = await History.read(path, thread_id)
            self.items = list(record.items)
        await anyio.to_thread.run_sync(self._recorder.resync)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _size_of(path: Path) -> int:
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return -1
