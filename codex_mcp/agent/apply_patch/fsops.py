"""Filesystem primitives for the patch writer that no concurrent process can redirect.

The server applies patches itself, while processes the model started may still be running
and renaming things in the workspace.  A check on a path string followed by a write to the
same string is a race: between the two, a directory can be swapped for a symlink to anywhere
(`renameat2(RENAME_EXCHANGE)` makes the swap atomic).  So the writer never writes by path:

* every path is resolved to its symlink-free form once (`resolve_real`), and that exact
  form is what the safety check sees;
* the writer then reaches the parent directory by opening it one component at a time from
  `/` with `O_NOFOLLOW | O_DIRECTORY` (`DirCache.open`), so a component that is (or became)
  a symlink fails the walk instead of being followed;
* everything after that (temp file, rename, link, unlink, mkdir) is relative to the held
  directory descriptor, so later renames of the path's components cannot move the write.

A held directory can still be moved by whoever may write its parent, which is only ever a
place the sandbox could write already: the writer gets the same containment as a sandboxed
command, not more.  Every failure is an `OSError`; a detected race reads "changed while the
patch was being applied".
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

_O_PATH = getattr(os, "O_PATH", 0)
_DIR_FLAGS = (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_RESOLVE_ATTEMPTS = 3


class PathChangedError(OSError):
    """A path component was (or became) a symlink or not a directory during the walk."""


def resolve_real(path: str) -> str:
    """`os.path.realpath`, but a concurrent rename can only make it fail cleanly.

    Python's realpath can raise (EINVAL from readlink when a symlink is swapped for a
    directory between its lstat and readlink); retried a few times, then reported as an
    OSError.  NUL bytes raise ValueError as usual.
    """
    last: OSError | None = None
    for _ in range(_RESOLVE_ATTEMPTS):
        try:
            return os.path.realpath(path)
        except OSError as exc:
            last = exc
        except RuntimeError as exc:  # symlink loops on some Python versions
            last = OSError(errno.ELOOP, str(exc))
    raise PathChangedError(
        last.errno if last and last.errno else errno.EAGAIN,
        f"{path} changed while it was being resolved",
    )


def resolve_parent_real(path: str) -> str:
    """The path with its parent resolved and its last component kept as is (for deleting
    a symlink itself rather than what it points to)."""
    parent, name = os.path.split(os.path.abspath(path))
    return os.path.join(resolve_real(parent), name)


def _components(absolute: str) -> list[str]:
    if not absolute.startswith("/"):
        raise ValueError(f"not an absolute path: {absolute!r}")
    parts = [p for p in absolute.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError(f"path is not normalised: {absolute!r}")
    return parts


class DirCache:
    """Directory descriptors opened without following symlinks, kept for one transaction.

    `open(path, create=True)` creates missing directories (each `mkdirat` in the held parent)
    and records them in `created` as (parent directory, name) for rollback.  Close with
    `close()` (or use as a context manager).
    """

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self.created: list[tuple[str, str]] = []

    def __enter__(self) -> DirCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)

    def open(self, directory: str, *, create: bool = False) -> int:
        """A descriptor of `directory` (absolute, normalised, symlink-free)."""
        directory = os.path.normpath(directory)
        if directory in self._fds:
            return self._fds[directory]
        parts = _components(directory)
        current = "/"
        fd = self._fds.get(current)
        if fd is None:
            fd = os.open("/", _DIR_FLAGS)
            self._fds[current] = fd
        for part in parts:
            child = os.path.join(current, part)
            cached = self._fds.get(child)
            if cached is not None:
                fd, current = cached, child
                continue
            try:
                child_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass  # created concurrently: open it below, without following
                else:
                    self.created.append((current, part))
                try:
                    child_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise _changed(exc, fd, part, child) from None
            except OSError as exc:
                raise _changed(exc, fd, part, child) from None
            self._fds[child] = child_fd
            fd, current = child_fd, child
        return fd

    def rollback_created(self) -> None:
        """Remove the directories this cache created (innermost first; only if empty)."""
        for parent, name in reversed(self.created):
            fd = self._fds.get(parent)
            if fd is not None:
                quiet_rmdir_at(fd, name)
        self.created.clear()


def _changed(exc: OSError, parent_fd: int, name: str, path: str) -> OSError:
    """ELOOP/ENOTDIR on a component opened with O_NOFOLLOW|O_DIRECTORY: a symlink there means
    the path changed since it was resolved (resolved paths have none); a file is in the way."""
    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
        return exc
    try:
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except OSError:
        info = None
    if info is not None and not stat.S_ISLNK(info.st_mode):
        return NotADirectoryError(errno.ENOTDIR, "Not a directory")
    return PathChangedError(
        errno.ELOOP, f"{path} is a symbolic link now (it changed while the patch was being applied)"
    )


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """`lstat` of `name` in the held directory; None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def regular_mode_at(dir_fd: int, name: str) -> int | None:
    """The permission bits of a regular file `name`, else None."""
    with contextlib.suppress(OSError):
        info = lstat_at(dir_fd, name)
        if info is not None and stat.S_ISREG(info.st_mode):
            return stat.S_IMODE(info.st_mode)
    return None


def write_new_file_at(dir_fd: int, name: str, data: bytes, mode: int | None) -> None:
    """Create `name` (must not exist; never follows a symlink) in the held directory."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o666, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if mode is not None:
            os.chmod(fd, mode)
    finally:
        os.close(fd)


def quiet_unlink_at(dir_fd: int, name: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.unlink(name, dir_fd=dir_fd)


def quiet_rmdir_at(dir_fd: int, name: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        os.rmdir(name, dir_fd=dir_fd)
