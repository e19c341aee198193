"""Process sessions for `exec_command` and `write_stdin`: long-lived, interactive commands.

`UnifiedExecManager` (one per thread) starts a command in a terminal (`tty=True`) or on
pipes, inside the same sandbox as a one-shot command (the process lives in it for its whole
life), waits until it exits or `yield_time_ms` passes, and returns what it printed in the
reference's framing (`format.format_unified_exec_output`).  A process still running keeps
a session id the model passes to `write_stdin`, which types into the terminal (empty
`chars` polls) and returns the new output the same way.

Defaults are codex-cli 0.147's (measured against it): `yield_time_ms` 10,000 for
`exec_command` and 250 for `write_stdin`, clamped to 250..30,000 ms, except an empty poll
(5,000..300,000 ms); a 150 ms grace after the start (and 100 ms after a write) that the
wall time does not count; random session ids in 1000..99999; at most 64 live sessions
(warning from 60; the least recently used one beyond the 8 most recent is ended, an exited
one first); the environment gets `NO_COLOR=1`, `LANG`/`LC_CTYPE`/`LC_ALL=C.UTF-8`,
`COLORTERM=""`, `PAGER`/`GIT_PAGER`/`GH_PAGER=cat`, `CODEX_CI=1`.  Like the reference, an
interrupted turn leaves sessions running; closing the manager (thread closed or evicted,
server exiting) ends them all (a thread's manager: `sessions_host.ThreadSessions`).
Beyond the reference: a hard lifetime limit per session, and nothing a session started
outlives it or the server (`process.py`).

Embedding, without MCP::

    import anyio
    from pathlib import Path
    from codex_mcp.agent.exec.unified import ExecCommandRequest, UnifiedExecManager

    async def main() -> None:
        async with UnifiedExecManager() as manager:
            env = {"PATH": "/usr/bin:/bin"}
            first = await manager.exec_command(
                ExecCommandRequest(["python3", "-i"], Path.cwd(), env, tty=True, yield_time_ms=500),
                boundary=None,  # or a `compute_boundary(...)` result: run inside the sandbox
            )
            print(first.text)  # "... Process running with session ID 12345 ..."
            reply = await manager.write_stdin(first.session_id, "6 * 7\\n")
            print(reply.output)  # the echo and "42"

    anyio.run(main)
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup, TaskStatus

from codex_mcp.agent.events import session_exec_begin, session_exec_end, terminal_interaction
from codex_mcp.agent.exec.budget import ProcessLimitError
from codex_mcp.agent.exec.buffer import HeadTailBuffer
from codex_mcp.agent.exec.events import Emit, ExecEvents, now_ms, parsed_command
from codex_mcp.agent.exec.format import DEFAULT_MODEL_POLICY, format_unified_exec_output
from codex_mcp.agent.exec.process import StartError, describe_os_error, start_process
from codex_mcp.agent.exec.session import COLLECT_MAX_BYTES, ProcessSession, StdinClosed, WriteFailed
from codex_mcp.agent.exec.start_check import never_ran
from codex_mcp.agent.exec.truncation import TruncationPolicy, formatted_truncate_text
from codex_mcp.agent.exec.unified_api import (
    CLOSE_TIMEOUT_S,
    DEFAULT_EXEC_YIELD_TIME_MS,
    DEFAULT_MAX_BACKGROUND_POLL_MS,
    DEFAULT_MAX_LIFETIME_S,
    DEFAULT_WRITE_STDIN_YIELD_TIME_MS,
    EARLY_EXIT_GRACE_S,
    MAX_SESSIONS,
    MAX_YIELD_TIME_MS,
    MIN_EMPTY_YIELD_TIME_MS,
    MIN_YIELD_TIME_MS,
    POST_WRITE_PAUSE_S,
    PROTECTED_RECENT,
    WARNING_SESSIONS,
    CreateProcessError,
    ExecCommandOutput,
    ExecCommandRequest,
    StdinClosedError,
    UnifiedExecError,
    UnknownSessionError,
    WriteToStdinError,
    clamp_yield_ms,
    unified_exec_env,
)

if TYPE_CHECKING:
    from codex_mcp.agent.exec.budget import ProcessBudget
    from codex_mcp.sandbox.boundary import Boundary
    from codex_mcp.sandbox.select import BackendChoice

__all__ = [
    "CreateProcessError", "ExecCommandOutput", "ExecCommandRequest", "ProcessLimitError", "StdinClosedError",
    "UnifiedExecError",
    "UnifiedExecManager", "UnknownSessionError", "WriteToStdinError",
]  # fmt: skip


class UnifiedExecManager:
    """The process sessions of one thread.  Use `async with UnifiedExecManager() as m:`, or
    `await m.open(task_group)` (a task group that outlives turns) and `await m.aclose()`."""

    def __init__(
        self,
        *,
        max_sessions: int = MAX_SESSIONS,
        warning_sessions: int = WARNING_SESSIONS,
        max_lifetime_s: float = DEFAULT_MAX_LIFETIME_S,
        max_background_poll_ms: int = DEFAULT_MAX_BACKGROUND_POLL_MS,
        truncation: TruncationPolicy = DEFAULT_MODEL_POLICY,
        budget: ProcessBudget | None = None,
    ) -> None:
        """`budget` is the server's count of live processes, shared by its threads (None: only
        `max_sessions` bounds this manager)."""
        if max_sessions < 1 or not 0 < max_lifetime_s < float("inf"):
            raise ValueError("max_sessions must be >= 1 and max_lifetime_s a positive number")
        self.max_sessions = max_sessions
        self.warning_sessions = warning_sessions
        self.max_lifetime_s = max_lifetime_s
        self.max_background_poll_ms = max(MIN_EMPTY_YIELD_TIME_MS, max_background_poll_ms)
        self.truncation = truncation
        self.budget = budget
        self._store: dict[int, ProcessSession] = {}  # sessions whose id the model holds
        self._live: dict[int, ProcessSession] = {}  # every session not finished yet
        self._reserved: set[int] = set()
        self._tg: TaskGroup | None = None
        self._own_tg: TaskGroup | None = None
        self._close_requested = anyio.Event()
        self._closed = anyio.Event()
        self._closing = False
        self._opened = False

    # ---- lifetime --------------------------------------------------------------------------

    async def open(self, task_group: TaskGroup) -> None:
        """Start the task holding the sessions in `task_group` (it must outlive the turns)."""
        await task_group.start(self._hold)

    async def _hold(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._opened = True
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                task_status.started()
                try:
                    await self._close_requested.wait()
                finally:
                    self._closing = True
                    with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT_S):
                        await self._terminate_all()
                    tg.cancel_scope.cancel()
        finally:
            self._tg = None
            self._closed.set()

    def request_close(self) -> None:
        """Have every session ended soon, without waiting (for code that cannot await: a
        thread being shut down or evicted); `aclose` waits for it."""
        self._close_requested.set()
        self._closing = True

    @property
    def closed(self) -> bool:
        return self._closing

    async def aclose(self) -> None:
        """End every session (their whole process trees) and stop.  Idempotent."""
        self._close_requested.set()
        self._closing = True
        if self._opened:
            with anyio.CancelScope(shield=True):
                await self._closed.wait()

    async def __aenter__(self) -> UnifiedExecManager:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._own_tg = tg
        await self.open(tg)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        tg, self._own_tg = self._own_tg, None
        assert tg is not None
        await self.aclose()
        return await tg.__aexit__(exc_type, exc, tb)

    async def _terminate_all(self) -> None:
        sessions = list(self._live.values())
        self._store.clear()
        async with anyio.create_task_group() as tg:
            for session in sessions:
                tg.start_soon(session.terminate, "closed")

    async def terminate_session(self, session_id: int) -> bool:
        """End one session (what a client's "stop this terminal" does); False if unknown."""
        session = self._store.pop(session_id, None)
        if session is None:
            return False
        await session.terminate("closed")
        self._release(session_id)
        return True

    def session_ids(self) -> list[int]:
        """The ids the model may pass to `write_stdin`, oldest first."""
        return list(self._store)

    @property
    def live_count(self) -> int:
        """Sessions whose process has not finished yet (what this thread holds of the budget)."""
        return len(self._live)

    def _task_group(self) -> TaskGroup:
        if self._tg is None or self._closing:
            raise RuntimeError("the process session manager is closed")
        return self._tg

    def _allocate_id(self) -> int:
        while True:
            candidate = random.randrange(1000, 100_000)
            if candidate not in self._reserved:
                self._reserved.add(candidate)
                return candidate

    def _release(self, session_id: int) -> None:
        if session_id not in self._store and session_id not in self._live:
            self._reserved.discard(session_id)

    # ---- exec_command ------------------------------------------------------------------------

    async def exec_command(
        self,
        request: ExecCommandRequest,
        *,
        boundary: Boundary | None,
        events: ExecEvents | None = None,
        backend: BackendChoice = "auto",
        truncation: TruncationPolicy | None = None,
    ) -> ExecCommandOutput:
        """Start `request.command` inside `boundary`'s sandbox (None: no sandbox, for
        danger-full-access or a run the person approved) and wait for it as `exec_command`
        does.  Raises `CreateProcessError` when nothing ran: the process could not be started
        (no events), or its sandbox could not be set up (its begin and end events say so);
        `ProcessLimitError`, before anything is spawned, when the server's budget is spent."""
        tg = self._task_group()
        cwd = Path(request.cwd)
        if not await anyio.Path(cwd).is_dir():
            missing = FileNotFoundError(2, "No such file or directory")
            raise CreateProcessError(f"Failed to create unified exec process: {describe_os_error(missing)}")
        # The server's permission for one more process: refused (nothing is ended to make
        # room, the other processes may be other callers') before anything is spawned.
        slot = self.budget.take(len(self._live)) if self.budget is not None else None
        process_id = self._allocate_id()
        try:
            started = await start_process(
                request.command, cwd, unified_exec_env(request.env), tty=request.tty, boundary=boundary,
                backend=backend,
            )  # fmt: skip
        except BaseException as exc:
            self._reserved.discard(process_id)
            if slot is not None:
                slot.release()
            if isinstance(exc, StartError):
                raise CreateProcessError(str(exc)) from None
            raise
        session = ProcessSession(
            process_id, request.shown, cwd, request.tty, started, events, parsed_command(request.shown)
        )
        session.slot = slot  # given back once the process is gone, whichever way it ends
        self._live[process_id] = session
        session.active_calls += 1
        try:
            if events is not None:
                await session.emit(
                    session_exec_begin(
                        call_id=events.call_id, turn_id=events.turn_id, process_id=process_id,
                        command=request.shown, cwd=cwd, parsed_cmd=session.parsed_cmd, started_at_ms=now_ms(),
                    )
                )  # fmt: skip
            await tg.start(session.run, self.max_lifetime_s, self._on_finished)
            with anyio.move_on_after(EARLY_EXIT_GRACE_S):
                await session.exited.wait()
            yield_ms = clamp_yield_ms(
                request.yield_time_ms, DEFAULT_EXEC_YIELD_TIME_MS, MIN_YIELD_TIME_MS, MAX_YIELD_TIME_MS
            )
            result = await self._respond(
                session, yield_ms, request.max_output_tokens, truncation, starting=True
            )
        except BaseException:
            if not session.stored:
                # Cancelled (an interrupted turn) or failed before the model got the id: nothing
                # else could reach this process.
                session.end_emitted = True
                with anyio.CancelScope(shield=True):
                    if session.running:
                        await session.terminate("cancelled")
                    else:
                        await session.discard()
                        self._live.pop(process_id, None)
                        self._release(process_id)
            raise
        finally:
            session.active_calls -= 1
        return result

    async def _check_started(self, session: ProcessSession) -> None:
        """Raise `CreateProcessError` when a process that has exited never ran (the end event
        says so, and the model gets the error instead of an exit code)."""
        error = await never_ran(session)
        if error is not None:
            session.end_emitted = True
            await self._emit_end(session, error.message)
            raise error

    async def _respond(
        self,
        session: ProcessSession,
        yield_ms: int,
        max_output_tokens: int | None,
        truncation: TruncationPolicy | None,
        *,
        starting: bool,
        emit: Emit | None = None,
        chars: str = "",
    ) -> ExecCommandOutput:
        start = time.monotonic()
        collected = HeadTailBuffer(COLLECT_MAX_BYTES)
        await session.collect(start + yield_ms / 1000, collected)
        wall = time.monotonic() - start
        exited = session.exited.is_set()
        if exited and starting:
            await self._check_started(session)
        raw = collected.to_bytes().decode("utf-8", "replace")
        chunk_id = secrets.token_hex(3)
        text, output = format_unified_exec_output(
            chunk_id=chunk_id, wall_time_s=wall, exit_code=session.exit_code if exited else None,
            session_id=None if exited else session.id, text=raw, total_bytes=collected.total,
            omitted=collected.omitted, max_output_tokens=max_output_tokens,
            model_policy=truncation or self.truncation,
        )  # fmt: skip
        warnings: tuple[str, ...] = ()
        if not exited and starting:
            warnings = self._store_session(session)
        prepared = session.started.prepared
        if prepared is not None:
            # Connections the proxy refused since the last call: the model hears why.
            warnings += tuple(prepared.network_notes())
        if not starting and (chars or not exited):
            interaction = terminal_interaction(self._call_id(session) or "", session.id, chars)
            await (emit or self._session_emit(session))(interaction)
        if exited:
            self._store.pop(session.id, None)
            self._release(session.id)
            if not session.end_emitted:
                session.end_emitted = True
                await self._emit_end(session, output)
        return ExecCommandOutput(
            text=text, output=output, raw=raw, chunk_id=chunk_id,
            wall_time_s=wall, exit_code=session.exit_code if exited else None,
            session_id=None if exited else session.id, original_token_count=(collected.total + 3) // 4,
            process_id=session.id, call_id=self._call_id(session), warnings=warnings,
        )  # fmt: skip

    # ---- write_stdin -------------------------------------------------------------------------

    async def write_stdin(
        self,
        session_id: int,
        chars: str = "",
        yield_time_ms: int | None = None,
        max_output_tokens: int | None = None,
        *,
        emit: Emit | None = None,
        truncation: TruncationPolicy | None = None,
    ) -> ExecCommandOutput:
        """Type `chars` into session `session_id` (empty: poll) and return the new output as
        `write_stdin` does.  `emit` is the current turn's emitter for the
        `terminal_interaction` event (default: the one the session was started with); the
        session's later events (output, its end) go there too, so they reach the turn that
        is reading the session rather than the ended turn that started it.
        Raises `UnknownSessionError`, `StdinClosedError`, `WriteToStdinError`."""
        session = self._store.get(session_id)
        if session is None:
            raise UnknownSessionError(session_id)
        if emit is not None and session.events is not None and session.events.emit is not emit:
            session.events = ExecEvents(session.events.call_id, session.events.turn_id, emit)
        session.last_used = time.monotonic()
        session.active_calls += 1
        try:
            if chars:
                if not session.tty:
                    raise StdinClosedError
                if not session.exited.is_set():
                    try:
                        session.write(chars.encode("utf-8", "surrogatepass"))
                    except (StdinClosed, WriteFailed):
                        raise WriteToStdinError from None
                    # Like the reference: give the process a moment before the window opens.
                    await anyio.sleep(POST_WRITE_PAUSE_S)
                yield_ms = clamp_yield_ms(
                    yield_time_ms, DEFAULT_WRITE_STDIN_YIELD_TIME_MS, MIN_YIELD_TIME_MS, MAX_YIELD_TIME_MS
                )
            else:
                yield_ms = clamp_yield_ms(
                    yield_time_ms, DEFAULT_WRITE_STDIN_YIELD_TIME_MS, MIN_EMPTY_YIELD_TIME_MS,
                    self.max_background_poll_ms,
                )  # fmt: skip
            return await self._respond(
                session, yield_ms, max_output_tokens, truncation, starting=False, emit=emit, chars=chars
            )
        finally:
            session.active_calls -= 1
            session.last_used = time.monotonic()

    # ---- the store: cap, warnings, end events -------------------------------------------------

    def _store_session(self, session: ProcessSession) -> tuple[str, ...]:
        warnings: list[str] = []
        pruned = self._prune()
        if pruned is not None:
            warnings.append(
                f"Process {pruned.id} (`{_shown(pruned.command)}`) was ended: at most {self.max_sessions} "
                "processes can stay open and it was the least recently used one."
            )
        session.stored = True
        self._store[session.id] = session
        count = len(self._store)
        if count >= self.warning_sessions:
            warnings.append(
                "The maximum number of unified exec processes you can keep open is "
                f"{self.warning_sessions} and you currently have {count} processes open. Reuse older "
                "processes or close them to prevent automatic pruning of old processes"
            )
        return tuple(warnings)

    def _prune(self) -> ProcessSession | None:
        """Make room for one more session: end the least recently used one outside the 8 most
        recently used (fewer under a smaller cap; an exited one first, never one a call is
        waiting on)."""
        if len(self._store) < self.max_sessions:
            return None
        by_recency = sorted(self._store.values(), key=lambda s: s.last_used, reverse=True)
        protected = {s.id for s in by_recency[: min(PROTECTED_RECENT, self.max_sessions - 1)]}
        candidates = [s for s in reversed(by_recency) if s.id not in protected and s.active_calls == 0]
        victim = next((s for s in candidates if s.exited.is_set()), None) or next(iter(candidates), None)
        if victim is None:
            return None
        del self._store[victim.id]
        if not victim.end_emitted:
            victim.end_emitted = True
            self._task_group().start_soon(self._emit_end, victim, "", -1)
        self._task_group().start_soon(victim.terminate, "pruned")
        return victim

    async def _on_finished(self, session: ProcessSession) -> None:
        self._live.pop(session.id, None)
        self._release(session.id)
        if session.end_emitted or session.active_calls or session.ended_by in ("closed", "cancelled"):
            return
        session.end_emitted = True
        await self._emit_end(session, None)

    async def _emit_end(
        self, session: ProcessSession, formatted: str | None, exit_code: int | None = None
    ) -> None:
        if session.events is None:
            return
        transcript = session.transcript_text()
        if formatted is None:
            formatted = formatted_truncate_text(transcript, self.truncation)
        code = exit_code if exit_code is not None else session.exit_code
        events = session.events
        await session.emit(
            session_exec_end(
                call_id=events.call_id, turn_id=events.turn_id, process_id=session.id,
                command=session.command, cwd=session.cwd, parsed_cmd=session.parsed_cmd, stdout=transcript,
                formatted_output=formatted, exit_code=-1 if code is None else code,
                duration_s=session.duration_s,
            )
        )  # fmt: skip

    @staticmethod
    def _call_id(session: ProcessSession) -> str | None:
        return session.events.call_id if session.events is not None else None

    @staticmethod
    def _session_emit(session: ProcessSession) -> Emit:
        return session.emit


def _shown(command: Sequence[str], limit: int = 80) -> str:
    text = str(parsed_command(command)[0]["cmd"])
    return text if len(text) <= limit else text[: limit - 1] + "…"
