"""`shell_command`: one command line run to its end by the user's shell (what the model is
offered when process sessions are off for its family or config).

Cleared like every command (`command_gate`), run by the one-shot runner of `shell.py` in the
session's sandbox (or, approved, hardened outside it), and answered in the reference's
framing: `Exit code`, `Wall time`, `Total output lines` when the output was cut, `Output`,
cut to the model family's budget.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from codex_mcp.agent.exec.format import format_exec_output_str, format_shell_command_output
from codex_mcp.agent.exec.unified_args import ArgumentError, parse_shell_command_args, shell_command_argv
from codex_mcp.agent.handlers.command_gate import Refused, clear_command
from codex_mcp.agent.handlers.context import HandlerContext
from codex_mcp.agent.handlers.exec_command import family_truncation
from codex_mcp.agent.handlers.patch import handle_shell_patch
from codex_mcp.agent.handlers.shell import ShowExec, run_one_shot

__all__ = ["handle_shell_command"]


async def handle_shell_command(ctx: HandlerContext, call_id: str, args: dict[str, Any]) -> str:
    try:
        parsed = parse_shell_command_args(args)
    except ArgumentError as exc:
        return f"failed to parse function arguments: {exc}"
    argv = shell_command_argv(parsed.command, None, parsed.login)
    cwd = ctx.config.cwd / parsed.workdir if parsed.workdir else ctx.config.cwd

    from codex_mcp.agent.apply_patch import extract_apply_patch

    shell_patch = extract_apply_patch(argv, cwd)
    if shell_patch is not None:
        return await handle_shell_patch(ctx, call_id, shell_patch)

    cleared = await clear_command(
        ctx, call_id, argv, cwd, escalated=parsed.escalated, justification=parsed.justification,
        prefix_rule=parsed.prefix_rule,
    )  # fmt: skip
    if isinstance(cleared, Refused):
        return cleared.message
    format_output = partial(format_shell_command_output, policy=family_truncation(ctx))
    # The end event's `formatted_output` is the output itself, without the model's framing
    # (as the reference sends it).
    out, error = await run_one_shot(
        ctx, call_id, argv, cwd, parsed.timeout_ms, cleared, shown=ShowExec(format_exec_output_str)
    )
    if error is not None or out is None:
        return error or "execution error"
    return format_output(out)
