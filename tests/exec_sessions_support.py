"""Helpers for the process-session tests: a recording emitter, and waits on conditions.

A `write_stdin` call always waits its whole window (that is the contract), so waiting for
output is a loop of short polls until the text appears, bounded by a deadline.  The tests
shorten the 5 s minimum of an empty poll (`fast_polls`) to keep that loop quick; the
minimum itself is tested on its own.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codex_mcp.agent.exec.events import ExecEvents
from codex_mcp.agent.exec.unified import ExecCommandOutput, ExecCommandRequest, UnifiedExecManager

PY = sys.executable
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "TERM": "xterm"}

READ_LOOP = (
    "import sys\n"
    "print('ready', flush=True)\n"
    "for line in sys.stdin:\n"
    "    print('got:' + line.strip(), flush=True)\n"
    "    if line.strip() == 'quit':\n"
    "        break\n"
    "print('bye')\n"
)


class Recorder:
    """Collects the events a session emits."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def emit(self, msg: dict[str, Any]) -> None:
        self.events.append(msg)

    def for_call(self, call_id: str, turn_id: str = "turn-1") -> ExecEvents:
        return ExecEvents(call_id, turn_id, self.emit)

    def types(self, call_id: str | None = None) -> list[str]:
        return [e["type"] for e in self.events if call_id is None or e.get("call_id") == call_id]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def streamed(self, call_id: str) -> bytes:
        return b"".join(
            base64.b64decode(e["chunk"])
            for e in self.of("exec_command_output_delta")
            if e["call_id"] == call_id
        )


def request(argv: list[str], cwd: Path, **kw: Any) -> ExecCommandRequest:
    return ExecCommandRequest(argv, cwd, dict(ENV), **kw)


async def until(
    manager: UnifiedExecManager,
    first: ExecCommandOutput,
    done: Callable[[str], bool],
    *,
    within: float = 20.0,
    yield_ms: int = 250,
) -> tuple[str, ExecCommandOutput]:
    """Poll the session of `first` until the output seen so far (from `first` on) satisfies
    `done`, or the process exits; (all output, last result)."""
    seen = first.output
    last = first
    deadline = time.monotonic() + within
    while not done(seen) and last.session_id is not None:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s; output so far: {seen!r}")
        last = await manager.write_stdin(last.session_id, "", yield_time_ms=yield_ms)
        seen += last.output
    return seen, last


async def send(
    manager: UnifiedExecManager, session_id: int, chars: str, expect: str, *, within: float = 20.0
) -> tuple[str, ExecCommandOutput]:
    """Type `chars`, then poll until `expect` shows up."""
    first = await manager.write_stdin(session_id, chars)
    return await until(manager, first, lambda text: expect in text, within=within)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def gone(pids: list[int], within: float = 10.0) -> list[int]:
    """The pids still alive after waiting (bounded) for all of them to die, without blocking
    the event loop (the sessions' own tasks do the killing)."""
    import anyio

    deadline = time.monotonic() + within
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        await anyio.sleep(0.02)
        left = [p for p in pids if alive(p)]
    return left
