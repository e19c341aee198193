"""Starting the process of a session: on a terminal or on pipes, inside the session's sandbox.

A session process is started the way one-shot commands are (`spawn.py`, `runner.py`) and
keeps their guarantees for its whole life:

* **Through a keeper** (Linux, any command line except bwrap's): the fork server's keeper
  starts it, unsandboxed or in the Landlock container, and kills its whole tree (`setsid`
  and double-forked daemons included) when it ends, when the session is ended, and when
  the server dies, even by SIGKILL (its end of the keeper's socket closes).
* **bwrap** command lines are started directly from the event loop's thread: bwrap's PID
  namespace dies with the command and `--die-with-parent` ties it to that thread, so to the
  server.
* With `tty`, the process gets a private pseudo-terminal (24 rows, 80 columns) as stdin,
  stdout and stderr, and takes it as its controlling terminal (the keeper does that for its
  jobs, `launcher.terminal_argv` inside bwrap), so Ctrl-C written to the terminal reaches
  its foreground process group.  The server keeps only the master side.
* Without `tty`, stdin is /dev/null and stdout and stderr are two pipes.

The output fds are non-blocking and belong to the caller (the session reads them).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import struct
import subprocess
import termios
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.to_thread

from codex_mcp.agent.exec import spawn

if TYPE_CHECKING:
    from codex_mcp.sandbox.boundary import Boundary
    from codex_mcp.sandbox.select import BackendChoice, PreparedCommand

__all__ = [
    "TERMINAL_COLUMNS",
    "TERMINAL_ROWS",
    "Handle",
    "StartError",
    "Started",
    "describe_os_error",
    "exit_code_of",
    "start_process",
]

TERMINAL_ROWS = 24
TERMINAL_COLUMNS = 80


class StartError(Exception):
    """The process could not be started (the message says why, in the reference's words
    where it has some: `No such file or directory (os error 2)`)."""


class Handle(Protocol):
    """A started process, however it was started.  `wait` may be awaited by one task only;
    `signal` and `kill_all` may be called from any task at any time."""

    @property
    def spawn_error(self) -> OSError | None: ...
    async def wait(self) -> int: ...
    def signal(self, sig: int) -> None: ...
    def kill_all(self) -> None: ...
    async def teardown(self) -> None: ...
    def close(self) -> None: ...


@dataclass
class Started:
    """A spawned command: its handle, the descriptors to read its output from, and the
    backend that confines it."""

    handle: Handle
    outputs: list[tuple[int, str]]  # (non-blocking fd, stream name) to read until end of file
    input_fd: int | None  # the terminal's master side; None: stdin is /dev/null
    backend: str  # "none", "bwrap", "landlock", "seatbelt"
    prepared: PreparedCommand | None = None
    closed: bool = field(default=False)

    def close(self) -> None:
        """Release every fd and the prepared command (idempotent)."""
        if self.closed:
            return
        self.closed = True
        fds = {fd for fd, _ in self.outputs}
        if self.input_fd is not None:
            fds.add(self.input_fd)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.handle.close()
        if self.prepared is not None:
            self.prepared.close()


class _Kept:
    """A process under a keeper of the fork server."""

    def __init__(self, handle: spawn.Spawned) -> None:
        self.handle = handle

    @property
    def spawn_error(self) -> OSError | None:
        return self.handle.spawn_error

    async def wait(self) -> int:
        return await self.handle.wait()

    def signal(self, sig: int) -> None:
        self.handle.signal(sig)

    def kill_all(self) -> None:
        self.handle.kill_all()

    async def teardown(self) -> None:
        await self.handle.teardown()

    def close(self) -> None:
        self.handle.close()


class _Direct:
    """A process the server started itself (bwrap, or anything where no fork server runs):
    a session leader, so signals go to its process group; its exit is seen through a pidfd."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.pidfd: int | None = None
        if hasattr(os, "pidfd_open"):
            with contextlib.suppress(OSError):
                self.pidfd = os.pidfd_open(proc.pid)

    spawn_error: OSError | None = None

    async def wait(self) -> int:
        while self.proc.poll() is None:
            if self.pidfd is not None:
                await anyio.wait_readable(self.pidfd)
            else:
                await anyio.to_thread.run_sync(self.proc.wait, abandon_on_cancel=True)
        return int(self.proc.returncode)

    def signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def kill_all(self) -> None:
        # For bwrap, killing it ends its PID namespace with everything inside.
        self.signal(signal.SIGKILL)

    async def teardown(self) -> None:
        self.kill_all()
        await self.wait()

    def close(self) -> None:
        if self.pidfd is not None:
            fd, self.pidfd = self.pidfd, None
            with contextlib.suppress(OSError):
                os.close(fd)


