"""The `apply_patch` tool (and `apply_patch` run through the shell): verify, approve, apply.

A patch is parsed, checked against the files and resolved to the exact paths it will touch
before anything else, so the approval request shows the exact changes and a patch that cannot
apply is reported without asking.  Which of those paths the server may write on its own is
decided by the *session's* boundary (its configured cwd and policy), never by the directory a
shell-form patch was started in (`cd /elsewhere && apply_patch`, `workdir`): that directory
only anchors the patch's relative paths.

The server writes a patch itself in two cases only: every path lies inside the boundary
(then the writer is confined to it: see `apply_patch.apply_planned`), or the person approved
this patch (or these paths for the session).  File reads and writes run in a worker thread,
with caps, so a hostile file (a FIFO, a device, a huge file) cannot stall the event loop.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio.to_thread

from codex_mcp.agent import events as ev
from codex_mcp.agent.apply_patch import (
    ApplyPatchError,
    ApplyResult,
    PlannedPatch,
    apply_planned,
    compute_changes,
    file_change_to_json,
    parse_patch,
    plan_changes,
)
from codex_mcp.agent.events.thread_items import now_ms
from codex_mcp.agent.exec.format import format_duration_seconds
from codex_mcp.agent.handlers.confine import command_env, session_boundary
from codex_mcp.agent.handlers.context import HandlerContext, rejection_text
from codex_mcp.sandbox.boundary import Boundary, BoundaryError
from codex_mcp.sandbox.safety import AskUser, AutoApprove, Reject, assess_patch_safety, patch_write_allowed

REJECTED_BY_USER = "patch rejected by user"


def _result_text(exit_code: int, seconds: float, output: str) -> str:
    return f"Exit code: {exit_code}\nWall time: {format_duration_seconds(seconds)} seconds\nOutput:\n{output}"


async def handle_apply_patch(ctx: HandlerContext, call_id: str, text: str) -> str:
    return await apply_patch_call(ctx, call_id, text, ctx.config.cwd)


async def handle_shell_patch(ctx: HandlerContext, call_id: str, shell_patch: Any) -> str:
    error = getattr(shell_patch, "error", None)
    if error:
        return f"apply_patch verification failed: {error}"
    return await apply_patch_call(ctx, call_id, shell_patch.patch, Path(shell_patch.cwd))


def _verify(text: str, cwd: Path) -> PlannedPatch:
    """Parse, read (bounded), compute and resolve: everything short of writing."""
    return plan_changes(compute_changes(parse_patch(text), cwd))


async def apply_patch_call(ctx: HandlerContext, call_id: str, text: str, cwd: Path) -> str:
    config = ctx.config
    started = time.monotonic()
    try:
        plan = await anyio.to_thread.run_sync(_verify, text, cwd)
    except ApplyPatchError as exc:
        return f"apply_patch verification failed: {exc}"
    except (OSError, ValueError, RuntimeError) as exc:  # a race the engine did not classify
        return f"apply_patch verification failed: {exc}"
    try:
        boundary = session_boundary(config, command_env(config))
    except BoundaryError as exc:
        return f"apply_patch rejected: {exc}"
    changes_json = {str(path): file_change_to_json(change) for path, change in plan.changes.items()}
    touched = [Path(p) for p in plan.touched]

    # The decision is made before anything is announced; the person is asked between
    # `patch_apply_begin` and `patch_apply_end`, the order Codex 0.147 clients expect.
    ask = False
    confined = True
    if touched and all(p in ctx.grants.paths for p in touched):
        confined = False  # the person approved exactly these paths for the session
    else:
        from codex_mcp.sandbox import sandbox_available

        check = assess_patch_safety(
            plan.touched,
            config.approval_policy,
            boundary,
            sandbox_available=config.sandbox_policy.is_full_access or sandbox_available(),
        )
        if isinstance(check, Reject):
            return check.reason
        if isinstance(check, AutoApprove):
            confined = check.run_sandboxed
        ask = isinstance(check, AskUser)

    await ctx.emit(ev.patch_apply_begin(call_id, ctx.turn_id, not ask, changes_json))
    if ask:
        rejected = await _ask(ctx, call_id, changes_json, touched)
        if rejected is not None:
            await ctx.emit(
                ev.patch_apply_end(call_id, ctx.turn_id, "", rejected, False, changes_json, "declined")
            )
            return rejected
        confined = False  # the person approved this very patch
    stdout, stderr = "", ""
    try:
        result = await anyio.to_thread.run_sync(_write, ctx, plan, boundary if confined else None)
        stdout = result.summary
    except ApplyPatchError as exc:
        stderr = str(exc)
    except (OSError, ValueError, RuntimeError) as exc:
        stderr = f"Failed to apply the patch: {exc}"
    success = not stderr
    ctx.changes.writes += 1  # even a failed patch may have written some of its files
    await ctx.emit(ev.patch_apply_end(call_id, ctx.turn_id, stdout, stderr, success, changes_json))
    if not success:
        return _result_text(1, time.monotonic() - started, stderr)
    return _result_text(0, time.monotonic() - started, stdout)


async def _ask(
    ctx: HandlerContext, call_id: str, changes_json: dict[str, Any], touched: list[Path]
) -> str | None:
    """Ask the person; None when approved, else the text for the model."""
    request = ev.patch_approval_request(call_id, ctx.turn_id, changes_json, now_ms())
    decision = await ctx.ask_approval(request)
    if not decision.approved:
        return rejection_text(REJECTED_BY_USER, decision.reason)
    if decision.decision == "approved_for_session":
        ctx.grants.paths.update(touched)
    return None


def _write(ctx: HandlerContext, plan: PlannedPatch, boundary: Boundary | None) -> ApplyResult:
    """Record the turn's originals, then apply (confined to `boundary` unless None)."""
    for path in plan.touched:
        ctx.remember_original(Path(path), plan.named.get(path))
    allow = None if boundary is None else (lambda path: patch_write_allowed(boundary, path))
    return apply_planned(plan, allow)
