"""Run one model-requested command to completion and capture what it printed.

`run_exec` spawns `argv` directly (no shell) in its own session / process group, with
stdin on /dev/null, the given environment only, and no inherited file descriptors
except `pass_fds`. stdout and stderr are read concurrently in chunks of at most 8 KiB.

On Linux every command is started by a keeper forked from the sandbox fork server
(`spawn.py`, `codex_mcp.sandbox.keeper`), whatever its sandbox:

* **Nothing outlives the command.**  The keeper is a child subreaper: when the command has
  ended and its output is drained, everything it started (also `setsid` / double-forked
  daemons, which a process group cannot catch) is killed and reaped before `run_exec`
  returns.  Timeouts and cancellation kill the whole tree the same way.
* **Nothing outlives the server.**  The command has a parent-death signal tied to its
  keeper, and a keeper kills its command's tree as soon as the server's end of its socket
  closes, which also happens when the server is killed with SIGKILL.
* A Landlock launcher argv (`sandbox.launcher.parse_launcher_argv`) is run by the keeper
  itself (same container, same code) instead of starting a new interpreter per command.
* A bwrap command line prepared by `prepare_command` is spawned directly: its PID namespace
  already dies with the command and `--die-with-parent` ties it to the server (the event
  loop's thread, which spawns it).

Elsewhere (macOS) the command is a plain subprocess in its own session; the process group
is what gets signalled.

Guarantees on every platform:

* **Bounded memory.** Each stream keeps only its first `RETAIN_HEAD_BYTES` and last
  `RETAIN_TAIL_BYTES` bytes, plus byte and line counts, whatever the command prints.
  When bytes were dropped, the retained text carries a gap line
  (`[... N bytes omitted ...]`) and `ExecOutput.aggregated_total_lines` holds the real
  line count, so the model-facing truncation (format.py) is the same as if everything
  had been kept.
* **Bounded events.** `on_output` is called once per chunk read, in read order per
  stream, but at most `MAX_OUTPUT_DELTAS_PER_CALL` (10 000) times per call in total;
  later chunks are still captured, just not streamed. 10 000 x 8 KiB = 80 MiB of live
  output at most.
* **Timeout** (default 10 s): the command's process group gets SIGTERM, then everything
  gets SIGKILL after a short grace (`TERM_GRACE_S`), the child is reaped, and the result
  has `timed_out=True` and exit code 124.
* **Cancellation** from outside: everything is killed and reaped (shielded), then the
  cancellation propagates.
* **No hang on leaked pipes.** After the main process exits, the readers get
  `io_drain_timeout_ms` (default 2 s, like the reference) to reach end of file (output a
  background process writes in that window is kept); then the rest is killed.
* **Spawn failures are results, not exceptions**: missing program -> 127, not executable
  -> 126, missing working directory or another OS error -> 1; the message is in
  `stderr` / `aggregated_output` and in `spawn_error`.
* A child killed by signal N reports exit code 128 + N.
* An exception raised by `on_output` kills the command and propagates from `run_exec`.

`aggregated_output` is the stdout text followed by the stderr text (not interleaved),
as in the reference.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import anyio
import anyio.lowlevel
from anyio.abc import ByteReceiveStream, Process

from codex_mcp.agent.exec import spawn
from codex_mcp.agent.exec.grace import grace

__all__ = [
    "DEFAULT_EXEC_TIMEOUT_MS",
    "DEFAULT_IO_DRAIN_TIMEOUT_MS",
    "EXIT_CODE_TIMEOUT",
    "MAX_OUTPUT_DELTAS_PER_CALL",
    "READ_CHUNK_BYTES",
    "RETAIN_HEAD_BYTES",
    "RETAIN_TAIL_BYTES",
    "ExecOutput",
    "ExecParams",
    "OutputCallback",
    "StreamName",
    "run_exec",
]

DEFAULT_EXEC_TIMEOUT_MS = 10_000
DEFAULT_IO_DRAIN_TIMEOUT_MS = 2_000
EXIT_CODE_TIMEOUT = 124
EXIT_CODE_NOT_FOUND = 127
EXIT_CODE_NOT_EXECUTABLE = 126
EXIT_CODE_SPAWN_FAILED = 1
READ_CHUNK_BYTES = 8 * 1024
MAX_OUTPUT_DELTAS_PER_CALL = 10_000
RETAIN_HEAD_BYTES = 128 * 1024
RETAIN_TAIL_BYTES = 128 * 1024

# How long to wait for the child to be reaped after SIGKILL before giving up on it.
_REAP_TIMEOUT_S = 5.0

StreamName = Literal["stdout", "stderr"]
OutputCallback = Callable[[StreamName, bytes], Awaitable[None]]


@dataclass(frozen=True)
class ExecParams:
    """What `run_exec` runs: the argv, where, with which environment, and its time
    limits."""

    argv: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    timeout_ms: int | None = None  # None -> DEFAULT_EXEC_TIMEOUT_MS
    pass_fds: tuple[int, ...] = ()
    io_drain_timeout_ms: int = DEFAULT_IO_DRAIN_TIMEOUT_MS


@dataclass(frozen=True)
class ExecOutput:
    """How a one-shot command ended and what it printed (bounded)."""

    exit_code: int
    stdout: str
    stderr: str
    aggregated_output: str
    duration_s: float
    timed_out: bool
    # Line count of the complete stdout+stderr when the runner dropped the middle of a
    # stream (the strings then hold a gap line); None when the strings are complete.
    aggregated_total_lines: int | None = None
    stdout_total_bytes: int = 0
    stderr_total_bytes: int = 0
    # Set when the command could not be started at all (the same text is in `stderr`).
    spawn_error: str | None = None


class _StreamCapture:
    """Keeps the first and last bytes of one stream and counts the rest."""

    def __init__(self, head_cap: int = RETAIN_HEAD_BYTES, tail_cap: int = RETAIN_TAIL_BYTES) -> None:
        self.head_cap = head_cap
        self.tail_cap = tail_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total_bytes = 0
        self.newlines = 0
        self.last_byte: int | None = None

    @property
    def dropped(self) -> int:
        return self.total_bytes - len(self.head) - len(self.tail)

    @property
    def retained(self) -> int:
        return len(self.head) + len(self.tail)

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.total_bytes += len(chunk)
        self.newlines += chunk.count(b"\n")
        self.last_byte = chunk[-1]
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
            if not chunk:
                return
        self.tail += chunk
        # Trim lazily (at twice the cap) so trimming costs O(1) amortised per byte.
        if len(self.tail) > 2 * self.tail_cap:
            del self.tail[: len(self.tail) - self.tail_cap]

    def line_count(self) -> int:
        if self.total_bytes == 0:
            return 0
        return self.newlines + (0 if self.last_byte == 0x0A else 1)

    def text(self) -> str:
        if len(self.tail) > self.tail_cap:
            del self.tail[: len(self.tail) - self.tail_cap]
        dropped = self.dropped
        if dropped == 0:
            return bytes(self.head + self.tail).decode("utf-8", "replace")
        # Hold back a character cut by the head cap; skip a partial one opening the tail.
        head = codecs.getincrementaldecoder("utf-8")("replace").decode(bytes(self.head), final=False)
        start = 0
        while start < min(3, len(self.tail)) and self.tail[start] & 0xC0 == 0x80:
            start += 1
        tail = bytes(self.tail[start:]).decode("utf-8", "replace")
        return f"{head}\n[... {dropped} bytes omitted ...]\n{tail}"


class _DeltaBudget:
    def __init__(self, limit: int) -> None:
        self.remaining = limit

    def take(self) -> bool:
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


def _exit_code(returncode: int | None) -> int:
    if returncode is None:
        return -1
    if returncode < 0:
        return 128 - returncode
    return returncode


Receive = Callable[[], Awaitable[bytes]]


class _Child(Protocol):
    """A started command, however it was spawned."""

    @property
    def returncode(self) -> int | None: ...
    @property
    def spawn_error(self) -> OSError | None: ...
    def receivers(self) -> tuple[Receive, Receive]: ...
    async def wait(self) -> None: ...
    async def terminate(self) -> None: ...
    async def finish(self) -> None: ...


class _Kept:
    """A command under a keeper of the sandbox fork server (Linux)."""

    def __init__(self, handle: spawn.Spawned) -> None:
        self.handle = handle

    @property
    def returncode(self) -> int | None:
        return 127 if self.handle.spawn_error is not None else self.handle.returncode

    @property
    def spawn_error(self) -> OSError | None:
        return self.handle.spawn_error

    def receivers(self) -> tuple[Receive, Receive]:
        return _fd_receiver(self.handle.stdout_fd), _fd_receiver(self.handle.stderr_fd)

    async def wait(self) -> None:
        await self.handle.wait()

    async def terminate(self) -> None:
        """SIGTERM to the command's group, a short grace, then SIGKILL to every process."""
        self.handle.signal(signal.SIGTERM)
        if self.handle.returncode is None:
            await grace(self.handle.wait)
        self.handle.kill_all()

    async def finish(self) -> None:
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(_REAP_TIMEOUT_S):
                await self.handle.teardown()
            self.handle.close()


