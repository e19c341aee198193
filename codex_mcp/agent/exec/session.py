"""One process session: its output buffers, its input, its life from start to teardown.

A session reads everything its process prints as it comes (a terminal, or stdout and stderr
read together) into two bounded head+tail buffers: `pending`, what the model has not been
given yet (drained by each `exec_command`/`write_stdin` call), and `transcript`, what the
`exec_command_end` event shows.  Each chunk is also streamed as `exec_command_output_delta`
events (at most `MAX_DELTAS` per session, each at most `DELTA_MAX_BYTES`).  Memory is
bounded whatever the process prints; a reader that cannot keep up only slows the process
down (its pipe or terminal fills).

Input goes to the terminal without blocking the caller: what the terminal does not take at
once waits in a queue of at most `MAX_PENDING_INPUT` bytes, written as the process reads.

`run()` is the session's life, in the manager's task group: it reads, writes, waits for the
process to exit (or ends it when it outlives `max_lifetime_s`), gives the output a moment to
drain, then tears the process tree down (nothing the process started survives it), closes
every fd and sets `finished`.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskStatus

from codex_mcp.agent.events import session_output_delta
from codex_mcp.agent.exec.buffer import HeadTailBuffer
from codex_mcp.agent.exec.events import ExecEvents
from codex_mcp.agent.exec.grace import grace
from codex_mcp.agent.exec.process import Started, exit_code_of

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import EventMsg
    from codex_mcp.agent.exec.budget import ProcessSlot

log = logging.getLogger(__name__)

__all__ = ["COLLECT_MAX_BYTES", "ProcessSession", "StdinClosed", "WriteFailed"]

READ_CHUNK_BYTES = 64 * 1024
DELTA_MAX_BYTES = 8 * 1024
MAX_DELTAS = 10_000
COLLECT_MAX_BYTES = 1024 * 1024  # what one call gathers (the reference's cap)
PENDING_MAX_BYTES = 1024 * 1024
TRANSCRIPT_MAX_BYTES = 256 * 1024
MAX_PENDING_INPUT = 1024 * 1024
DRAIN_AFTER_EXIT_S = 2.0  # output still arriving after the process exited (as one-shot runs)
REAP_TIMEOUT_S = 5.0


class StdinClosed(Exception):
    """The session has no terminal: its stdin is /dev/null."""


class WriteFailed(Exception):
    """The input could not be queued for the process (it ended, or too much is pending)."""


class ProcessSession:
    """See the module docstring.  All methods run on the event loop of the manager."""

    def __init__(
        self,
        session_id: int,
        command: Sequence[str],
        cwd: Path,
        tty: bool,
        started: Started,
        events: ExecEvents | None,
        parsed_cmd: list[dict[str, Any]],
    ) -> None:
        self.id = session_id
        self.command = list(command)
        self.cwd = cwd
        self.tty = tty
        self.started = started
        self.events = events
        self.parsed_cmd = parsed_cmd
        self.started_at = time.monotonic()
        self.last_used = self.started_at
        self.pending = HeadTailBuffer(PENDING_MAX_BYTES)
        self.transcript = HeadTailBuffer(TRANSCRIPT_MAX_BYTES)
        self.exit_code: int | None = None
        self.exited = anyio.Event()
        self.output_closed = anyio.Event()
        self.finished = anyio.Event()
        self.active_calls = 0
        self.end_emitted = False
        self.stored = False  # the model holds its id (it outlived its first call)
        self.ended_by: str | None = None  # "lifetime", "pruned", "closed": why we ended it
        self.bwrap_status: str | None = None  # bwrap's JSON status, read once it has exited
        self.slot: ProcessSlot | None = None  # its share of the server's budget, until it is gone
        self._changed = anyio.Event()
        self._open_streams = len(started.outputs)
        self._deltas_left = MAX_DELTAS
        self._input = bytearray()
        self._input_ready = anyio.Event()
        self._input_broken = False
        self._terminating = False
        self.running = False  # `run` has started

    # ---- waiting for news -------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def changed(self) -> None:
        """Wait for anything new: output, the exit, the end of output, the teardown."""
        await self._changed.wait()

    async def collect(self, deadline: float, into: HeadTailBuffer, post_exit_s: float = 0.05) -> None:
        """Move output into `into` until `deadline`, or until the process has exited and its
        output ended; once it has exited, wait at most `post_exit_s` more for the rest."""
        post_exit_deadline: float | None = None
        while True:
            changed = self._changed
            self._drain_into(into)
            if self.exited.is_set() and self.output_closed.is_set():
                return
            now = time.monotonic()
            if now >= deadline:
                return
            until = deadline
            if self.exited.is_set():
                if post_exit_deadline is None:
                    post_exit_deadline = now + min(deadline - now, post_exit_s)
                if now >= post_exit_deadline:
                    return
                until = post_exit_deadline
            with anyio.move_on_after(until - now):
                await changed.wait()

    def _drain_into(self, into: HeadTailBuffer) -> None:
        if self.pending.empty:
            return
        head, omitted, tail = self.pending.drain()
        into.feed(head)
        into.feed(tail, omitted=omitted)

    # ---- output -----------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """Add a line of ours to the output, as if the process had printed it."""
        data = text.encode()
        self.pending.feed(data)
        self.transcript.feed(data)
        self._notify()

    async def _read(self, fd: int, stream: str) -> None:
        try:
            while True:
                try:
                    data = os.read(fd, READ_CHUNK_BYTES)
                except BlockingIOError:
                    await anyio.wait_readable(fd)
                    continue
                except OSError:
                    data = b""  # EIO: every holder of the terminal's other side is gone
                if not data:
                    return
                self.pending.feed(data)
                self.transcript.feed(data)
                self._notify()
                await self._stream(stream, data)
                # A process that never stops printing always has data ready, and the event
                # emitter may take it without waiting (no reader, no deltas left): let the
                # rest of the server run between chunks, or a flood starves it.
                await anyio.lowlevel.checkpoint()
        finally:
            self._open_streams -= 1
            if self._open_streams <= 0:
                self.output_closed.set()
            self._notify()

    async def _stream(self, stream: str, data: bytes) -> None:
        if self.events is None or self._deltas_left <= 0:
            return
        for start in range(0, len(data), DELTA_MAX_BYTES):
            if self._deltas_left <= 0:
                return
            self._deltas_left -= 1
            await self.emit(
                session_output_delta(self.events.call_id, stream, data[start : start + DELTA_MAX_BYTES])
            )

    async def emit(self, msg: EventMsg) -> None:
        """Emit through the session's emitter; a failing emitter stops the events, never the
        session."""
        if self.events is None:
            return
        try:
            await self.events.emit(msg)
        except Exception:
            log.warning("process session %s: event emitter failed; no more events", self.id, exc_info=True)
            self.events = None

    # ---- input ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue `data` for the process's terminal (written at once if the terminal takes it)."""
        fd = self.started.input_fd
        if fd is None:
            raise StdinClosed
        if self._input_broken or self.finished.is_set():
            raise WriteFailed
        if len(self._input) + len(data) > MAX_PENDING_INPUT:
            raise WriteFailed
        if not self._input:
            try:
                written = os.write(fd, data)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                self._input_broken = True
                raise WriteFailed from exc
            data = data[written:]
        if data:
            self._input += data
            self._input_ready.set()

    async def _write_pending(self, fd: int) -> None:
        while True:
            await self._input_ready.wait()
            self._input_ready = anyio.Event()
            while self._input:
                try:
                    written = os.write(fd, self._input[:READ_CHUNK_BYTES])
                except BlockingIOError:
                    await anyio.wait_writable(fd)
                    continue
                except OSError:
                    self._input_broken = True
                    self._input.clear()
                    break
                del self._input[:written]

    # ---- life -------------------------------------------------------------------------------

    async def run(
        self,
        max_lifetime_s: float,
        on_finished: Callable[[ProcessSession], Awaitable[None]],
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        handle = self.started.handle
        self.running = True
        try:
            async with anyio.create_task_group() as tg:
                for fd, stream in self.started.outputs:
                    tg.start_soon(self._read, fd, stream)
                if self.started.input_fd is not None:
                    tg.start_soon(self._write_pending, self.started.input_fd)
                task_status.started()
                await self._wait_exit(max_lifetime_s)
                with anyio.move_on_after(DRAIN_AFTER_EXIT_S):
                    await self.output_closed.wait()
                with anyio.CancelScope(shield=True), anyio.move_on_after(REAP_TIMEOUT_S):
                    await handle.teardown()
                # Everything that held the output is gone now: read what is left.
                with anyio.move_on_after(0.5):
                    await self.output_closed.wait()
                tg.cancel_scope.cancel()
        except Exception:
            # A session must never take its manager down; whatever went wrong, it ends here.
            log.exception("process session %s failed; ending it", self.id)
        finally:
            with anyio.CancelScope(shield=True):
                await self._close()
                self.finished.set()
                self._notify()
                await on_finished(self)

    async def _wait_exit(self, max_lifetime_s: float) -> None:
        handle = self.started.handle
        code: int | None = None
        with anyio.move_on_after(max_lifetime_s):
            code = await handle.wait()
        if code is None:
            self.ended_by = self.ended_by or "lifetime"
            self.note(
                f"\n[the session ran longer than its limit of {max_lifetime_s:g} s "
                "(`exec_session_max_lifetime_sec`) and was ended]\n"
            )
            handle.signal(signal.SIGTERM)

            async def reaped() -> None:
                nonlocal code
                code = await handle.wait()

            await grace(reaped)
            if code is None:
                handle.kill_all()
                with anyio.move_on_after(REAP_TIMEOUT_S):
                    code = await handle.wait()
        self.exit_code = exit_code_of(code if code is not None else -signal.SIGKILL)
        self.exited.set()
        self._notify()

    async def terminate(self, reason: str) -> None:
        """End the process tree (SIGTERM, a short grace, then SIGKILL to everything) and wait,
        bounded, until the session is finished."""
        if self.ended_by is None:
            self.ended_by = reason
        if not self._terminating and not self.exited.is_set():
            self._terminating = True
            self.started.handle.signal(signal.SIGTERM)
            await grace(self.exited.wait)
        if not self.exited.is_set():
            self.started.handle.kill_all()
        with anyio.move_on_after(REAP_TIMEOUT_S + DRAIN_AFTER_EXIT_S):
            await self.finished.wait()

    async def _close(self) -> None:
        """Release everything (shielded by the caller).  A process still running here (the
        manager was cancelled, or the session failed) is killed first; whoever waits for the
        session hears that it exited and that its output ended.  Its budget slot is given
        back here, on every path (the one place every session passes once it is over)."""
        try:
            await self._release_process()
        finally:
            if self.slot is not None:
                self.slot.release()

    async def _release_process(self) -> None:
        if not self.exited.is_set():
            self.started.handle.kill_all()
            code: int | None = None
            if self.running:
                with anyio.move_on_after(REAP_TIMEOUT_S):
                    code = await self.started.handle.wait()
            self.exit_code = exit_code_of(code if code is not None else -signal.SIGKILL)
            self.exited.set()
        self.output_closed.set()
        if self.started.prepared is not None and not self.started.closed:
            self.bwrap_status = self.started.prepared.read_status()
        self.started.close()
        self._input.clear()
        self._notify()

    async def discard(self) -> None:
        """Release a session whose `run` never started (its start was cancelled)."""
        if not self.running:
            self.ended_by = self.ended_by or "cancelled"
            with anyio.CancelScope(shield=True):
                await self._close()
                self.finished.set()

    # ---- reporting ----------------------------------------------------------------------------

    def transcript_text(self) -> str:
        return self.transcript.to_bytes().decode("utf-8", "replace")

    @property
    def duration_s(self) -> float:
        return time.monotonic() - self.started_at
