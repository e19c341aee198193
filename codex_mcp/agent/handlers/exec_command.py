"""`exec_command`: start a command in a process session of the thread, and answer with what
it printed before it exited or the yield window closed.

The command is the user's shell running `cmd` (`shell`, `login` choose which and how).  It
is cleared exactly like a one-shot command (`command_gate`: rules, grants, safety, the
person's approval for `require_escalated`), runs in the session's sandbox for its whole life
unless the person approved it (then outside, hardened), and gets the same environment
policy.  A patch written as an `apply_patch` heredoc is applied as a patch, as the reference
does.  The session belongs to the thread (`ThreadSessions`): it survives the turn, and is
ended with the thread.

What the model sees is the reference's framing (`Chunk ID`, `Wall time`, `Process exited
with code` or `Process running with session ID`, `Original token count`, `Output`), cut to
the model family's budget.  A command that could not start gets the reference's
`exec_command failed for ...: CreateProcess { ... }`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codex_mcp.agent import events as ev
from codex_mcp.agent.exec.events import ExecEvents
from codex_mcp.agent.exec.truncation import TruncationPolicy
from codex_mcp.agent.exec.unified import (
    CreateProcessError,
    ExecCommandOutput,
    ExecCommandRequest,
    UnifiedExecError,
    UnifiedExecManager,
)
from codex_mcp.agent.exec.unified_args import ArgumentError, parse_exec_command_args, shell_command_argv
from codex_mcp.agent.handlers.command_gate import RETRY_REASON, Cleared, Refused, ask_person, clear_command
from codex_mcp.agent.handlers.confine import UnsandboxedRefused, harden_unsandboxed
from codex_mcp.agent.handlers.context import HandlerContext
from codex_mcp.agent.handlers.patch import handle_shell_patch
from codex_mcp.agent.items import text_message
from codex_mcp.errors import ThreadClosed

__all__ = ["family_truncation", "handle_exec_command", "rejected_for_model"]


def family_truncation(ctx: HandlerContext) -> TruncationPolicy:
    """The model family's output budget (tokens or bytes), as its contract says."""
    from codex_mcp.agent.families import resolve_family

    mode, limit = resolve_family(ctx.config.model, ctx.config.family_overrides).truncation
    return TruncationPolicy(mode, limit)


def rejected_for_model(argv: list[str], refused: Refused) -> str:
    """A command the person (or the host for them) did not allow, in the reference's words."""
    why = "rejected by user" if refused.reason is None else f"rejected by user ({refused.reason})"
    return CreateProcessError(why).for_model(argv)


async def handle_exec_command(ctx: HandlerContext, call_id: str, args: dict[str, Any]) -> str:
    try:
        parsed = parse_exec_command_args(args)
    except ArgumentError as exc:
        return f"failed to parse function arguments: {exc}"
    argv = shell_command_argv(parsed.cmd, parsed.shell, parsed.login)
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
        return rejected_for_model(argv, cleared) if cleared.by_user else cleared.message
    if ctx.sessions is None:
        return "exec_command failed: this session cannot keep processes"
    try:
        manager = await ctx.sessions.manager()
    except ThreadClosed as exc:
        return f"exec_command failed: {exc}"
    start = _Start(ctx, call_id, argv, cwd, parsed.tty, parsed.yield_time_ms, parsed.max_output_tokens)
    result = await start.run(manager, cleared, sandboxed=cleared.sandboxed)
    if isinstance(result, str):
        return result
    policy = ctx.config.approval_policy
    if cleared.sandboxed and policy in ("on-failure", "untrusted") and _looks_denied(ctx, result):
        await ctx.emit(ev.background_event(f"Execution failed: exit code {result.exit_code}"))
        refused = await ask_person(ctx, call_id, argv, cwd, RETRY_REASON)
        if refused is not None:
            return rejected_for_model(argv, refused) if refused.by_user else refused.message
        ctx.grants.commands.add(tuple(argv))
        await ctx.emit(ev.background_event("retrying command without sandbox"))
        retried = await start.run(manager, cleared, sandboxed=False)
        if isinstance(retried, str):
            return retried
        result = retried
    for warning in result.warnings:
        ctx.pending_input.append(text_message("user", f"Warning: {warning}"))
    return result.text


def _looks_denied(ctx: HandlerContext, result: ExecCommandOutput) -> bool:
    """The process exited within the call, and its output looks like the sandbox refused."""
    if result.exit_code is None:
        return False
    from codex_mcp.sandbox.denial import is_likely_sandbox_denied

    return bool(is_likely_sandbox_denied(ctx.config.sandbox_policy, result.exit_code, result.raw, ""))


class _Start:
    """One `exec_command` start, in the sandbox or (approved) hardened outside it."""

    def __init__(
        self,
        ctx: HandlerContext,
        call_id: str,
        argv: list[str],
        cwd: Path,
        tty: bool,
        yield_time_ms: int | None,
        max_output_tokens: int | None,
    ) -> None:
        self.ctx, self.call_id, self.argv, self.cwd, self.tty = ctx, call_id, argv, cwd, tty
        self.yield_time_ms, self.max_output_tokens = yield_time_ms, max_output_tokens

    async def run(
        self, manager: UnifiedExecManager, cleared: Cleared, *, sandboxed: bool
    ) -> ExecCommandOutput | str:
        """The call's answer, or the text for the model when nothing ran."""
        run_argv, env = list(self.argv), dict(cleared.env)
        if not sandboxed:
            try:
                hardened = harden_unsandboxed(self.argv, env, str(self.cwd), cleared.boundary)
            except UnsandboxedRefused as exc:
                return f"execution error: {exc}"
            run_argv, env = hardened.argv, hardened.env
            for note in hardened.notes:
                await self.ctx.emit(ev.background_event(note))
        request = ExecCommandRequest(
            run_argv, self.cwd, env, tty=self.tty, yield_time_ms=self.yield_time_ms,
            max_output_tokens=self.max_output_tokens, display_command=self.argv,
        )  # fmt: skip
        # The boundary comes from the session (its configured cwd and policy), never from
        # the directory this one command runs in; None runs it outside the sandbox.
        boundary = cleared.boundary if sandboxed and not cleared.boundary.is_full_access else None
        events = ExecEvents(self.call_id, self.ctx.turn_id, self.ctx.emit)
        try:
            return await manager.exec_command(
                request, boundary=boundary, events=events, truncation=family_truncation(self.ctx)
            )
        except CreateProcessError as exc:
            return exc.for_model(self.argv)
        except UnifiedExecError as exc:
            return f"exec_command failed: {exc}"
        except RuntimeError as exc:  # the manager was closed meanwhile (the thread is going away)
            return f"exec_command failed: {exc}"
