"""Rollout files: the durable record of a thread, and how a thread is rebuilt from one.

One JSON object per line, `{"timestamp", "type", "payload"}`, in Codex's layout under
`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl`, so Codex tools
can read our files and we can resume theirs.  Every line is written and flushed on its own:
a crash loses at most the line being written, and the reader skips a torn last line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

PERSISTED_EVENTS = frozenset(
    {
        "user_message",
        "agent_message",
        "agent_reasoning",
        "agent_reasoning_raw_content",
        "token_count",
        "turn_aborted",
        "task_complete",
        "context_compacted",
        "error",
        "plan_update",
    }
)


def _utc_timestamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def rollout_path_for(codex_home: Path, thread_id: str, when: datetime | None = None) -> Path:
    local = (when or datetime.now()).astimezone()
    day_dir = codex_home / "sessions" / f"{local:%Y}" / f"{local:%m}" / f"{local:%d}"
    return day_dir / f"rollout-{local:%Y-%m-%dT%H-%M-%S}-{thread_id}.jsonl"


class RolloutRecorder:
    """Appends lines to one rollout file.  Writes are small and synchronous on purpose:
    ordering with the events the client sees is then trivially right.

    The file is open only while there is something to write: a thread releases it after
    each turn, so a server holding thousands of threads does not hold thousands of files.
    """

    def __init__(self, path: Path, handle: IO[str] | None = None) -> None:
        self.path = path
        self._file = handle

    @classmethod
    def create(cls, path: Path) -> RolloutRecorder:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return cls(path, os.fdopen(fd, "a", encoding="utf-8"))

    @classmethod
    def reopen(cls, path: Path) -> RolloutRecorder:
        """Continue an existing file; a torn last line is terminated so new lines stay parseable."""
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            torn = False
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
        recorder = cls(path)
        if torn:
            recorder._write("\n")
        return recorder

    def _write(self, text: str) -> None:
        try:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - owned here
            self._file.write(text)
            self._file.flush()
        except (OSError, ValueError) as exc:  # disk full, closed file: keep the thread alive
            log.error("could not write rollout %s: %s", self.path, exc)

    def record(self, kind: str, payload: Any) -> None:
        line = json.dumps(
            {"timestamp": _utc_timestamp(), "type": kind, "payload": payload}, ensure_ascii=False
        )
        self._write(line + "\n")

    def record_items(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            self.record("response_item", item)

    def record_event(self, msg: dict[str, Any]) -> None:
        if msg.get("type") in PERSISTED_EVENTS:
            self.record("event_msg", msg)

    def close(self) -> None:
        """Release the file; a later write opens it again."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


# --- reading ----------------------------------------------------------------------------


@dataclass
class ResumedThread:
    thread_id: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    turn_context: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


class RolloutError(Exception):
    pass


def find_rollout(codex_home: Path, thread_id: str) -> Path | None:
    """The newest rollout file of a thread, searching day folders newest first."""
    sessions = codex_home / "sessions"
    if not sessions.is_dir():
        return None
    suffix = f"-{thread_id}.jsonl"
    for year in _sorted_dirs(sessions):
        for month in _sorted_dirs(year):
            for day in _sorted_dirs(month):
                matches = sorted(
                    p for p in day.iterdir() if p.name.startswith("rollout-") and p.name.endswith(suffix)
                )
                if matches:
                    return matches[-1]
    return None


def _sorted_dirs(parent: Path) -> list[Path]:
    try:
        return sorted((p for p in parent.iterdir() if p.is_dir()), reverse=True)
    except OSError:
        return []


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                log.warning("skipping unreadable line %d of %s", number, path)
                continue
            if isinstance(obj, dict):
                yield obj


def load_rollout(path: Path, thread_id: str) -> ResumedThread:
    """Rebuild the history a thread had: items in order, with compactions applied."""
    resumed = ResumedThread(thread_id=thread_id, path=path)
    try:
        for line in _lines(path):
            kind, payload = line.get("type"), line.get("payload")
            if kind == "session_meta" and isinstance(payload, dict):
                resumed.meta = payload
            elif kind == "response_item" and isinstance(payload, dict):
                resumed.history.append(payload)
            elif kind == "turn_context" and isinstance(payload, dict):
                resumed.turn_context = payload
            elif kind == "compacted" and isinstance(payload, dict):
                replacement = payload.get("replacement_history")
                if isinstance(replacement, list):
                    resumed.history = [i for i in replacement if isinstance(i, dict)]
            elif kind == "event_msg" and isinstance(payload, dict):
                resumed.events.append(payload)
    except OSError as exc:
        raise RolloutError(f"cannot read the rollout file {path}: {exc}") from exc
    return resumed
