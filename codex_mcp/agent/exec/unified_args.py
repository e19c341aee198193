"""The model's arguments to `exec_command` and `write_stdin`, checked like the reference does.

The handlers stay thin: `parse_exec_command_args` / `parse_write_stdin_args` turn the
decoded JSON object into typed arguments or raise `ArgumentError`, whose text is serde's
wording for the same mistake (`missing field `cmd``, `invalid type: integer `5`, expected a
string`, `invalid value: integer `-5`, expected u64`); the handler sends the model
`failed to parse function arguments: <text>`.  Unknown fields are ignored, as the
reference's deserializer does.  `shell_command_argv` turns `cmd` into the argv the user's
shell runs (`["/bin/bash", "-lc", cmd]` by default, `-c` with `login: false`).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ArgumentError",
    "ExecCommandArgs",
    "ShellCommandArgs",
    "WriteStdinArgs",
    "default_user_shell",
    "parse_exec_command_args",
    "parse_shell_command_args",
    "parse_write_stdin_args",
    "shell_command_argv",
]

SandboxPermissions = Literal["use_default", "require_escalated"]
_U64_MAX = 2**64 - 1
_I32 = (-(2**31), 2**31 - 1)


class ArgumentError(ValueError):
    """The arguments do not fit the tool's schema (the message is serde's wording)."""


@dataclass(frozen=True)
class ExecCommandArgs:
    """The arguments of an `exec_command` call, checked against the tool's schema."""

    cmd: str
    workdir: str | None = None
    shell: str | None = None
    login: bool | None = None
    tty: bool = False
    yield_time_ms: int | None = None
    max_output_tokens: int | None = None
    sandbox_permissions: SandboxPermissions = "use_default"
    justification: str | None = None
    prefix_rule: tuple[str, ...] | None = None

    @property
    def escalated(self) -> bool:
        return self.sandbox_permissions == "require_escalated"


@dataclass(frozen=True)
class ShellCommandArgs:
    """`shell_command`: one command line, run to its end (or `timeout_ms`) by the user's shell."""

    command: str
    workdir: str | None = None
    timeout_ms: int | None = None
    login: bool | None = None
    sandbox_permissions: SandboxPermissions = "use_default"
    justification: str | None = None
    prefix_rule: tuple[str, ...] | None = None

    @property
    def escalated(self) -> bool:
        return self.sandbox_permissions == "require_escalated"


@dataclass(frozen=True)
class WriteStdinArgs:
    """The arguments of a `write_stdin` call, checked against the tool's schema."""

    session_id: int
    chars: str = ""
    yield_time_ms: int | None = None
    max_output_tokens: int | None = None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _string(args: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    if key not in args or (args[key] is None and not required):
        if required:
            raise ArgumentError(f"missing field `{key}`")
        return None
    value = args[key]
    if not isinstance(value, str):
        raise ArgumentError(f"invalid type: {_shown(value)}, expected a string")
    return value


def _boolean(args: dict[str, Any], key: str) -> bool | None:
    value = args.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ArgumentError(f"invalid type: {_shown(value)}, expected a boolean")
    return value


def _integer(args: dict[str, Any], key: str, kind: str, low: int, high: int) -> int | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"invalid type: {_shown(value)}, expected {kind}")
    if not low <= value <= high:
        raise ArgumentError(f"invalid value: {_shown(value)}, expected {kind}")
    return value


def _object(args: Any) -> dict[str, Any]:
    if not isinstance(args, dict):
        raise ArgumentError(f"invalid type: {_shown(args)}, expected a map")
    return args


def _permissions(args: dict[str, Any]) -> SandboxPermissions:
    permissions = _string(args, "sandbox_permissions") or "use_default"
    if permissions not in ("use_default", "require_escalated"):
        raise ArgumentError(f"unknown variant `{permissions}`, expected `use_default` or `require_escalated`")
    return "require_escalated" if permissions == "require_escalated" else "use_default"


def _prefix_rule(args: dict[str, Any]) -> tuple[str, ...] | None:
    rule = args.get("prefix_rule")
    if rule is not None and (not isinstance(rule, list) or not all(isinstance(p, str) for p in rule)):
        raise ArgumentError(f"invalid type: {_shown(rule)}, expected a sequence of strings")
    return None if rule is None else tuple(rule)


def parse_exec_command_args(args: Any) -> ExecCommandArgs:
    args = _object(args)
    cmd = _string(args, "cmd", required=True)
    assert cmd is not None
    permissions = _permissions(args)
    return ExecCommandArgs(
        cmd=cmd,
        workdir=_string(args, "workdir"),
        shell=_string(args, "shell"),
        login=_boolean(args, "login"),
        tty=bool(_boolean(args, "tty")),
        yield_time_ms=_integer(args, "yield_time_ms", "u64", 0, _U64_MAX),
        max_output_tokens=_integer(args, "max_output_tokens", "usize", 0, _U64_MAX),
        sandbox_permissions=permissions,
        justification=_string(args, "justification"),
        prefix_rule=_prefix_rule(args),
    )


def parse_shell_command_args(args: Any) -> ShellCommandArgs:
    args = _object(args)
    command = _string(args, "command", required=True)
    assert command is not None
    permissions = _permissions(args)
    timeout = args.get("timeout_ms", args.get("timeout"))
    return ShellCommandArgs(
        command=command,
        workdir=_string(args, "workdir"),
        timeout_ms=_integer({"timeout_ms": timeout}, "timeout_ms", "u64", 0, _U64_MAX),
        login=_boolean(args, "login"),
        sandbox_permissions=permissions,
        justification=_string(args, "justification"),
        prefix_rule=_prefix_rule(args),
    )


def parse_write_stdin_args(args: Any) -> WriteStdinArgs:
    args = _object(args)
    if "session_id" not in args or args["session_id"] is None:
        raise ArgumentError("missing field `session_id`")
    session_id = _integer(args, "session_id", "i32", *_I32)
    assert session_id is not None
    return WriteStdinArgs(
        session_id=session_id,
        chars=_string(args, "chars") or "",
        yield_time_ms=_integer(args, "yield_time_ms", "u64", 0, _U64_MAX),
        max_output_tokens=_integer(args, "max_output_tokens", "usize", 0, _U64_MAX),
    )


def default_user_shell() -> str:
    """The user's login shell when it is one of the POSIX shells we drive, else bash."""
    try:
        shell = pwd.getpwuid(os.getuid()).pw_shell
    except KeyError:
        shell = ""
    if Path(shell).name in ("bash", "zsh", "sh", "dash", "ksh") and os.access(shell, os.X_OK):
        return shell
    return shutil.which("bash") or "/bin/bash"


def shell_command_argv(cmd: str, shell: str | None = None, login: bool | None = None) -> list[str]:
    """`[shell, "-lc" | "-c", cmd]`: the model's shell (resolved on PATH), else the user's;
    a login shell unless `login` is false."""
    program = default_user_shell()
    if shell:
        program = shutil.which(shell) or shell
    return [program, "-c" if login is False else "-lc", cmd]
