"""The `apply_patch` tool (and `apply_patch` run through the shell): verify, approve, apply.

A patch is parsed and resolved against the files before anything else, so the approval
request shows the exact changes and a patch that cannot apply is reported without asking.
The write itself is atomic (see `apply_patch.apply`): either every file changes or none.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from codex_mcp.agent.apply_patch import (
    ApplyPatchError,
    apply_changes,
    compute_changes,
    file_change_to_json,
    parse_patch,
)
from codex_mcp.agent.exec.format import format_duration_seconds
from codex_mcp.agent.tools.context import ToolContext, rejection_text
from codex_mcp.sandbox.safety import AskUser, Reject, assess_patch_safety

REJECTED_BY_USER = "patch rejected by user"


def _touched_paths(changes: dict[Path, Any]) -> list[Path]:
    paths: list[Path] = []
    for path, change in changes.items():
        paths.append(path)
        move = getattr(change, "move_path", None)
        if move:
            paths.append(Path(move))
    return paths


def _result_text(exit_code: int, seconds: float, output: str) -> str:
    return f"Exit code: {exit_code}\nWall time: {format_duration_seconds(seconds)} seconds\nOutput:\n{output}"


async def handle_apply_patch(ctx: ToolContext, call_id: str, text: str) -> str:
    return await apply_patch_call(ctx, call_id, text, ctx.thread.config.cwd)


async def handle_shell_patch(ctx: ToolContext, call_id: str, shell_patch: Any) -> str:
    error = getattr(shell_patch, "error", None)
    if error:
        return f"apply_patch verification failed: {error}"
    return await apply_patch_call(ctx, call_id, shell_patch.patch, Path(shell_patch.cwd))


async def apply_patch_call(ctx: ToolContext, call_id: str, text: str, cwd: Path) -> str:
    thread = ctx.thread
    config = thread.config
    started = time.monotonic()
    try:
        changes = compute_changes(parse_patch(text), cwd)
    except ApplyPatchError as exc:
        return f"apply_patch verification failed: {exc}"
    changes_json = {str(path): file_change_to_json(change) for path, change in changes.items()}
    touched = _touched_paths(changes)

    auto_approved = True
    if not all(p in thread.approved_paths for p in touched):
        from codex_mcp.sandbox import sandbox_available

        check = assess_patch_safety(
            touched,
            cwd,
            config.approval_policy,
            config.sandbox_policy,
            sandbox_available=config.sandbox_policy.is_full_access or sandbox_available(),
        )
        if isinstance(check, Reject):
            return check.reason
        if isinstance(check, AskUser):
            auto_approved = False
            pending = await thread.request_approval(
                "patch",
                ctx.turn_id,
                call_id,
                {
                    "type": "apply_patch_approval_request",
                    "call_id": call_id,
                    "turn_id": ctx.turn_id,
                    "changes": changes_json,
                    "reason": None,
                    "grant_root": None,
                },
            )
            if pending.decision == "abort":
                thread.interrupt(ctx.turn_id)
                await anyio.lowlevel.checkpoint()
            if pending.decision not in ("approved", "approved_for_session"):
                return rejection_text(REJECTED_BY_USER, pending.reason)
            if pending.decision == "approved_for_session":
                thread.approved_paths.update(touched)

    await thread.emit(
        ctx.turn_id,
        {
            "type": "patch_apply_begin",
            "call_id": call_id,
            "turn_id": ctx.turn_id,
            "auto_approved": auto_approved,
            "changes": changes_json,
        },
    )
    for path in touched:
        ctx.remember_original(path)
    try:
        result = apply_changes(changes)
        stdout, stderr, success = result.summary, "", True
    except ApplyPatchError as exc:
        stdout, stderr, success = "", str(exc), False
    await thread.emit(
        ctx.turn_id,
        {
            "type": "patch_apply_end",
            "call_id": call_id,
            "turn_id": ctx.turn_id,
            "stdout": stdout,
            "stderr": stderr,
            "success": success,
            "changes": changes_json,
        },
    )
    if not success:
        return _result_text(1, time.monotonic() - started, stderr)
    return _result_text(0, time.monotonic() - started, stdout)
