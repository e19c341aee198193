"""Scripting a model that drives process sessions through the real server.

`exec_command` answers carry a random session id, so a `write_stdin` call can only be built
once the answer that named the id has reached the model: `after(model, call_id, ...)` queues
an answer built at that moment from the output the agent sent back for `call_id`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.support.model_turns import new_id
from tests.support.scripted_model import Recorded, ScriptedModel, Turn, function_call

SESSION_ID = re.compile(r"Process running with session ID (\d+)")
EXIT_CODE = re.compile(r"Process exited with code (-?\d+)")


def exec_args(
    cmd: str, *, tty: bool | None = None, yield_ms: int | None = None, **extra: Any
) -> dict[str, Any]:
    args: dict[str, Any] = {"cmd": cmd, **extra}
    if tty is not None:
        args["tty"] = tty
    if yield_ms is not None:
        args["yield_time_ms"] = yield_ms
    return args


def exec_command(model: ScriptedModel, cmd: str, call_id: str | None = None, **kw: Any) -> str:
    """Queue one `exec_command` call; returns its call id."""
    return model.function("exec_command", exec_args(cmd, **kw), call_id)


def session_id_in(output: str) -> int:
    found = SESSION_ID.search(output)
    assert found, f"no session id in {output!r}"
    return int(found.group(1))


def exit_code_in(output: str) -> int | None:
    found = EXIT_CODE.search(output)
    return int(found.group(1)) if found else None


def output_of(rec: Recorded, call_id: str) -> str:
    out = rec.call_output(call_id)
    assert out is not None, f"the request carries no output for {call_id}"
    return out


def after(
    model: ScriptedModel,
    started_by: str,
    chars: str = "",
    *,
    yield_ms: int | None = None,
    call_id: str | None = None,
    session_id: Callable[[int], int] | None = None,
    **extra: Any,
) -> str:
    """Queue a `write_stdin` to the session the call `started_by` opened (its id read from the
    output the agent sent back); `session_id` may rewrite the id (an attacker's guess).
    Returns the new call's id."""
    new_call = call_id or new_id("call")

    def build(rec: Recorded) -> Turn:
        sid = session_id_in(output_of(rec, started_by))
        args: dict[str, Any] = {"session_id": session_id(sid) if session_id else sid, "chars": chars, **extra}
        if yield_ms is not None:
            args["yield_time_ms"] = yield_ms
        return Turn("calls", calls=[function_call("write_stdin", args, new_call)])

    model.later(build)
    return new_call
