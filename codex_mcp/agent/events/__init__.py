"""The agent's event vocabulary: every event it emits, its fields, and the groups they form.

An event is `Event(id, msg)`: `id` is the turn it belongs to and `msg` is
`{"type": <snake_case>, ...fields}` exactly as it goes on the wire inside `codex/event` and into
the rollout file.  Messages stay plain dicts (relaying one costs one `json.dumps`, which
matters at tens of thousands of deltas per second); the `TypedDict`s of `payloads` give them
types, and the constructors here are the only place the agent builds them.  Renaming an
event, adding a field or a new event is a change to this package: the consumers (the MCP
relay, the rollout, the embedding API) name types through the constants and groups here.

The package: `payloads` (each event's fields), `network` (the network proxy's question,
connection events and turn summary), `event` (`Event`, and `ApprovalRequest` /
`ElicitationRequest`, which carry a way to answer them: `approve()` / `deny()` /
`resolve()`, without reading dict keys or building ops by hand), and here the names, the
groups and the constructors.
"""

from __future__ import annotations

from typing import Any

from codex_mcp.agent.events.event import REVIEW_DECISIONS as REVIEW_DECISIONS
from codex_mcp.agent.events.event import AnswerApproval as AnswerApproval
from codex_mcp.agent.events.event import AnswerElicitation as AnswerElicitation
from codex_mcp.agent.events.event import ApprovalRequest as ApprovalRequest
from codex_mcp.agent.events.event import ElicitationRequest as ElicitationRequest
from codex_mcp.agent.events.event import Emit as Emit
from codex_mcp.agent.events.event import Event as Event
from codex_mcp.agent.events.event import ReviewDecision as ReviewDecision
from codex_mcp.agent.events.network import network_access_begin as network_access_begin
from codex_mcp.agent.events.network import network_access_end as network_access_end
from codex_mcp.agent.events.network import network_approval_request as network_approval_request
from codex_mcp.agent.events.network import network_usage as network_usage
from codex_mcp.agent.events.payloads import (
    AgentMessage,
    AgentMessageDelta,
    AgentReasoning,
    AgentReasoningDelta,
    AgentReasoningRawContent,
    AgentReasoningRawContentDelta,
    AgentReasoningSectionBreak,
    BackgroundEvent,
    ContextCompacted,
    ElicitationRequestMsg,
    ErrorEvent,
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
    PlanStep,
    PlanUpdate,
    SessionConfigured,
    StreamError,
    TaskComplete,
    TaskStarted,
    TokenCount,
    TurnAborted,
    TurnDiff,
    UserMessage,
    ViewImageToolCall,
    WarningEvent,
)
from codex_mcp.agent.events.payloads import duration as duration

# --- event types --------------------------------------------------------------------------

SESSION_CONFIGURED = "session_configured"
TASK_STARTED = "task_started"
TASK_COMPLETE = "task_complete"
TURN_ABORTED = "turn_aborted"
ERROR = "error"
WARNING = "warning"
STREAM_ERROR = "stream_error"
BACKGROUND_EVENT = "background_event"
USER_MESSAGE = "user_message"
AGENT_MESSAGE = "agent_message"
AGENT_MESSAGE_DELTA = "agent_message_delta"
AGENT_REASONING = "agent_reasoning"
AGENT_REASONING_DELTA = "agent_reasoning_delta"
AGENT_REASONING_RAW_CONTENT = "agent_reasoning_raw_content"
AGENT_REASONING_RAW_CONTENT_DELTA = "agent_reasoning_raw_content_delta"
AGENT_REASONING_SECTION_BREAK = "agent_reasoning_section_break"
TOKEN_COUNT = "token_count"
CONTEXT_COMPACTED = "context_compacted"
TURN_DIFF = "turn_diff"
PLAN_UPDATE = "plan_update"
EXEC_APPROVAL_REQUEST = "exec_approval_request"
APPLY_PATCH_APPROVAL_REQUEST = "apply_patch_approval_request"
EXEC_COMMAND_BEGIN = "exec_command_begin"
EXEC_COMMAND_OUTPUT_DELTA = "exec_command_output_delta"
EXEC_COMMAND_END = "exec_command_end"
PATCH_APPLY_BEGIN = "patch_apply_begin"
PATCH_APPLY_END = "patch_apply_end"
VIEW_IMAGE_TOOL_CALL = "view_image_tool_call"
MCP_STARTUP_UPDATE = "mcp_startup_update"
MCP_STARTUP_COMPLETE = "mcp_startup_complete"
MCP_TOOL_CALL_BEGIN = "mcp_tool_call_begin"
MCP_TOOL_CALL_END = "mcp_tool_call_end"
ELICITATION_REQUEST = "elicitation_request"
NETWORK_ACCESS_BEGIN = "network_access_begin"
NETWORK_ACCESS_END = "network_access_end"
NETWORK_USAGE = "network_usage"

# --- groups -------------------------------------------------------------------------------

STREAMING_EVENTS = frozenset(
    {AGENT_MESSAGE_DELTA, AGENT_REASONING_DELTA, AGENT_REASONING_RAW_CONTENT_DELTA, EXEC_COMMAND_OUTPUT_DELTA}
)
"""Deltas of something a later event repeats whole (`event_stream = "minimal"` drops them)."""

PERSISTED_EVENTS = frozenset(
    {
        USER_MESSAGE,
        AGENT_MESSAGE,
        AGENT_REASONING,
        AGENT_REASONING_RAW_CONTENT,
        TOKEN_COUNT,
        TURN_ABORTED,
        TASK_COMPLETE,
        CONTEXT_COMPACTED,
        ERROR,
        PLAN_UPDATE,
    }
)
"""Events the rollout file keeps (`event_msg` lines), as Codex does."""

