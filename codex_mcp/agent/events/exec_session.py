"""The events of the current shell tools (`exec_command`, `write_stdin`, `shell_command`).

Shapes and field order are codex-cli 0.147's:

* `exec_command_begin` {call_id, process_id, turn_id, started_at_ms, command, cwd (a
  `file://` URI), parsed_cmd, source};
* `exec_command_output_delta` {call_id, stream, chunk (base64)};
* `exec_command_end` {call_id, process_id, turn_id, completed_at_ms, command, cwd,
  parsed_cmd, source, stdout, stderr, aggregated_output, exit_code, duration {secs, nanos},
  formatted_output, status ("completed" for exit code 0, else "failed")};
* `terminal_interaction` {call_id (of the `exec_command` that started the session),
  process_id, stdin}: what `write_stdin` typed (empty for a poll).

`source` says where the command came from: `unified_exec_startup` for a process session
started by `exec_command`, `agent` for a one-shot `shell_command`.  A one-shot command has
no process id (the key is left out), and `interaction_input` only appears when something was
typed into a running session, as the reference leaves out absent optional fields.

A session's output is one stream (a terminal, or stdout and stderr read together), so
`stdout` and `aggregated_output` of a session's end event carry it and `stderr` is empty, as
in the reference.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import (
        Duration,
        ExecCommandBegin,
        ExecCommandEnd,
        ExecCommandOutputDelta,
        TerminalInteraction,
    )


__all__ = [
    "SOURCE_AGENT",
    "SOURCE_INTERACTION",
    "SOURCE_STARTUP",
    "ExecSource",
    "cwd_uri",
    "now_ms",
    "session_exec_begin",
    "session_exec_end",
    "session_output_delta",
    "terminal_interaction",
]

ExecSource = Literal["agent", "unified_exec_startup", "unified_exec_interaction"]
SOURCE_AGENT: ExecSource = "agent"
SOURCE_STARTUP: ExecSource = "unified_exec_startup"
SOURCE_INTERACTION: ExecSource = "unified_exec_interaction"


def now_ms() -> int:
    return int(time.time() * 1000)


def _duration(seconds: float) -> Duration:
    seconds = max(0.0, seconds)
    secs = int(seconds)
    return {"secs": secs, "nanos": round((seconds - secs) * 1e9)}


def cwd_uri(cwd: Path | str) -> str:
    return Path(cwd).absolute().as_uri()


def session_exec_begin(
    *,
    call_id: str,
    turn_id: str,
    process_id: int | None,
    command: Sequence[str],
    cwd: Path | str,
    parsed_cmd: list[dict[str, Any]],
    started_at_ms: int,
    source: ExecSource = SOURCE_STARTUP,
    interaction_input: str | None = None,
) -> ExecCommandBegin:
    msg: dict[str, Any] = {"type": "exec_command_begin", "call_id": call_id}
    if process_id is not None:
        msg["process_id"] = str(process_id)
    msg.update(
        turn_id=turn_id, started_at_ms=started_at_ms, command=list(command), cwd=cwd_uri(cwd),
        parsed_cmd=parsed_cmd, source=source,
    )  # fmt: skip
    if interaction_input is not None:
        msg["interaction_input"] = interaction_input
    return cast("ExecCommandBegin", msg)


def session_output_delta(call_id: str, stream: str, chunk: bytes) -> ExecCommandOutputDelta:
    return {
        "type": "exec_command_output_delta",
        "call_id": call_id,
        "stream": stream,
        "chunk": base64.b64encode(chunk).decode("ascii"),
    }


def session_exec_end(
    *,
    call_id: str,
    turn_id: str,
    process_id: int | None,
    command: Sequence[str],
    cwd: Path | str,
    parsed_cmd: list[dict[str, Any]],
    stdout: str,
    stderr: str = "",
    aggregated_output: str | None = None,
    formatted_output: str,
    exit_code: int,
    duration_s: float,
    source: ExecSource = SOURCE_STARTUP,
    interaction_input: str | None = None,
) -> ExecCommandEnd:
    msg: dict[str, Any] = {"type": "exec_command_end", "call_id": call_id}
    if process_id is not None:
        msg["process_id"] = str(process_id)
    msg.update(
        turn_id=turn_id, completed_at_ms=now_ms(), command=list(command), cwd=cwd_uri(cwd),
        parsed_cmd=parsed_cmd, source=source,
    )  # fmt: skip
    if interaction_input is not None:
        msg["interaction_input"] = interaction_input
    msg.update(
        stdout=stdout, stderr=stderr,
        aggregated_output=stdout + stderr if aggregated_output is None else aggregated_output,
        exit_code=exit_code, duration=_duration(duration_s), formatted_output=formatted_output,
        status="completed" if exit_code == 0 else "failed",
    )  # fmt: skip
    return cast("ExecCommandEnd", msg)


def terminal_interaction(call_id: str, process_id: int, stdin: str) -> TerminalInteraction:
    return {"type": "terminal_interaction", "call_id": call_id, "process_id": str(process_id), "stdin": stdin}