def _fd_receiver(fd: int) -> Receive:
    async def receive() -> bytes:
        while True:
            try:
                return os.read(fd, READ_CHUNK_BYTES)
            except BlockingIOError:
                await anyio.wait_readable(fd)
            except OSError:
                return b""

    return receive


class _Subprocess:
    """A plain subprocess in its own session (platforms without the fork server)."""

    def __init__(self, process: Process) -> None:
        self.process = process

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    spawn_error: OSError | None = None

    def receivers(self) -> tuple[Receive, Receive]:
        assert self.process.stdout is not None and self.process.stderr is not None
        return _stream_receiver(self.process.stdout), _stream_receiver(self.process.stderr)

    async def wait(self) -> None:
        await self.process.wait()

    async def terminate(self) -> None:
        """End the whole group: SIGTERM, a short grace, then SIGKILL for whatever is left.

        The grace matters: SIGTERM runs exit traps and cleanup handlers (git removes its
        index.lock, pyenv its rehash lock), while SIGKILL leaves such locks behind for every
        later command to trip over.  Nothing can delay the kill beyond the grace.
        """
        _signal_group(self.process.pid, signal.SIGTERM)
        if self.process.returncode is None:
            await grace(self.process.wait)
        _signal_group(self.process.pid, signal.SIGKILL)

    async def finish(self) -> None:
        """Close our pipe ends (even if a stray process still holds the other ends) and reap."""
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(_REAP_TIMEOUT_S):
                await self.process.aclose()
            # Let the event loop run the pipe transports' scheduled close callbacks now, so
            # their file descriptors are released even if the loop stops right after us.
            await anyio.lowlevel.checkpoint()


