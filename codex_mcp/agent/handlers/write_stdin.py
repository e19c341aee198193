"""`write_stdin`: type into one of the thread's process sessions (empty `chars`: poll), and
answer with the new output in the same framing as `exec_command`.

Only sessions of this thread can be reached: the ids belong to the thread's own manager,
so an id of another thread (or a made-up one) is an unknown process, never someone else's
terminal.  Errors read `write_stdin failed: <why>`, as the reference's.
"""

from __future__ import annotations

from typing import Any

from codex_mcp.agent.exec.unified import UnifiedExecError, UnknownSessionError
from codex_mcp.agent.exec.unified_args import ArgumentError, parse_write_stdin_args
from codex_mcp.agent.handlers.context import HandlerContext
from codex_mcp.agent.handlers.exec_command import family_truncation

__all__ = ["handle_write_stdin"]


async def handle_write_stdin(ctx: HandlerContext, call_id: str, args: dict[str, Any]) -> str:
    try:
        parsed = parse_write_stdin_args(args)
    except ArgumentError as exc:
        return f"failed to parse function arguments: {exc}"
    # No manager yet means no session yet: never start one just to say so.
    manager = ctx.sessions.existing() if ctx.sessions is not None else None
    try:
        if manager is None or manager.closed:
            raise UnknownSessionError(parsed.session_id)
        result = await manager.write_stdin(
            parsed.session_id, parsed.chars, parsed.yield_time_ms, parsed.max_output_tokens,
            emit=ctx.emit, truncation=family_truncation(ctx),
        )  # fmt: skip
    except UnifiedExecError as exc:
        return f"write_stdin failed: {exc}"
    return result.text
