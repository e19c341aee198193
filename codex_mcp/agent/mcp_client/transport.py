"""Transports of the MCP client: newline-delimited JSON-RPC over a child process's stdio.

A transport only moves messages; the session (`client.py`) gives them meaning.  It
delivers each incoming message (already classified by `codex_mcp.jsonrpc`) to a callback,
then `None` when the peer is gone.  Its background tasks run in the owner's task group but
each in its own cancel scope, so closing one server never disturbs the others.

The stdio child gets a restricted environment (never our credentials), runs in its own
process group (so closing it also ends whatever it spawned), has its stderr drained into
our log (bounded, so a noisy server cannot fill the log or block on a full pipe), and is
always reaped: stdin closed, a grace period, SIGTERM to the group, SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from anyio.abc import Process, TaskGroup

from codex_mcp.agent.mcp_client.config import StdioTransportConfig
from codex_mcp.jsonrpc import Incoming, encode, parse_message

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 32 * 1024 * 1024
STDERR_LOG_LIMIT = 256 * 1024
STDERR_TAIL = 2048
CLOSE_GRACE_SEC = 2.0
EXIT_DETAILS_WAIT_SEC = 1.0

CORE_ENV_VARS = (
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "USER",
    "__CF_USER_TEXT_ENCODING",
    "LANG",
    "LC_ALL",
    "TERM",
    "TMPDIR",
    "TZ",
)


@dataclass(frozen=True, slots=True)
class Oversized:
    """The peer sent a message larger than we accept; it was dropped unread."""

    size: int


Delivered = Incoming | Oversized | None
Deliver = Callable[[Delivered], Awaitable[None]]


class Transport(Protocol):
    async def start(self, task_group: TaskGroup, deliver: Deliver) -> None: ...

    async def send(self, message: dict[str, Any]) -> None: ...

    async def aclose(self) -> None: ...

    def exit_details(self) -> str:
        """Why the peer went away, for error messages ("" when unknown)."""
        ...


class TaskSet:
    """Tasks in a shared task group that can still be cancelled as one set."""

    def __init__(self) -> None:
        self._scopes: set[anyio.CancelScope] = set()
        self._cancelled = False

    def spawn(self, tg: TaskGroup, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
        scope = anyio.CancelScope()
        if self._cancelled:
            scope.cancel()
        self._scopes.add(scope)

        async def run() -> None:
            try:
                with scope:
                    await fn()
            finally:
                self._scopes.discard(scope)

        tg.start_soon(run)

    def cancel(self) -> None:
        self._cancelled = True
        for scope in list(self._scopes):
            scope.cancel()


def stdio_env(config: StdioTransportConfig, base_env: Mapping[str, str]) -> dict[str, str]:
    """The child's whole environment: core variables, the named `env_vars`, then `env`."""
    env = {name: base_env[name] for name in CORE_ENV_VARS if name in base_env}
    env.update({name: base_env[name] for name in config.env_vars if name in base_env})
    env.update(config.env)
    return env


class StdioTransport:
    def __init__(self, name: str, config: StdioTransportConfig, base_env: Mapping[str, str]) -> None:
        self.name = name
        self._config = config
        self._base_env = base_env
        self._process: Process | None = None
        self._tasks = TaskSet()
        self._write_lock = anyio.Lock()
        self._stderr_tail = b""
        self._stderr_done = anyio.Event()
        self._closed = False

    async def start(self, task_group: TaskGroup, deliver: Deliver) -> None:
        config = self._config
        self._process = await anyio.open_process(
            [config.command, *config.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=config.cwd,
            env=stdio_env(config, self._base_env),
            start_new_session=True,
        )
        self._tasks.spawn(task_group, lambda: self._read_stdout(deliver))
        self._tasks.spawn(task_group, self._drain_stderr)

    async def send(self, message: dict[str, Any]) -> None:
        process = self._process
        if process is None or process.stdin is None or self._closed:
            raise anyio.ClosedResourceError
        async with self._write_lock:
            await process.stdin.send(encode(message))

    async def _read_stdout(self, deliver: Deliver) -> None:
        assert self._process is not None and self._process.stdout is not None
        stream = self._process.stdout
        parts: list[bytes] = []  # the unfinished line, in pieces (no quadratic re-joining)
        size = 0
        skipping = False  # inside an oversized frame: drop bytes up to its newline
        try:
            while True:
                try:
                    chunk = await stream.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    break
                while chunk:
                    end = chunk.find(b"\n")
                    if end < 0:
                        size += len(chunk)
                        if not skipping:
                            parts.append(chunk)
                            if size > MAX_FRAME_BYTES:
                                skipping, parts = True, []
                        break
                    line, chunk = chunk[:end], chunk[end + 1 :]
                    if skipping:
                        await deliver(Oversized(size + len(line)))
                    elif parts:
                        line = b"".join((*parts, line))
                    parts, size, was_skipping, skipping = [], 0, skipping, False
                    if not was_skipping and line.strip():
                        await deliver(parse_message(line))
        finally:
            with anyio.CancelScope(shield=True):
                # Give the exit code and the last stderr lines a moment to arrive: they are
                # what makes "the server closed the connection" an actionable error.
                with anyio.move_on_after(EXIT_DETAILS_WAIT_SEC):
                    await self._process.wait()
                    await self._stderr_done.wait()
                await deliver(None)

    async def _drain_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        try:
            await self._drain(self._process.stderr)
        finally:
            self._stderr_done.set()

    async def _drain(self, stream: AsyncIterable[bytes]) -> None:
        logged = 0
        pending = b""
        async for chunk in stream:
            self._stderr_tail = (self._stderr_tail + chunk)[-STDERR_TAIL:]
            if logged >= STDERR_LOG_LIMIT:
                continue
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                logged += len(line)
                log.info("[mcp server %s] %s", self.name, line.decode("utf-8", "replace").rstrip())
            if logged >= STDERR_LOG_LIMIT:
                log.info("[mcp server %s] (further stderr output is not logged)", self.name)

    def exit_details(self) -> str:
        parts = []
        process = self._process
        if process is not None and process.returncode is not None:
            parts.append(f"exit code {process.returncode}")
        tail = self._stderr_tail.decode("utf-8", "replace").strip().splitlines()
        if tail:
            parts.append(f"stderr: {tail[-1][:300]}")
        return "; ".join(parts)

    async def aclose(self) -> None:
        process = self._process
        if process is None or self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            if process.stdin is not None:
                with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await process.stdin.aclose()
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    _signal_group(process.pid, sig)
                with anyio.move_on_after(CLOSE_GRACE_SEC):
                    await process.wait()
                    break
            _signal_group(process.pid, signal.SIGKILL)  # anything the server left behind
            self._tasks.cancel()
            with anyio.move_on_after(CLOSE_GRACE_SEC):
                await process.aclose()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
