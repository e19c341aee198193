"""Writing computed changes to disk, all or nothing.

:func:`apply_changes` works in three phases:

1. **Plan** -- turn the changes into writes (target, bytes, mode) and deletions.
2. **Stage** -- create missing parent directories (remembering which), write every new
   content into a temporary file next to its target, and check every file to delete.
   Nothing visible has changed yet.
3. **Commit** -- for each target, keep the old file under a backup name (a hard link
   when possible), rename the temporary file over it; move each deleted file to a
   backup name.  Only when everything succeeded are the backups removed.

A failure in any phase undoes what was done: temporary files are removed, backups are
renamed back and created directories are removed again.  So a patch that fails
anywhere leaves every file as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .changes import AddChange, DeleteChange, FileChange, UpdateChange
from .errors import NoChangesError, WriteError, describe_os_error

SUMMARY_HEADER = "Success. Updated the following files:\n"


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


@dataclass
class _Write:
    target: Path
    data: bytes
    mode: int | None  # None: a new file, created with the default (umask) mode


@dataclass
class _Txn:
    created_dirs: list[Path] = field(default_factory=list)
    staged: list[tuple[Path, Path]] = field(default_factory=list)  # (temp file, target)
    committed: list[tuple[Path, Path | None]] = field(default_factory=list)  # (target, backup)
    removed: list[tuple[Path, Path]] = field(default_factory=list)  # (deleted path, backup)


def apply_changes(changes: Mapping[Path, FileChange]) -> ApplyResult:
    """Apply ``changes`` (as returned by :func:`.changes.compute_changes`) atomically.

    Raises :class:`~.errors.NoChangesError` for an empty mapping and
    :class:`~.errors.WriteError` when the filesystem refuses an operation, in which
    case no file has been changed.
    """
    if not changes:
        raise NoChangesError()
    writes, deletes = _plan(changes)
    txn = _Txn()
    try:
        _stage(writes, deletes, txn)
        _commit(deletes, txn)
    except BaseException:
        _rollback(txn)
        raise
    for _, backup in txn.committed:
        if backup is not None:
            _quiet_unlink(backup)
    for _, backup in txn.removed:
        _quiet_unlink(backup)

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


def _plan(changes: Mapping[Path, FileChange]) -> tuple[list[_Write], list[Path]]:
    writes: list[_Write] = []
    deletes: list[Path] = []
    for path, change in changes.items():
        if isinstance(change, DeleteChange):
            deletes.append(path)
            continue
        if isinstance(change, AddChange):
            target, content, mode_source = path, change.content, path
        else:
            target = change.move_path or path
            content, mode_source = change.new_content, path
            if target != path:
                deletes.append(path)
        writes.append(_Write(_follow_link(target), content.encode("utf-8"), _existing_mode(mode_source)))
    return writes, deletes


def _follow_link(path: Path) -> Path:
    """Writing through a symlink updates the file it points to, not the link."""
    try:
        if path.is_symlink():
            return Path(os.path.realpath(path))
    except (OSError, ValueError):
        pass
    return path


def _existing_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except (OSError, ValueError):
        return None


def _stage(writes: list[_Write], deletes: list[Path], txn: _Txn) -> None:
    for write in writes:
        target = write.target
        try:
            _make_parents(target.parent, txn.created_dirs)
        except (OSError, ValueError) as exc:
            raise WriteError(
                f"Failed to create parent directories for {target}: {describe_os_error(exc)}"
            ) from None
        try:
            if target.is_dir():
                raise IsADirectoryError(21, "Is a directory")
            temp = _unique_sibling(target, "tmp")
            txn.staged.append((temp, target))
            _write_new_file(temp, write.data, write.mode)
        except (OSError, ValueError) as exc:
            raise WriteError(f"Failed to write file {target}: {describe_os_error(exc)}") from None
    for path in deletes:
        try:
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(21, "Is a directory")
        except (OSError, ValueError) as exc:
            raise WriteError(f"Failed to delete file {path}: {describe_os_error(exc)}") from None


def _commit(deletes: list[Path], txn: _Txn) -> None:
    for temp, target in list(txn.staged):
        try:
            backup, linked = _backup(target)
            try:
                os.replace(temp, target)
            except BaseException:
                if backup is not None and linked:
                    _quiet_unlink(backup)  # the target was never moved
                elif backup is not None:
                    _restore(backup, target)
                raise
        except (OSError, ValueError) as exc:
            raise WriteError(f"Failed to write file {target}: {describe_os_error(exc)}") from None
        txn.staged.remove((temp, target))
        txn.committed.append((target, backup))
    for path in deletes:
        try:
            backup = _unique_sibling(path, "bak")
            os.replace(path, backup)
        except (OSError, ValueError) as exc:
            raise WriteError(f"Failed to delete file {path}: {describe_os_error(exc)}") from None
        txn.removed.append((path, backup))


def _backup(target: Path) -> tuple[Path | None, bool]:
    """Keep the current ``target`` under a backup name.

    Returns the backup (None if there is no file) and whether it is a hard link, in
    which case ``target`` itself is still in place.
    """
    if not os.path.lexists(target):
        return None, False
    backup = _unique_sibling(target, "bak")
    try:
        os.link(target, backup, follow_symlinks=False)
    except OSError:
        os.replace(target, backup)  # no hard links here: move it aside instead
        return backup, False
    return backup, True


def _restore(backup: Path, target: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.replace(backup, target)


def _rollback(txn: _Txn) -> None:
    for path, backup in reversed(txn.removed):
        _restore(backup, path)
    for target, kept in reversed(txn.committed):
        if kept is not None:
            _restore(kept, target)
        else:
            _quiet_unlink(target)
    for temp, _ in txn.staged:
        _quiet_unlink(temp)
    for directory in reversed(txn.created_dirs):
        with contextlib.suppress(OSError, ValueError):
            os.rmdir(directory)


def _make_parents(directory: Path, created: list[Path]) -> None:
    missing: list[Path] = []
    probe = directory
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            if not path.is_dir():
                raise
            continue
        created.append(path)


def _unique_sibling(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name[:96]}.{secrets.token_hex(6)}.apply_patch.{kind}")


def _write_new_file(path: Path, data: bytes, mode: int | None) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o666)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
    if mode is not None:
        os.chmod(path, mode)


def _quiet_unlink(path: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.unlink(path)
