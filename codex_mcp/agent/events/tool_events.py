"""The constructors of the tool events: commands (the argv `shell` tool's begin, delta and
end), approvals, patches, images, MCP tools, elicitations and questions to the person.

Re-exported by the package (`codex_mcp.agent.events`), which is where consumers import them;
they live here so the package's own module stays a readable size.  The events of the
process-session tools are in `exec_session`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import (
        Duration,
        ElicitationRequestMsg,
        ExecApprovalRequestMsg,
        ExecCommandBegin,
        ExecCommandEnd,
        ExecCommandOutputDelta,
        McpInvocation,
        McpStartupComplete,
        McpStartupUpdate,
        McpToolCallBegin,
        McpToolCallEnd,
        PatchApplyBegin,
        PatchApplyEnd,
        PatchApprovalRequestMsg,
        UserInputRequestMsg,
        ViewImageToolCall,
    )


def duration(seconds: float) -> Duration:
    """Codex serialises Rust `Duration` as `{secs, nanos}`."""
    secs = int(seconds)
    return {"secs": secs, "nanos": round((seconds - secs) * 1e9)}


def exec_approval_request(
    call_id: str,
    turn_id: str,
    command: list[str],
    cwd: str,
    parsed_cmd: list[dict[str, Any]],
    reason: str | None = None,
    proposed_amendment: list[str] | None = None,
) -> ExecApprovalRequestMsg:
    """`proposed_amendment`: a command prefix the person may approve for later commands too;
    the request then lists the decisions, that one included, as the reference does."""
    msg: ExecApprovalRequestMsg = {
        "type": "exec_approval_request",
        "call_id": call_id,
        "turn_id": turn_id,
        "command": command,
        "cwd": cwd,
        "parsed_cmd": parsed_cmd,
    }
    if reason:
        msg["reason"] = reason
    if proposed_amendment:
        msg["proposed_execpolicy_amendment"] = list(proposed_amendment)
        msg["available_decisions"] = [
            "approved",
            {"approved_execpolicy_amendment": {"proposed_execpolicy_amendment": list(proposed_amendment)}},
            "abort",
        ]
    return msg


def patch_approval_request(
    call_id: str, turn_id: str, changes: dict[str, Any], started_at_ms: int | None = None
) -> PatchApprovalRequestMsg:
    msg: PatchApprovalRequestMsg = {
        "type": "apply_patch_approval_request",
        "call_id": call_id,
        "turn_id": turn_id,
        "changes": changes,
        "reason": None,
        "grant_root": None,
    }
    if started_at_ms is not None:
        msg["started_at_ms"] = started_at_ms
    return msg


def exec_command_begin(
    call_id: str, turn_id: str, command: list[str], cwd: str, parsed_cmd: list[dict[str, Any]]
) -> ExecCommandBegin:
    return {
        "type": "exec_command_begin",
        "call_id": call_id,
        "turn_id": turn_id,
        "command": command,
        "cwd": cwd,
        "parsed_cmd": parsed_cmd,
    }


def exec_command_output_delta(call_id: str, stream: str, chunk: str) -> ExecCommandOutputDelta:
    return {"type": "exec_command_output_delta", "call_id": call_id, "stream": stream, "chunk": chunk}


def exec_command_end(
    begin: ExecCommandBegin,
    *,
    stdout: str,
    stderr: str,
    aggregated_output: str,
    exit_code: int,
    seconds: float,
    formatted_output: str,
) -> ExecCommandEnd:
    """The end of the command `begin` announced (same call, command, cwd)."""
    return {
        "type": "exec_command_end",
        "call_id": begin["call_id"],
        "turn_id": begin["turn_id"],
        "command": begin["command"],
        "cwd": begin["cwd"],
        "parsed_cmd": begin["parsed_cmd"],
        "stdout": stdout,
        "stderr": stderr,
        "aggregated_output": aggregated_output,
        "exit_code": exit_code,
        "duration": duration(seconds),
        "formatted_output": formatted_output,
    }


def patch_apply_begin(
    call_id: str, turn_id: str, auto_approved: bool, changes: dict[str, Any]
) -> PatchApplyBegin:
    return {
        "type": "patch_apply_begin",
        "call_id": call_id,
        "turn_id": turn_id,
        "auto_approved": auto_approved,
        "changes": changes,
    }


def patch_apply_end(
    call_id: str,
    turn_id: str,
    stdout: str,
    stderr: str,
    success: bool,
    changes: dict[str, Any],
    status: str | None = None,
) -> PatchApplyEnd:
    """`status`: `completed`, `failed`, or `declined` when the person refused the patch."""
    return {
        "type": "patch_apply_end",
        "call_id": call_id,
        "turn_id": turn_id,
        "stdout": stdout,
        "stderr": stderr,
        "success": success,
        "changes": changes,
        "status": status or ("completed" if success else "failed"),
    }


def view_image_tool_call(call_id: str, path: str) -> ViewImageToolCall:
    return {"type": "view_image_tool_call", "call_id": call_id, "path": path}


def mcp_startup_update(server: str, state: str, error: str | None = None) -> McpStartupUpdate:
    status: dict[str, Any] = {"state": state}
    if error is not None:
        status["error"] = error
    return {"type": "mcp_startup_update", "server": server, "status": status}


def mcp_startup_complete(ready: list[str], failed: list[dict[str, str]]) -> McpStartupComplete:
    return {"type": "mcp_startup_complete", "ready": ready, "failed": failed, "cancelled": []}


def mcp_tool_call_begin(call_id: str, invocation: McpInvocation) -> McpToolCallBegin:
    return {"type": "mcp_tool_call_begin", "call_id": call_id, "invocation": invocation}


def mcp_tool_call_end(
    call_id: str, invocation: McpInvocation, seconds: float, result: dict[str, Any]
) -> McpToolCallEnd:
    return {
        "type": "mcp_tool_call_end",
        "call_id": call_id,
        "invocation": invocation,
        "duration": duration(seconds),
        "result": result,
    }


def elicitation_request(
    turn_id: str, server_name: str, request_id: str | int, message: str, requested_schema: Any
) -> ElicitationRequestMsg:
    return {
        "type": "elicitation_request",
        "turn_id": turn_id,
        "server_name": server_name,
        "id": request_id,
        "message": message,
        "requested_schema": requested_schema,
    }


def request_user_input(call_id: str, turn_id: str, questions: list[dict[str, Any]]) -> UserInputRequestMsg:
    return {"type": "request_user_input", "call_id": call_id, "turn_id": turn_id, "questions": questions}
