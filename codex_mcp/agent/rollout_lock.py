"""One turn at a time per thread, across processes: an exclusive lock on the rollout file.

Several servers may share one CODEX_HOME (processes behind a proxy, or HTTP sessions of one
process, each with its own agent), and any of them may continue any thread from its
rollout.  Two of them appending to one rollout at once would interleave two turns' lines
and fork the conversation, so a turn holds `RolloutLock` on the file from its first line to
its last, and a resume holds it while it reads the file and adds its own lines.  Whoever
finds it taken is refused at once (`ThreadBusy`), never kept waiting for a turn of unknown
length.

The lock is `flock(2)` on a descriptor of our own: advisory (only our code honours it), held
by the open file description (two descriptors of one process exclude each other too), and
released by the kernel when the holder exits or is killed, so a crash never leaves a thread
locked.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

from codex_mcp.errors import RolloutError, ThreadBusy


class RolloutLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; False when somebody does."""
        if self._fd is not None:
            return True
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags)
        except OSError as exc:
            raise RolloutError(f"cannot open the rollout file {self.path}: {exc.strerror or exc}") from exc
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise RolloutError(f"the rollout file {self.path} is not a regular file")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise RolloutError(f"cannot lock the rollout file {self.path}: {exc.strerror or exc}") from exc
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def acquire(self, thread_id: str) -> None:
        """Take the lock, or raise `ThreadBusy`."""
        if not self.try_acquire():
            raise ThreadBusy(thread_id)

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor of the description releases the lock
