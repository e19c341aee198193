"""Rollout files: the durable record of a thread, and how a thread is rebuilt from one.

One JSON object per line, `{"timestamp", "type", "payload"}`, in Codex's layout under
`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl`, so Codex tools
can read our files and we can resume theirs.  Every line is written and flushed on its own:
a crash loses at most the line being written, and the reader skips a torn last line.

A rollout is a record, not authority: whoever resumes a thread decides its policies (see
`config.call.resume_config`).  Reading one is bounded all the same, since a file is only as
trustworthy as every process that could write it: regular files only (no symlink as the
file, no FIFO), at most `MAX_ROLLOUT_BYTES` in all and `MAX_ROLLOUT_LINE_BYTES` per line,
and a line that is not a JSON object, or nests absurdly deep, is skipped with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from codex_mcp.errors import RolloutError as RolloutError
from codex_mcp.uuids import canonical as canonical_uuid

log = logging.getLogger(__name__)

MAX_ROLLOUT_BYTES = 256 * 1024 * 1024
"""The largest rollout file a thread is resumed from (its whole history is held in memory)."""
MAX_ROLLOUT_LINE_BYTES = 64 * 1024 * 1024
"""The longest line: room for a tool output carrying images, far below the file limit."""
MAX_NESTING = 128
"""Deeper lines are skipped: no real item nests that far, and replaying one must not overflow."""
_READ_CHUNK = 1 << 20

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

    def __init__(self, path: Path, handle: IO[str] | None = None, size: int = 0) -> None:
        self.path = path
        self._file = handle
        self.size: int | None = size
        """The file's size after our last write (None once a write failed): a different
        size on disk means another process appended (see `changed_elsewhere`)."""

    @classmethod
    def create(cls, path: Path) -> RolloutRecorder:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        return cls(path, os.fdopen(fd, "a", encoding="utf-8"), os.fstat(fd).st_size)

    @classmethod
    def reopen(cls, path: Path) -> RolloutRecorder:
        """Continue an existing file; a torn last line is terminated so new lines stay parseable."""
        recorder = cls(path)
        recorder.resync()
        return recorder

    def resync(self) -> None:
        """Take the file as it is on disk now (another process may have appended): terminate
        a torn last line, and count from its current size.  Only under the rollout's lock."""
        fd, st = _open_rollout(path := self.path)
        try:
            torn = st.st_size > 0 and os.pread(fd, 1, st.st_size - 1) != b"\n"
        finally:
            os.close(fd)
        self.size = st.st_size
        if torn:
            log.warning("the rollout %s ended in a torn line; terminating it", path)
            self._write("\n")

    def changed_elsewhere(self) -> bool:
        """Whether the file is no longer what we last wrote: another process appended."""
        try:
            return os.stat(self.path, follow_symlinks=False).st_size != self.size
        except OSError:
            return True

    def _write(self, text: str) -> None:
        try:
            if self._file is None:
                self._file = _open_for_append(self.path)
            self._file.write(text)
            self._file.flush()
        except (OSError, ValueError) as exc:  # disk full, closed file: keep the thread alive
            log.error("could not write rollout %s: %s", self.path, exc)
            self.size = None
            return
        if self.size is not None:
            self.size += len(text.encode("utf-8"))

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