TURN_ENDING_EVENTS = frozenset({TASK_COMPLETE, TURN_ABORTED, ERROR})
"""A turn's last event is one of these (`error` only for a failure that ends the turn)."""

APPROVAL_REQUESTS = frozenset({EXEC_APPROVAL_REQUEST, APPLY_PATCH_APPROVAL_REQUEST})
"""Events that wait for the person's decision (`ApprovalRequest`)."""

# --- constructors -------------------------------------------------------------------------


def session_configured(
    thread_id: str,
    *,
    model: str,
    model_provider_id: str,
    approval_policy: str,
    sandbox_policy: dict[str, Any],
    cwd: str,
    rollout_path: str,
    reasoning_effort: str | None = None,
) -> SessionConfigured:
    msg: SessionConfigured = {
        "type": "session_configured",
        "session_id": thread_id,
        "thread_id": thread_id,
        "model": model,
        "model_provider_id": model_provider_id,
        "approval_policy": approval_policy,
        "sandbox_policy": sandbox_policy,
        "cwd": cwd,
        "history_log_id": 0,
        "history_entry_count": 0,
        "rollout_path": rollout_path,
    }
    if reasoning_effort:
        msg["reasoning_effort"] = reasoning_effort
    return msg


def task_started(turn_id: str, started_at: int, model_context_window: int | None) -> TaskStarted:
    return {
        "type": "task_started",
        "turn_id": turn_id,
        "started_at": started_at,
        "model_context_window": model_context_window,
    }


def task_complete(
    turn_id: str,
    last_agent_message: str | None,
    started_at: int,
    completed_at: int,
    duration_ms: int,
    time_to_first_token_ms: int | None,
) -> TaskComplete:
    return {
        "type": "task_complete",
        "turn_id": turn_id,
        "last_agent_message": last_agent_message,
        "started_at": started_at,
        "completed_at": completed_at,
        "duration_ms": duration_ms,
        "time_to_first_token_ms": time_to_first_token_ms,
    }


def turn_aborted(turn_id: str, reason: str = "interrupted") -> TurnAborted:
    return {"type": "turn_aborted", "turn_id": turn_id, "reason": reason}


def error(message: str, codex_error_info: Any = None, *, with_info: bool = True) -> ErrorEvent:
    """An `error` event; `with_info=False` leaves `codex_error_info` out entirely."""
    if not with_info:
        return {"type": "error", "message": message}
    return {"type": "error", "message": message, "codex_error_info": codex_error_info}


def warning(message: str) -> WarningEvent:
    return {"type": "warning", "message": message}


def stream_error(message: str, codex_error_info: Any = None) -> StreamError:
    return {"type": "stream_error", "message": message, "codex_error_info": codex_error_info}


def background_event(message: str) -> BackgroundEvent:
    return {"type": "background_event", "message": message}


def user_message(message: str) -> UserMessage:
    return {"type": "user_message", "message": message, "images": []}


def agent_message(message: str) -> AgentMessage:
    return {"type": "agent_message", "message": message}


def agent_message_delta(delta: str) -> AgentMessageDelta:
    return {"type": "agent_message_delta", "delta": delta}


def agent_reasoning(text: str) -> AgentReasoning:
    return {"type": "agent_reasoning", "text": text}


def agent_reasoning_delta(delta: str) -> AgentReasoningDelta:
    return {"type": "agent_reasoning_delta", "delta": delta}


def agent_reasoning_raw_content(text: str) -> AgentReasoningRawContent:
    return {"type": "agent_reasoning_raw_content", "text": text}


def agent_reasoning_raw_content_delta(delta: str) -> AgentReasoningRawContentDelta:
    return {"type": "agent_reasoning_raw_content_delta", "delta": delta}


def agent_reasoning_section_break(item_id: str, summary_index: int) -> AgentReasoningSectionBreak:
    return {"type": "agent_reasoning_section_break", "item_id": item_id, "summary_index": summary_index}


def token_count(info: dict[str, Any]) -> TokenCount:
    return {"type": "token_count", "info": info, "rate_limits": None}


def context_compacted() -> ContextCompacted:
    return {"type": "context_compacted"}


def turn_diff(unified_diff: str) -> TurnDiff:
    return {"type": "turn_diff", "unified_diff": unified_diff}


def plan_update(plan: list[PlanStep], explanation: str | None = None) -> PlanUpdate:
    msg: PlanUpdate = {"type": "plan_update", "plan": plan}
    if explanation is not None:
        msg["explanation"] = explanation
    return msg


def exec_approval_request(
    call_id: str,
    turn_id: str,
    command: list[str],
    cwd: str,
    parsed_cmd: list[dict[str, Any]],
    reason: str | None = None,
) -> ExecApprovalRequestMsg:
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
    return msg


def patch_approval_request(call_id: str, turn_id: str, changes: dict[str, Any]) -> PatchApprovalRequestMsg:
    return {
        "type": "apply_patch_approval_request",
        "call_id": call_id,
        "turn_id": turn_id,
        "changes": changes,
        "reason": None,
        "grant_root": None,
    }


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
    call_id: str, turn_id: str, stdout: str, stderr: str, success: bool, changes: dict[str, Any]
) -> PatchApplyEnd:
    return {
        "type": "patch_apply_end",
        "call_id": call_id,
        "turn_id": turn_id,
        "stdout": stdout,
        "stderr": stderr,
        "success": success,
        "changes": changes,
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
