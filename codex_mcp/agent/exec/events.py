"""Who a process session reports to, and how its command is shown.

The events themselves are built by the event vocabulary (`codex_mcp.agent.events`,
`exec_session.py`); a session only knows its `ExecEvents`: the ids of the `exec_command`
that started it and the emitter of the turn currently reading it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_mcp.agent.events import Emit
from codex_mcp.agent.events.exec_session import now_ms

__all__ = ["Emit", "ExecEvents", "now_ms", "parsed_command"]


@dataclass(frozen=True)
class ExecEvents:
    """Who an `exec_command` reports to: its call and turn ids, and the emitter (it must not
    raise for a turn that has ended; a failing emitter only stops the session's events)."""

    call_id: str
    turn_id: str
    emit: Emit


def parsed_command(argv: Sequence[str]) -> list[dict[str, Any]]:
    """`[{"type": "unknown", "cmd": ...}]`: the script of `shell -c/-lc script`, else the argv."""
    if len(argv) == 3 and argv[1] in ("-lc", "-c") and Path(argv[0]).name in ("bash", "zsh", "sh", "dash"):
        return [{"type": "unknown", "cmd": argv[2]}]
    return [{"type": "unknown", "cmd": shlex.join(argv)}]