def _open_for_append(path: Path) -> IO[str]:
    """Append to an existing rollout: never through a symlink, never to a FIFO or device
    (whatever replaced the file since it was created, our lines go nowhere else)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, f"{path} is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "a", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


# --- reading ----------------------------------------------------------------------------


@dataclass
class ResumedThread:
    """What a rollout file holds of a thread: its id, meta, history, last turn context and
    kept events."""

    thread_id: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    turn_context: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)


def find_rollout(codex_home: Path, thread_id: str) -> Path | None:
    """The newest rollout file of a thread, searching day folders newest first.

    Symlinked folders and files are not followed: the sessions tree is ours, and a link in
    it could only point a resume at a file someone else chose."""
    sessions = codex_home / "sessions"
    if not sessions.is_dir() or sessions.is_symlink():
        return None
    suffix = f"-{thread_id}.jsonl"
    for year in _sorted_dirs(sessions):
        for month in _sorted_dirs(year):
            for day in _sorted_dirs(month):
                try:
                    with os.scandir(day) as entries:
                        matches = sorted(
                            Path(e.path)
                            for e in entries
                            if e.name.startswith("rollout-")
                            and e.name.endswith(suffix)
                            and e.is_file(follow_symlinks=False)
                        )
                except OSError:
                    continue
                if matches:
                    return matches[-1]
    return None


def rollout_in_sessions(codex_home: Path, path: Path) -> tuple[Path, str]:
    """(the real path, the thread id) of a rollout file named by the person's config;
    `RolloutError` unless it is a `rollout-<time>-<uuid>.jsonl` inside `$CODEX_HOME/sessions`."""
    sessions = os.path.realpath(codex_home / "sessions")
    real = os.path.realpath(codex_home / os.path.expanduser(str(path)))
    inside = real.startswith(sessions.rstrip(os.sep) + os.sep)
    name = os.path.basename(real)
    if not inside or not name.startswith("rollout-") or not name.endswith(".jsonl"):
        raise RolloutError(
            f"`experimental_resume` must name a rollout file under {sessions}; {path} is not one"
        )
    try:
        thread_id = canonical_uuid(name[: -len(".jsonl")][-36:])
    except ValueError:
        raise RolloutError(f"{path} is not named rollout-<time>-<thread id>.jsonl") from None
    return Path(real), thread_id


def _sorted_dirs(parent: Path) -> list[Path]:
    try:
        with os.scandir(parent) as entries:
            return sorted((Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)), reverse=True)
    except OSError:
        return []


def _open_rollout(path: Path) -> tuple[int, os.stat_result]:
    from codex_mcp.bounded_read import UnreadableFileError, open_regular_file

    try:
        return open_regular_file(path, follow_symlinks=False)
    except UnreadableFileError as exc:
        raise RolloutError(f"the rollout file {path} cannot be read: {exc.strerror or exc}") from exc
    except OSError as exc:
        raise RolloutError(f"cannot read the rollout file {path}: {exc.strerror or exc}") from exc


def _raw_lines(path: Path, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each line from byte `start` on (a line boundary), each at
    most `MAX_ROLLOUT_LINE_BYTES`, the file at most `MAX_ROLLOUT_BYTES`; reads in chunks, so
    time is linear and memory is one line."""
    fd, st = _open_rollout(path)
    try:
        if st.st_size > MAX_ROLLOUT_BYTES:
            raise RolloutError(
                f"the rollout file {path} is {st.st_size} bytes, over the limit of {MAX_ROLLOUT_BYTES} bytes"
            )
        os.set_blocking(fd, True)
        if start:
            os.lseek(fd, start, os.SEEK_SET)
        number = 0
        total = start
        pending: list[bytes] = []
        pending_len = 0
        while True:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except OSError as exc:
                raise RolloutError(f"cannot read the rollout file {path}: {exc.strerror or exc}") from exc
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_ROLLOUT_BYTES:
                raise RolloutError(
                    f"the rollout file {path} grew over the limit of {MAX_ROLLOUT_BYTES} bytes"
                )
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                if end < 0:
                    break
                piece = chunk[start:end]
                if pending_len + len(piece) > MAX_ROLLOUT_LINE_BYTES:
                    raise _line_too_long(path, number + 1)
                number += 1
                yield number, b"".join((*pending, piece)) if pending else piece
                pending, pending_len = [], 0
                start = end + 1
            rest = chunk[start:]
            if rest:
                if pending_len + len(rest) > MAX_ROLLOUT_LINE_BYTES:
                    raise _line_too_long(path, number + 1)
                pending.append(rest)
                pending_len += len(rest)
        if pending:
            yield number + 1, b"".join(pending)
    finally:
        os.close(fd)


def _line_too_long(path: Path, number: int) -> RolloutError:
    return RolloutError(
        f"line {number} of the rollout file {path} is longer than the limit of "
        f"{MAX_ROLLOUT_LINE_BYTES} bytes; the thread cannot be resumed from it"
    )


def _lines(path: Path, start: int = 0) -> Iterator[dict[str, Any]]:
    for number, raw in _raw_lines(path, start):
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            continue
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            log.warning("skipping unreadable line %d of %s", number, path)
            continue
        if not _shallow(obj, MAX_NESTING):
            log.warning("skipping line %d of %s: nested deeper than %d levels", number, path, MAX_NESTING)
            continue
        if isinstance(obj, dict):
            yield obj


def _shallow(obj: Any, limit: int) -> bool:
    """Whether `obj` nests at most `limit` containers deep (checked without recursion, so a
    line that `json` could parse cannot make later encoding or walking of it overflow)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def load_rollout(path: Path, thread_id: str) -> ResumedThread:
    """Rebuild the history a thread had: items in order, with compactions applied.

    Raises `RolloutError` when the file cannot be read within the limits."""
    return _fold(ResumedThread(thread_id=thread_id, path=path), _lines(path))


def load_rollout_tail(path: Path, thread_id: str, start: int, history: list[dict[str, Any]]) -> ResumedThread:
    """`history` (what the file's first `start` bytes hold) with the lines after them
    applied, as `load_rollout` would have built it from the whole file: a thread that
    another process continued reads only what that process appended."""
    return _fold(ResumedThread(thread_id=thread_id, path=path, history=list(history)), _lines(path, start))


def _fold(resumed: ResumedThread, lines: Iterator[dict[str, Any]]) -> ResumedThread:
    for line in lines:
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
    return resumed