def _open_terminal() -> tuple[int, int]:
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", TERMINAL_ROWS, TERMINAL_COLUMNS, 0, 0))
    os.set_blocking(master, False)
    return master, slave


def describe_os_error(exc: OSError) -> str:
    """`strerror (os error N)`, how the reference reports a failed spawn."""
    code = exc.errno if exc.errno is not None else errno.EIO
    return f"{exc.strerror or os.strerror(code)} (os error {code})"


def _prepare(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    tty: bool,
    boundary: Boundary | None,
    backend: BackendChoice,
) -> PreparedCommand | None:
    if boundary is None:
        return None
    from codex_mcp.sandbox.select import SandboxUnavailableError, prepare_command

    try:
        return prepare_command(argv, boundary, cwd, env, backend=backend, terminal=tty)
    except SandboxUnavailableError as exc:
        raise StartError(f"sandbox unavailable, the command was not run: {exc}") from exc


async def start_process(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    *,
    tty: bool,
    boundary: Boundary | None,
    backend: BackendChoice = "auto",
) -> Started:
    """Start `argv` in `cwd` with exactly `env`, inside `boundary`'s sandbox (None: without
    one, for danger-full-access or a run the person approved).  Raises `StartError`."""
    if not argv:
        raise StartError("missing command line for unified exec request")
    prepared = _prepare(argv, cwd, env, tty, boundary, backend)
    run_argv, run_env = (list(argv), dict(env)) if prepared is None else (prepared.argv, prepared.env)
    pass_fds = () if prepared is None else tuple(prepared.pass_fds)
    name = "none" if prepared is None else prepared.backend
    master = slave = -1
    try:
        if tty:
            master, slave = _open_terminal()
        if spawn.available() and name in ("none", "landlock"):
            kept = await spawn.spawn(
                run_argv, os.fspath(cwd), run_env, pass_fds, terminal=slave if tty else None
            )
            outputs = [(master, "stdout")]
            if not tty:
                outputs = [(kept.stdout_fd, "stdout"), (kept.stderr_fd, "stderr")]
                # `Started.close` closes them: the handle must not close the numbers again.
                kept.stdout_fd = kept.stderr_fd = -1
            return Started(_Kept(kept), outputs, master if tty else None, name, prepared)
        if tty and name == "none":
            from codex_mcp.sandbox.launcher import terminal_argv

            run_argv = terminal_argv(run_argv)
        return _start_direct(run_argv, cwd, run_env, pass_fds, master, slave, name, prepared)
    except OSError as exc:
        if master >= 0:
            os.close(master)
        if prepared is not None:
            prepared.close()
        raise StartError(f"Failed to create unified exec process: {describe_os_error(exc)}") from exc
    except BaseException:
        if master >= 0:
            os.close(master)
        if prepared is not None:
            prepared.close()
        raise
    finally:
        if slave >= 0:
            os.close(slave)


def _start_direct(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    pass_fds: tuple[int, ...],
    master: int,
    slave: int,
    name: str,
    prepared: PreparedCommand | None,
) -> Started:
    """Popen from the event loop's thread (bwrap's `--die-with-parent` is tied to it)."""
    pipes: list[int] = []
    try:
        if slave >= 0:
            stdin, stdout, stderr = slave, slave, slave
        else:
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            pipes = [out_r, out_w, err_r, err_w]
            stdin, stdout, stderr = subprocess.DEVNULL, out_w, err_w
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, env=env, pass_fds=pass_fds,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    except BaseException:
        for fd in pipes:
            os.close(fd)
        raise
    if prepared is not None:
        prepared.after_spawn()
    if slave >= 0:
        return Started(_Direct(proc), [(master, "stdout")], master, name, prepared)
    os.close(pipes[1])
    os.close(pipes[3])
    for fd in (pipes[0], pipes[2]):
        os.set_blocking(fd, False)
    return Started(_Direct(proc), [(pipes[0], "stdout"), (pipes[2], "stderr")], None, name, prepared)


def exit_code_of(returncode: int) -> int:
    """A process killed by signal N reports 128 + N, as a shell would."""
    return 128 - returncode if returncode < 0 else returncode
