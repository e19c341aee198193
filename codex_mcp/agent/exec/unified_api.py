"""The vocabulary of process sessions: limits and defaults, requests, results, errors.

The numbers are codex-cli 0.147's (measured against it and read from its sources); see
`unified.py` for what they mean.  `str()` of an error is what the reference writes after
`write_stdin failed: ` (the handlers add that prefix).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_EXEC_YIELD_TIME_MS",
    "DEFAULT_MAX_BACKGROUND_POLL_MS",
    "DEFAULT_MAX_LIFETIME_S",
    "DEFAULT_WRITE_STDIN_YIELD_TIME_MS",
    "MAX_SESSIONS",
    "MAX_YIELD_TIME_MS",
    "MIN_EMPTY_YIELD_TIME_MS",
    "MIN_YIELD_TIME_MS",
    "UNIFIED_EXEC_ENV",
    "WARNING_SESSIONS",
    "CreateProcessError",
    "ExecCommandOutput",
    "ExecCommandRequest",
    "StdinClosedError",
    "UnifiedExecError",
    "UnknownSessionError",
    "WriteToStdinError",
    "clamp_yield_ms",
    "unified_exec_env",
]

MIN_YIELD_TIME_MS = 250
MIN_EMPTY_YIELD_TIME_MS = 5_000
MAX_YIELD_TIME_MS = 30_000
DEFAULT_EXEC_YIELD_TIME_MS = 10_000
DEFAULT_WRITE_STDIN_YIELD_TIME_MS = 250
DEFAULT_MAX_BACKGROUND_POLL_MS = 300_000
MAX_SESSIONS = 64
WARNING_SESSIONS = 60
PROTECTED_RECENT = 8
EARLY_EXIT_GRACE_S = 0.15
POST_WRITE_PAUSE_S = 0.1
DEFAULT_MAX_LIFETIME_S = 3600.0
CLOSE_TIMEOUT_S = 15.0

UNIFIED_EXEC_ENV: Mapping[str, str] = {
    "NO_COLOR": "1",
    "LANG": "C.UTF-8",
    "LC_CTYPE": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "COLORTERM": "",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "GH_PAGER": "cat",
    "CODEX_CI": "1",
}


def unified_exec_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` (already filtered by the environment policy) plus the session settings."""
    return {**env, **UNIFIED_EXEC_ENV}


# ---- errors: `str(err)` is what the reference puts after `write_stdin failed: ` ---------------


class UnifiedExecError(Exception):
    """A call that could not be served; the model is told `<tool> failed: <str(err)>`."""


class UnknownSessionError(UnifiedExecError):
    def __init__(self, session_id: int) -> None:
        super().__init__(f"Unknown process id {session_id}")
        self.session_id = session_id


class StdinClosedError(UnifiedExecError):
    def __init__(self) -> None:
        super().__init__(
            "stdin is closed for this session; rerun exec_command with tty=true to keep stdin open"
        )


class WriteToStdinError(UnifiedExecError):
    def __init__(self) -> None:
        super().__init__("failed to write to stdin")


class CreateProcessError(UnifiedExecError):
    """The process could not be started (or its sandbox could not be set up)."""

    def __init__(self, message: str, *, sandbox_setup: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.sandbox_setup = sandbox_setup

    def for_model(self, command: Sequence[str]) -> str:
        """The text the reference sends the model for a command it could not start."""
        inner = json.dumps(f'Rejected("{self.message}")', ensure_ascii=False)
        return f"exec_command failed for `{shlex.join(command)}`: CreateProcess {{ message: {inner} }}"


# ---- requests and results ------------------------------------------------------------------


@dataclass(frozen=True)
class ExecCommandRequest:
    """One `exec_command`: the argv (the user's shell running `cmd`: the caller builds it),
    the process cwd, its environment (after the environment policy), and the call's options."""

    command: Sequence[str]
    cwd: Path
    env: Mapping[str, str]
    tty: bool = False
    yield_time_ms: int | None = None
    max_output_tokens: int | None = None
    # What events and messages show, when the argv run differs from what the model asked for
    # (an approved command hardened against the sandbox's files); default: `command`.
    display_command: Sequence[str] | None = None

    @property
    def shown(self) -> Sequence[str]:
        return self.command if self.display_command is None else self.display_command


@dataclass(frozen=True)
class ExecCommandOutput:
    """What one `exec_command` or `write_stdin` call produced.

    `text` is the whole answer for the model; `output` its (truncated) output part; `raw`
    everything collected in the call (bounded, decoded; for the sandbox-denial heuristic).
    `session_id` is set while the process runs, `exit_code` once it has exited.  `call_id`
    is the id of the `exec_command` that started the session (what its events carry).
    `warnings` are for the model (the caller records each as a `Warning: ...` message).
    """

    text: str
    output: str
    raw: str
    chunk_id: str
    wall_time_s: float
    exit_code: int | None
    session_id: int | None
    original_token_count: int
    process_id: int
    call_id: str | None
    warnings: tuple[str, ...] = ()


def clamp_yield_ms(value: int | None, default: int, low: int, high: int) -> int:
    return min(max(default if value is None else int(value), low), high)
