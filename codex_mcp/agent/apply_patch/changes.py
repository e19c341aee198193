"""From a parsed patch to the per-file changes it would make (reads files, never writes).

:func:`compute_changes` resolves every path against the working directory, reads the
files the patch needs, applies the patch in memory and returns one :class:`FileChange`
per affected file, keyed by absolute path.  Hunks are applied in order against an
in-memory view, so a patch may touch the same file several times (add it, then update
it; update it twice; ...) and the result is the net effect.

The change objects carry everything :func:`.apply.apply_changes` needs to write the
result, plus the path as the patch spelled it (for the success summary).  Use
:func:`file_change_to_json` for the protocol's ``FileChange`` JSON shape.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codex_mcp.bounded_read import UnreadableFileError, read_regular_file

from .diff import Region, unified_diff
from .errors import VerificationError, describe_os_error
from .fsops import resolve_real
from .limits import MAX_PATCH_READ_BYTES, MAX_TARGET_FILE_BYTES
from .parser import AddFile, DeleteFile, Patch, UpdateFile
from .update import apply_chunks

DIFF_CONTEXT_LINES = 1


@dataclass(frozen=True)
class AddChange:
    """A file that will be created (or overwritten) with ``content``."""

    content: str
    display_path: str = field(default="", compare=False)


@dataclass(frozen=True)
class DeleteChange:
    """A file that will be removed; ``content`` is what it holds now."""

    content: str
    display_path: str = field(default="", compare=False)


@dataclass(frozen=True)
class UpdateChange:
    """A file whose content changes, possibly while moving to ``move_path``."""

    unified_diff: str
    move_path: Path | None
    new_content: str
    original_content: str = field(default="", compare=False)
    display_path: str = field(default="", compare=False)
    """The path as written in the patch; for a move, the destination's."""


FileChange = AddChange | DeleteChange | UpdateChange


def file_change_to_json(change: FileChange) -> dict[str, Any]:
    """The protocol's ``FileChange`` object (tagged by ``type``)."""
    if isinstance(change, AddChange):
        return {"type": "add", "content": change.content}
    if isinstance(change, DeleteChange):
        return {"type": "delete", "content": change.content}
    move = None if change.move_path is None else str(change.move_path)
    return {"type": "update", "unified_diff": change.unified_diff, "move_path": move}


def changes_to_json(changes: Mapping[Path, FileChange]) -> dict[str, dict[str, Any]]:
    """``{absolute path: FileChange JSON}``, as sent in approval requests and events."""
    return {str(path): file_change_to_json(change) for path, change in changes.items()}


def resolve_path(cwd: Path, path: str | Path) -> Path:
    """Join ``path`` onto ``cwd`` (absolute paths win) and normalise it lexically."""
    return Path(os.path.abspath(os.path.join(cwd, path)))


def read_text_file(path: Path, limit: int = MAX_TARGET_FILE_BYTES) -> str:
    """Read a UTF-8 file without newline translation, as the patch engine reads every file:
    symlinks resolved first, regular files only (a FIFO, device or /proc file is refused
    without blocking), at most `limit` bytes."""
    real = resolve_real(str(path))
    info = os.stat(real)  # never blocks, whatever the file is
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory")
    data = read_regular_file(real, limit=limit, follow_symlinks=False)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("stream did not contain valid UTF-8") from None


_MISSING = "No such file or directory (os error 2)"


class _Workspace:
    """The files as the patch sees them: disk contents overlaid with earlier hunks."""

    def __init__(self) -> None:
        self._disk: dict[Path, str | None] = {}
        self._budget = MAX_PATCH_READ_BYTES
        self.state: dict[Path, str | None] = {}
        self.first_kind: dict[Path, str] = {}
        self.display: dict[Path, str] = {}
        self.moves: dict[Path, Path] = {}
        self.single_update: dict[Path, tuple[Region, ...] | None] = {}

    def touch(self, path: Path, kind: str, written: str) -> None:
        self.first_kind.setdefault(path, kind)
        self.display.setdefault(path, written)

    def on_disk(self, path: Path) -> str | None:
        """The file's content before the patch; None if it does not exist."""
        if path not in self._disk:
            try:
                text = read_text_file(path, min(MAX_TARGET_FILE_BYTES, self._budget))
            except FileNotFoundError:
                self._disk[path] = None
            except UnreadableFileError as exc:
                if exc.errno == errno.EFBIG and self._budget < MAX_TARGET_FILE_BYTES:
                    raise UnreadableFileError(
                        errno.EFBIG,
                        f"the files this patch reads are over {MAX_PATCH_READ_BYTES} bytes together; "
                        "split it into several patches",
                    ) from None
                raise
            else:
                self._budget -= len(text)
                self._disk[path] = text
        return self._disk[path]

    def current(self, path: Path, what: str) -> str:
        """The file's content at this point of the patch; ``what`` prefixes errors."""
        try:
            text = self.state[path] if path in self.state else self.on_disk(path)
        except (OSError, ValueError) as exc:
            raise VerificationError(f"{what} {path}: {describe_os_error(exc)}") from None
        if text is None:
            raise VerificationError(f"{what} {path}: {_MISSING}")
        return text


