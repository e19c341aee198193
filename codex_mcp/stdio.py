"""Byte streams over stdin/stdout file descriptors for the anyio loop.

Pipes, sockets and terminals are switched to non-blocking mode and awaited with
`anyio.wait_readable`/`wait_writable`, so a read or write never pins a worker thread and
every wait can be cancelled.  Regular files (a redirected `< file`) cannot be polled, but
never block either, so they are read and written directly.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import AsyncIterator

import anyio

READ_CHUNK = 256 * 1024
DEFAULT_MAX_LINE = 64 * 1024 * 1024


class LineTooLong(Exception):
    """A frame exceeded the line limit; its bytes up to the next newline were discarded."""


def _pollable(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return not stat.S_ISREG(mode)


class _Fd:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._was_blocking = os.get_blocking(fd)
        if _pollable(fd):
            os.set_blocking(fd, False)

    def restore(self) -> None:
        """Put the descriptor back in its original mode.  O_NONBLOCK belongs to the open file
        description, which a terminal shares with the shell that started us."""
        with contextlib.suppress(OSError):
            os.set_blocking(self._fd, self._was_blocking)


class FdReader(_Fd):
    async def read(self) -> bytes:
        """Next chunk, or b"" at end of file."""
        while True:
            try:
                return os.read(self._fd, READ_CHUNK)
            except BlockingIOError:
                await anyio.wait_readable(self._fd)
            except OSError as exc:
                if exc.errno in (errno.EBADF, errno.EIO):
                    return b""
                raise


class FdWriter(_Fd):
    async def write_all(self, data: bytes) -> None:
        """Write everything or raise (BrokenPipeError when the reader went away)."""
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
            except BlockingIOError:
                await anyio.wait_writable(self._fd)
                continue
            view = view[n:]


async def iter_lines(
    reader: FdReader, max_line: int = DEFAULT_MAX_LINE, prefix: bytes = b"", prefix_eof: bool = False
) -> AsyncIterator[bytes | LineTooLong]:
    """Yield complete lines (without the newline); an over-long line yields `LineTooLong`.

    `prefix` holds bytes read before the loop started (see `handshake`); they come first,
    and with `prefix_eof` the stream ends after them.  A final line without a trailing
    newline is still delivered at end of file.
    """
    buf = bytearray()
    discarding = False
    pending: bytes | None = prefix or None
    while True:
        if pending is not None:
            chunk, pending = pending, None
        elif prefix_eof:
            chunk = b""
        else:
            chunk = await reader.read()
        if not chunk:
            if buf and not discarding:
                yield bytes(buf)
            return
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                if not discarding:
                    buf += chunk[start:]
                    if len(buf) > max_line:
                        buf.clear()
                        discarding = True
                break
            if discarding:
                discarding = False
                yield LineTooLong()
            elif buf:
                buf += chunk[start:nl]
                line = bytes(buf)
                buf.clear()
                if len(line) > max_line:
                    yield LineTooLong()
                else:
                    yield line
            else:
                if nl - start > max_line:
                    yield LineTooLong()
                else:
                    yield chunk[start:nl]
            start = nl + 1
