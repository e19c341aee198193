"""Reading files that a model, a repository or a provider controls, without trusting them.

Every read the agent makes on someone else's say-so (patch targets, AGENTS.md, images,
rollouts) goes through `read_regular_file`:

* the file is opened with `O_NONBLOCK`, so a FIFO (which a sandboxed command can create in the
  workspace) cannot block the open, and the type is checked with `fstat` on the opened
  descriptor, so what is checked is what is read (no check-then-open race);
* anything but a regular file (FIFO, device, socket, directory, `/proc` pseudo-file with a
  size of 0 that is not really 0) is refused; a pseudo-file is recognised both by the
  resolved name before the open and by what the opened descriptor really is
  (`/proc/self/fd/N`), so a symlink re-pointed at `/proc/self/environ` between the check
  and the open is still refused;
* at most `limit` bytes are read: a larger file is refused, or cut when `truncate` is set.

`aread_regular_file` runs the same in a worker thread, for callers on the event loop: even a
bounded read of a slow filesystem must not stall every other session.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

import anyio.to_thread

# Filesystems whose files report sizes that are not their contents (procfs, sysfs).
_PSEUDO_FS_ROOTS = ("/proc", "/sys", "/dev")


class UnreadableFileError(OSError):
    """The file is not one the agent will read on someone else's behalf; says why."""


def _opened_is_pseudo(fd: int) -> bool:
    """Whether the open descriptor `fd` lies in /proc, /sys or /dev, judged by the kernel's
    own name for it (Linux); False where that name is not available."""
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    return any(real == root or real.startswith(root + "/") for root in _PSEUDO_FS_ROOTS)


def _opened_name(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def _open_checked(
    name: str, follow_symlinks: bool, allow_pseudo: bool, allow_path: Callable[[str], bool] | None = None
) -> tuple[int, os.stat_result]:
    """Open `name` without blocking, refuse pseudo-files (by name, then by what was opened),
    paths `allow_path` refuses (the opened file's real name, else the resolved `name`) and
    anything but a regular file; the caller closes the descriptor."""
    if not allow_pseudo and is_pseudo_path(name):
        raise UnreadableFileError(errno.EPERM, f"{name} is a system pseudo-file; it is not read")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise UnreadableFileError(errno.ELOOP, f"{name} is a symbolic link; it is not followed") from exc
        raise
    try:
        if not allow_pseudo and _opened_is_pseudo(fd):
            raise UnreadableFileError(errno.EPERM, f"{name} is a system pseudo-file; it is not read")
        if allow_path is not None and not allow_path(_opened_name(fd) or os.path.realpath(name)):
            raise UnreadableFileError(errno.EACCES, f"{name} lies where this session's sandbox may not read")
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFileError(errno.EINVAL, f"{name} is not a regular file ({_kind(st.st_mode)})")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def is_pseudo_path(path: str | os.PathLike[str]) -> bool:
    """Whether the resolved path lies in /proc, /sys or /dev."""
    real = os.path.realpath(os.fspath(path))
    return any(real == root or real.startswith(root + "/") for root in _PSEUDO_FS_ROOTS)


def read_regular_file(
    path: str | os.PathLike[str],
    *,
    limit: int,
    truncate: bool = False,
    follow_symlinks: bool = True,
    allow_pseudo: bool = False,
    allow_path: Callable[[str], bool] | None = None,
) -> bytes:
    """The contents of the regular file at `path`, at most `limit` bytes.

    Raises `UnreadableFileError` for anything but a regular file, for pseudo-files (unless
    `allow_pseudo`), for a final-component symlink when `follow_symlinks` is False, and for a
    file larger than `limit` unless `truncate` (then the first `limit` bytes are returned).
    Other `OSError`s (missing file, permissions) pass through unchanged.
    """
    name = os.fspath(path)
    fd, st = _open_checked(name, follow_symlinks, allow_pseudo, allow_path)
    try:
        if st.st_size > limit and not truncate:
            raise UnreadableFileError(
                errno.EFBIG, f"{name} is {st.st_size} bytes, over the limit of {limit} bytes"
            )
        chunks: list[bytes] = []
        remaining = limit + (0 if truncate else 1)
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            if not truncate:
                raise UnreadableFileError(errno.EFBIG, f"{name} grew over the limit of {limit} bytes")
            data = data[:limit]
        return data
    finally:
        os.close(fd)


def open_regular_file(
    path: str | os.PathLike[str],
    *,
    follow_symlinks: bool = True,
    allow_pseudo: bool = False,
) -> tuple[int, os.stat_result]:
    """An open read-only descriptor on the regular file at `path`, and its `fstat`.

    For readers that stream a large file (rollouts, line by line) rather than take it whole:
    the same checks as `read_regular_file` (no pseudo-files, no FIFO blocking the open, the
    type checked on the opened descriptor), and the caller bounds what it reads and closes
    the descriptor.
    """
    return _open_checked(os.fspath(path), follow_symlinks, allow_pseudo)


async def aread_regular_file(
    path: str | os.PathLike[str],
    *,
    limit: int,
    truncate: bool = False,
    follow_symlinks: bool = True,
    allow_pseudo: bool = False,
    allow_path: Callable[[str], bool] | None = None,
) -> bytes:
    """`read_regular_file` in a worker thread (for callers on the event loop)."""

    def read() -> bytes:
        return read_regular_file(
            path, limit=limit, truncate=truncate, follow_symlinks=follow_symlinks, allow_pseudo=allow_pseudo,
            allow_path=allow_path,
        )  # fmt: skip

    return await anyio.to_thread.run_sync(read)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


__all__ = [
    "UnreadableFileError",
    "aread_regular_file",
    "is_pseudo_path",
    "open_regular_file",
    "read_regular_file",
]