def _stream_receiver(stream: ByteReceiveStream) -> Receive:
    async def receive() -> bytes:
        try:
            return await stream.receive(READ_CHUNK_BYTES)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return b""

    return receive


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by `pid` (the child is a session leader)."""
    # ESRCH: the group is already gone. EPERM: macOS, for a group of zombies.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _spawn_failure(params: ExecParams, exc: OSError, started: float) -> ExecOutput:
    program = params.argv[0]
    reason = exc.strerror or str(exc)
    failed_path = os.fspath(exc.filename) if exc.filename is not None else None
    if failed_path == os.fspath(params.cwd) or not params.cwd.is_dir():
        code = EXIT_CODE_SPAWN_FAILED
        message = f"cannot use working directory {params.cwd}: {reason}"
    elif isinstance(exc, FileNotFoundError):
        code = EXIT_CODE_NOT_FOUND
        message = f"command not found: {program}"
    elif isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.ENOEXEC):
        code = EXIT_CODE_NOT_EXECUTABLE
        message = f"cannot execute {program}: {reason}"
    else:
        code = EXIT_CODE_SPAWN_FAILED
        message = f"failed to start {program}: {reason}"
    text = message + "\n"
    return ExecOutput(
        exit_code=code,
        stdout="",
        stderr=text,
        aggregated_output=text,
        duration_s=time.monotonic() - started,
        timed_out=False,
        stderr_total_bytes=len(text.encode()),
        spawn_error=message,
    )


async def _pump(
    receive: Receive,
    name: StreamName,
    capture: _StreamCapture,
    budget: _DeltaBudget,
    on_output: OutputCallback | None,
    done: anyio.Event,
) -> None:
    try:
        while chunk := await receive():
            capture.feed(chunk)
            if on_output is not None and budget.take():
                await on_output(name, chunk)
            # Output that is always ready (a flood) must not keep the event loop to itself.
            await anyio.lowlevel.checkpoint()
    finally:
        done.set()


def _self_contained(argv: Sequence[str]) -> bool:
    """A bwrap command line from `prepare_command`: bwrap's PID namespace and parent-death
    signal already give what a keeper would (and a keeper would only add latency)."""
    select = sys.modules.get("codex_mcp.sandbox.select")  # not imported: nothing was prepared
    return select is not None and bool(select.is_self_contained(argv))


async def _start(params: ExecParams) -> _Child:
    """Spawn the command; OSError if it could not be started."""
    if spawn.available() and not _self_contained(params.argv):
        # The keeper reports a command that could not be started instead of its exit status
        # (`_Kept.spawn_error`); there is no need to wait for it here.
        return _Kept(await spawn.spawn(params.argv, os.fspath(params.cwd), params.env, params.pass_fds))
    with anyio.CancelScope(shield=True):
        process = await anyio.open_process(
            list(params.argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=params.cwd,
            env=dict(params.env),
            start_new_session=True,
            pass_fds=params.pass_fds,
        )
    return _Subprocess(process)


async def run_exec(params: ExecParams, on_output: OutputCallback | None = None) -> ExecOutput:
    """Run `params.argv` to completion (or timeout) and return its captured output."""
    started = time.monotonic()
    if not params.argv:
        raise ValueError("run_exec: empty argv")
    timeout_s = (DEFAULT_EXEC_TIMEOUT_MS if params.timeout_ms is None else params.timeout_ms) / 1000
    drain_s = max(params.io_drain_timeout_ms, 0) / 1000

    try:
        child = await _start(params)
    except OSError as exc:
        return _spawn_failure(params, exc, started)

    captures: dict[StreamName, _StreamCapture] = {"stdout": _StreamCapture(), "stderr": _StreamCapture()}
    budget = _DeltaBudget(MAX_OUTPUT_DELTAS_PER_CALL)
    done: dict[StreamName, anyio.Event] = {"stdout": anyio.Event(), "stderr": anyio.Event()}
    timed_out = False

    def readers_done() -> bool:
        return done["stdout"].is_set() and done["stderr"].is_set()

    async def wait_readers() -> None:
        await done["stdout"].wait()
        await done["stderr"].wait()

    try:
        async with anyio.create_task_group() as tg:
            names: tuple[StreamName, StreamName] = ("stdout", "stderr")
            for name, receive in zip(names, child.receivers(), strict=True):
                tg.start_soon(_pump, receive, name, captures[name], budget, on_output, done[name])

            with anyio.move_on_after(timeout_s):
                await child.wait()
            if child.returncode is None:
                timed_out = True
                await child.terminate()
                with anyio.move_on_after(_REAP_TIMEOUT_S):
                    await child.wait()

            if not readers_done():
                with anyio.move_on_after(drain_s):
                    await wait_readers()
            if not readers_done():
                # Something the command started still holds our pipes: end it, then read
                # what is left.
                await child.terminate()
                with anyio.move_on_after(max(drain_s, 0.1)):
                    await wait_readers()
                if not readers_done():
                    # A process we could not kill holds the pipes; stop reading.
                    tg.cancel_scope.cancel()
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await child.terminate()
            await child.finish()
        # An error raised by `on_output` reaches us wrapped by the task group: unwrap it.
        if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            raise exc.exceptions[0] from None
        raise
    await child.finish()
    if child.spawn_error is not None:
        return _spawn_failure(params, child.spawn_error, started)

    duration = time.monotonic() - started
    out, err = captures["stdout"], captures["stderr"]
    stdout_text = out.text()
    stderr_text = err.text()
    total_lines: int | None = None
    if out.dropped or err.dropped:
        total_lines = out.newlines + err.newlines
        last = err.last_byte if err.total_bytes else out.last_byte
        if last is not None and last != 0x0A:
            total_lines += 1
    return ExecOutput(
        exit_code=EXIT_CODE_TIMEOUT if timed_out else _exit_code(child.returncode),
        stdout=stdout_text,
        stderr=stderr_text,
        aggregated_output=stdout_text + stderr_text,
        duration_s=duration,
        timed_out=timed_out,
        aggregated_total_lines=total_lines,
        stdout_total_bytes=out.total_bytes,
        stderr_total_bytes=err.total_bytes,
    )
