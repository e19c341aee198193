"""The events of process sessions, as plain dicts in the shapes codex-cli 0.147 sends.

Kept in one place so that they can join the event vocabulary module as they are; nothing
here imports the agent.  Field order follows the reference's JSON:

* `exec_command_begin` {call_id, process_id, turn_id, started_at_ms, command, cwd (a
  `file://` URI), parsed_cmd, source};
* `exec_command_output_delta` {call_id, stream, chunk (base64)};
* `exec_command_end` {call_id, process_id, turn_id, completed_at_ms, command, cwd,
  parsed_cmd, source, stdout, stderr, aggregated_output, exit_code, duration {secs, nanos},
  formatted_output, status ("completed" for exit code 0, else "failed")};
* `terminal_interaction` {call_id (of the `exec_command` that started the session),
  process_id, stdin}: what `write_stdin` typed (empty for a poll).

A session's output is one stream (a terminal, or stdout and stderr read together), so
`stdout` and `aggregated_output` of the end event carry it and `stderr` is empty, as in the
reference.
"""

from __future__ import annotations

import base64
import shlex
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "SOURCE_INTERACTION",
    "SOURCE_STARTUP",
    "Emit",
    "ExecEvents",
    "exec_begin",
    "exec_end",
    "exec_output_delta",
    "parsed_command",
    "terminal_interaction",
]

Source = Literal["unified_exec_startup", "unified_exec_interaction"]
SOURCE_STARTUP: Source = "unified_exec_startup"
SOURCE_INTERACTION: Source = "unified_exec_interaction"

Emit = Callable[[dict[str, Any]], Awaitable[None]]
"""Where events go: the thread's emitter bound to a turn (it must not raise for a closed
turn; errors are logged and swallowed by the session)."""


@dataclass(frozen=True)
class ExecEvents:
    """Who an `exec_command` reports to: its call and turn ids, and the emitter."""

    call_id: str
    turn_id: str
    emit: Emit


def now_ms() -> int:
    return int(time.time() * 1000)


def duration_json(seconds: float) -> dict[str, int]:
    secs = int(max(0.0, seconds))
    return {"secs": secs, "nanos": round((max(0.0, seconds) - secs) * 1e9)}


def parsed_command(argv: Sequence[str]) -> list[dict[str, Any]]:
    """`[{"type": "unknown", "cmd": ...}]`: the script of `shell -c/-lc script`, else the argv."""
    if len(argv) == 3 and argv[1] in ("-lc", "-c") and Path(argv[0]).name in ("bash", "zsh", "sh", "dash"):
        return [{"type": "unknown", "cmd": argv[2]}]
    return [{"type": "unknown", "cmd": shlex.join(argv)}]


def cwd_uri(cwd: Path | str) -> str:
    return Path(cwd).absolute().as_uri()


def exec_begin(
    ev: ExecEvents,
    process_id: int,
    command: Sequence[str],
    cwd: Path,
    parsed_cmd: list[dict[str, Any]],
    started_at_ms: int,
    source: Source = SOURCE_STARTUP,
) -> dict[str, Any]:
    return {
        "type": "exec_command_begin",
        "call_id": ev.call_id,
        "process_id": str(process_id),
        "turn_id": ev.turn_id,
        "started_at_ms": started_at_ms,
        "command": list(command),
        "cwd": cwd_uri(cwd),
        "parsed_cmd": parsed_cmd,
        "source": source,
    }


def exec_output_delta(call_id: str, stream: str, chunk: bytes) -> dict[str, Any]:
    return {
        "type": "exec_command_output_delta",
        "call_id": call_id,
        "stream": stream,
        "chunk": base64.b64encode(chunk).decode("ascii"),
    }


def exec_end(
    ev: ExecEvents,
    process_id: int,
    command: Sequence[str],
    cwd: Path,
    parsed_cmd: list[dict[str, Any]],
    *,
    output: str,
    formatted_output: str,
    exit_code: int,
    duration_s: float,
    source: Source = SOURCE_STARTUP,
) -> dict[str, Any]:
    return {
        "type": "exec_command_end",
        "call_id": ev.call_id,
        "process_id": str(process_id),
        "turn_id": ev.turn_id,
        "completed_at_ms": now_ms(),
        "command": list(command),
        "cwd": cwd_uri(cwd),
        "parsed_cmd": parsed_cmd,
        "source": source,
        "stdout": output,
        "stderr": "",
        "aggregated_output": output,
        "exit_code": exit_code,
        "duration": duration_json(duration_s),
        "formatted_output": formatted_output,
        "status": "completed" if exit_code == 0 else "failed",
    }


def terminal_interaction(call_id: str, process_id: int, stdin: str) -> dict[str, Any]:
    return {"type": "terminal_interaction", "call_id": call_id, "process_id": str(process_id), "stdin": stdin}