def compute_changes(patch: Patch, cwd: Path) -> dict[Path, FileChange]:
    """Work out what ``patch`` would do to the files under ``cwd``.

    Relative patch paths are joined onto ``cwd``; absolute ones are used as they are.
    Raises :class:`~.errors.VerificationError` when the patch does not fit the files.
    Returns an empty dict for a patch without hunks.
    """
    ws = _Workspace()
    for hunk in patch.hunks:
        path = resolve_path(cwd, hunk.path)
        if isinstance(hunk, AddFile):
            ws.touch(path, "add", hunk.path)
            ws.state[path] = hunk.contents
            ws.single_update[path] = None
        elif isinstance(hunk, DeleteFile):
            ws.touch(path, "delete", hunk.path)
            ws.current(path, "Failed to read")
            ws.state[path] = None
            ws.single_update[path] = None
        else:
            _update(ws, cwd, path, hunk)
    return _net_changes(ws)


def _update(ws: _Workspace, cwd: Path, path: Path, hunk: UpdateFile) -> None:
    ws.touch(path, "update", hunk.path)
    before = ws.current(path, "Failed to read file to update")
    result = apply_chunks(before, hunk.chunks, str(path))
    first_update = path not in ws.single_update and path not in ws.state
    dest = path
    if hunk.move_path is not None:
        dest = resolve_path(cwd, hunk.move_path)
    if dest != path:
        ws.touch(dest, "move", hunk.move_path or hunk.path)
        ws.state[path] = None
        ws.moves[path] = dest
        ws.single_update[path] = None
        ws.single_update[dest] = result.regions if first_update else None
    else:
        ws.single_update[path] = result.regions if first_update else None
    ws.state[dest] = result.text


def _diff(old: str, new: str, regions: tuple[Region, ...] | None) -> str:
    if "\r\n" in old and old.count("\n") == old.count("\r\n"):
        old = old.replace("\r\n", "\n")
        new = new.replace("\r\n", "\n")
    return unified_diff(old, new, DIFF_CONTEXT_LINES, regions)


def _net_changes(ws: _Workspace) -> dict[Path, FileChange]:
    changes: dict[Path, FileChange] = {}
    covered: set[Path] = set()
    for path in ws.first_kind:
        if path in covered:
            continue
        covered.add(path)
        final = ws.state.get(path)
        dest = ws.moves.get(path)
        if final is None and dest is not None and dest not in covered:
            original = _disk_or_error(ws, path)
            moved = ws.state.get(dest)
            if original is not None and moved is not None:
                covered.add(dest)
                changes[path] = UpdateChange(
                    unified_diff=_diff(original, moved, ws.single_update.get(dest)),
                    move_path=dest,
                    new_content=moved,
                    original_content=original,
                    display_path=ws.display[dest],
                )
                continue
        display = ws.display[path]
        if final is None:
            original = _disk_or_error(ws, path)
            if original is not None:
                changes[path] = DeleteChange(content=original, display_path=display)
            continue
        original = None if ws.first_kind[path] == "add" else _maybe_on_disk(ws, path)
        if original is None:
            changes[path] = AddChange(content=final, display_path=display)
        else:
            changes[path] = UpdateChange(
                unified_diff=_diff(original, final, ws.single_update.get(path)),
                move_path=None,
                new_content=final,
                original_content=original,
                display_path=display,
            )
    return changes


def _disk_or_error(ws: _Workspace, path: Path) -> str | None:
    try:
        return ws.on_disk(path)
    except (OSError, ValueError) as exc:
        raise VerificationError(f"Failed to read {path}: {describe_os_error(exc)}") from None


def _maybe_on_disk(ws: _Workspace, path: Path) -> str | None:
    try:
        return ws.on_disk(path)
    except (OSError, ValueError):
        return None
