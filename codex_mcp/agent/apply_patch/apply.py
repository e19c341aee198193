"""Writing computed changes to disk, all or nothing, never through a path someone swapped.

:func:`plan_changes` resolves every path a patch writes or deletes to its symlink-free form,
once; those resolved paths are what the safety check judges (``PlannedPatch.touched``).
:func:`apply_planned` then works in three phases, each relative to directory descriptors
opened without following symlinks (see :mod:`.fsops`), so a process racing the writer can
make it fail but never make it write anywhere else:

1. **Stage** -- open (creating if missing) every parent directory, write every new content
   into a temporary file next to its target, and check every file to delete.  Nothing
   visible has changed yet.
2. **Commit** -- for each target, keep the old file under a backup name (a hard link when
   possible), rename the temporary file over it; move each deleted file to a backup name.
   Only when everything succeeded are the backups removed.
3. A failure in any phase undoes what was done: temporary files are removed, backups are
   renamed back and created directories are removed again.  So a patch that fails
   anywhere leaves every file as it was.

Writing to a path that is a symlink writes the file it points to (the resolved path), as
Codex does; deleting a symlink deletes the link.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .changes import AddChange, DeleteChange, FileChange, UpdateChange
from .errors import NoChangesError, WriteError, describe_os_error
from .fsops import (
    DirCache,
    lstat_at,
    quiet_unlink_at,
    regular_mode_at,
    resolve_parent_real,
    resolve_real,
    write_new_file_at,
)

SUMMARY_HEADER = "Success. Updated the following files:\n"
OUTSIDE_BOUNDARY = "outside the places this session may write"


@dataclass(frozen=True)
class ApplyResult:
    """What a successful apply did.  ``summary`` is the text for the model."""

    summary: str
    added: tuple[str, ...]
    modified: tuple[str, ...]
    deleted: tuple[str, ...]
    changes: Mapping[Path, FileChange] = field(default_factory=dict, compare=False)


def format_summary(added: Iterable[str], modified: Iterable[str], deleted: Iterable[str]) -> str:
    """``Success. Updated the following files:`` then ``A``/``M``/``D`` lines."""
    lines = [SUMMARY_HEADER]
    lines.extend(f"A {path}\n" for path in added)
    lines.extend(f"M {path}\n" for path in modified)
    lines.extend(f"D {path}\n" for path in deleted)
    return "".join(lines)


@dataclass(frozen=True)
class PlannedWrite:
    """One file the patch will write: its bytes and the mode to give it."""

    target: str  # absolute, symlink-free
    data: bytes
    mode: int | None  # None: a new file, created with the default (umask) mode


@dataclass(frozen=True)
class PlannedPatch:
    """The exact filesystem effect of some changes: resolved paths to write and to delete."""

    changes: Mapping[Path, FileChange]
    writes: tuple[PlannedWrite, ...]
    deletes: tuple[str, ...]  # absolute; parent symlink-free, last component as named
    named: Mapping[str, Path] = field(default_factory=dict)
    """For each touched path, the path the patch named (before resolution)."""

    @property
    def touched(self) -> tuple[str, ...]:
        """Every path written or deleted, in order, without duplicates."""
        return tuple(dict.fromkeys([w.target for w in self.writes] + list(self.deletes)))


@dataclass
class _Staged:
    """A write staged next to its target (a temporary file in the target's directory), not
    yet renamed over it."""

    dir_fd: int
    temp: str
    name: str
    target: str


@dataclass
class _Txn:
    """What a patch has done so far, so that a failure can undo it: staged writes, committed
    ones with their backups, removed files."""

    staged: list[_Staged] = field(default_factory=list)
    committed: list[tuple[_Staged, str | None]] = field(default_factory=list)  # (write, backup)
    removed: list[tuple[int, str, str]] = field(default_factory=list)  # (dir fd, name, backup)


def plan_changes(changes: Mapping[Path, FileChange]) -> PlannedPatch:
    """Resolve every path of ``changes`` once.  Raises :class:`WriteError` when a path
    cannot be resolved (a NUL byte, a symlink loop, a concurrent rename)."""
    writes: list[PlannedWrite] = []
    deletes: list[str] = []
    named: dict[str, Path] = {}

    def delete(path: Path) -> None:
        real = _resolve(path, "delete", parent_only=True)
        deletes.append(real)
        named.setdefault(real, path)

    for path, change in changes.items():
        if isinstance(change, DeleteChange):
            delete(path)
            continue
        if isinstance(change, AddChange):
            target, content = path, change.content
        else:
            target, content = change.move_path or path, change.new_content
            if target != path:
                delete(path)
        mode = _existing_mode(_resolve(path, "write"))
        real = _resolve(target, "write")
        writes.append(PlannedWrite(real, content.encode("utf-8"), mode))
        named.setdefault(real, target)
    return PlannedPatch(changes, tuple(writes), tuple(deletes), named)


def _resolve(path: Path, verb: str, *, parent_only: bool = False) -> str:
    try:
        return resolve_parent_real(str(path)) if parent_only else resolve_real(str(path))
    except (OSError, ValueError) as exc:
        raise WriteError(f"Failed to {verb} file {path}: {describe_os_error(exc)}") from None


def _existing_mode(real: str) -> int | None:
    try:
        info = os.stat(real, follow_symlinks=False)
    except (OSError, ValueError):
        return None
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else None


def apply_changes(
    changes: Mapping[Path, FileChange], allow: Callable[[str], bool] | None = None
) -> ApplyResult:
    """Plan and apply ``changes`` (as returned by :func:`.changes.compute_changes`)."""
    if not changes:
        raise NoChangesError()
    return apply_planned(plan_changes(changes), allow)


def apply_planned(plan: PlannedPatch, allow: Callable[[str], bool] | None = None) -> ApplyResult:
    """Apply a planned patch atomically.

    ``allow`` (when given) must accept every resolved path, or nothing is written: the
    server's own writes stay inside the session's boundary.  Raises
    :class:`~.errors.NoChangesError` for an empty plan and :class:`~.errors.WriteError` when
    the filesystem refuses an operation or a path changed underneath, in which case no file
    has been changed.
    """
    if not plan.changes:
        raise NoChangesError()
    if allow is not None:
        for path in plan.touched:
            if not allow(path):
                raise WriteError(f"Failed to write file {path}: {OUTSIDE_BOUNDARY}")
    with DirCache() as dirs:
        txn = _Txn()
        try:
            _stage(plan, dirs, txn)
            deletes = _check_deletes(plan.deletes, dirs)
            _commit(deletes, txn)
        except BaseException:
            _rollback(txn)
            dirs.rollback_created()
            raise
        for staged, backup in txn.committed:
            if backup is not None:
                quiet_unlink_at(staged.dir_fd, backup)
        for dir_fd, _, backup in txn.removed:
            quiet_unlink_at(dir_fd, backup)
    return _result(plan.changes)


def _result(changes: Mapping[Path, FileChange]) -> ApplyResult:
    added: list[str] = []
    modified: list[str] = []
    deleted: list[str] = []
    for path, change in changes.items():
        shown = change.display_path or str(_final_path(path, change))
        if isinstance(change, AddChange):
            added.append(shown)
        elif isinstance(change, UpdateChange):
            modified.append(shown)
        else:
            deleted.append(shown)
    return ApplyResult(
        summary=format_summary(added, modified, deleted),
        added=tuple(added),
        modified=tuple(modified),
        deleted=tuple(deleted),
        changes=changes,
    )


def _final_path(path: Path, change: FileChange) -> Path:
    if isinstance(change, UpdateChange) and change.move_path is not None:
        return change.move_path
    return path


def _stage(plan: PlannedPatch, dirs: DirCache, txn: _Txn) -> None:
    for write in plan.writes:
        parent, name = os.path.split(write.target)
        try:
            dir_fd = dirs.open(parent, create=True)
        except (OSError, ValueError) as exc:
            raise WriteError(
                f"Failed to create parent directories for {write.target}: {describe_os_error(exc)}"
            ) from None
        try:
            info = lstat_at(dir_fd, name)
            if info is not None and stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(21, "Is a directory")
            mode = write.mode
            if mode is None and info is not None:
                mode = regular_mode_at(dir_fd, name)
            staged = _Staged(dir_fd, _unique_name(name, "tmp"), name, write.target)
            txn.staged.append(staged)
            write_new_file_at(dir_fd, staged.temp, write.data, mode)
        except (OSError, ValueError) as exc:
            raise WriteError(f"Failed to write file {write.target}: {describe_os_error(exc)}") from None


def _check_deletes(deletes: Iterable[str], dirs: DirCache) -> list[tuple[int, str, str]]:
    out: list[tuple[int, str, str]] = []
    for path in deletes:
        parent, name = os.path.split(path)
        try:
            dir_fd = dirs.open(parent)
            info = lstat_at(dir_fd, name)
            if info is None:
                raise FileNotFoundError(2, "No such file or directory")
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(21, "Is a directory")
        except (OSError, ValueError) as exc:
            raise WriteError(f"Failed to delete file {path}: {describe_os_error(exc)}") from None
        out.append((dir_fd, name, path))
    return out


def _commit(deletes: list[tuple[int, str, str]], txn: _Txn) -> None:
    for staged in list(txn.staged):
        fd, name = staged.dir_fd, staged.name
        try:
            backup, linked = _backup(fd, name)
            try:
                os.replace(staged.temp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                if backup is not None and linked:
                    quiet_unlink_at(fd, backup)  # the target was never moved
                elif backup is not None:
                    _restore(fd, backup, name)
                raise
        except (OSError, ValueError) as exc:
            raise WriteError(f"Failed to write file {staged.target}: {describe_os_error(exc)}") from None
        txn.staged.remove(staged)
        txn.committed.append((staged, backup))
    for fd, name, path in deletes:
        try:
            backup = _unique_name(name, "bak")
            os.replace(name, backup, src_dir_fd=fd, dst_dir_fd=fd)
        except (OSError, ValueError) as exc:
            raise WriteError(f"Failed to delete file {path}: {describe_os_error(exc)}") from None
        txn.removed.append((fd, name, backup))


def _backup(dir_fd: int, name: str) -> tuple[str | None, bool]:
    """Keep the current ``name`` under a backup name in the same directory.

    Returns the backup (None if there is no file) and whether it is a hard link, in
    which case ``name`` itself is still in place.
    """
    if lstat_at(dir_fd, name) is None:
        return None, False
    backup = _unique_name(name, "bak")
    try:
        os.link(name, backup, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        os.replace(name, backup, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)  # no hard links here
        return backup, False
    return backup, True


def _restore(dir_fd: int, backup: str, name: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.replace(backup, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _rollback(txn: _Txn) -> None:
    for fd, name, backup in reversed(txn.removed):
        _restore(fd, backup, name)
    for staged, kept in reversed(txn.committed):
        if kept is not None:
            _restore(staged.dir_fd, kept, staged.name)
        else:
            quiet_unlink_at(staged.dir_fd, staged.name)
    for staged in txn.staged:
        quiet_unlink_at(staged.dir_fd, staged.temp)


def _unique_name(name: str, kind: str) -> str:
    return f".{name[:96]}.{secrets.token_hex(6)}.apply_patch.{kind}"
