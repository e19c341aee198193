"""The agent's event vocabulary: every event it emits, its fields, and the groups they form.

An event is `Event(id, msg)`: `id` is the turn it belongs to and `msg` is
`{"type": <snake_case>, ...fields}` exactly as it goes on the wire inside `codex/event` and into
the rollout file.  Messages stay plain dicts (relaying one costs one `json.dumps`, which
matters at tens of thousands of deltas per second); the `TypedDict`s of `payloads` give them
types (for the type checker only), and the constructors here are the only place the agent
builds them.  Renaming an event, adding a field or a new event is a change to this package:
the consumers (the MCP relay, the rollout, the embedding API) name types through the
constants and groups here.

The package: `payloads` (each event's fields), `network` (the network proxy's question,
connection events and turn summary), `event` (`Event`, and `ApprovalRequest` /
`ElicitationRequest`, which carry a way to answer them: `approve()` / `deny()` /
`resolve()`, without reading dict keys or building ops by hand), `tool_events` (the
constructors of the tool events), `exec_session` (the events of the process-session shell
tools), `thread_items` (the 0.147 item layer, derived from the tool events), and here the
names, the groups and the other constructors; everything is imported from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codex_mcp.agent.events.event import REVIEW_DECISIONS as REVIEW_DECISIONS
from codex_mcp.agent.events.event import AnswerApproval as AnswerApproval
from codex_mcp.agent.events.event import AnswerElicitation as AnswerElicitation
from codex_mcp.agent.events.event import ApprovalRequest as ApprovalRequest
from codex_mcp.agent.events.event import ElicitationRequest as ElicitationRequest
from codex_mcp.agent.events.event import Emit as Emit
from codex_mcp.agent.events.event import Event as Event
from codex_mcp.agent.events.event import ReviewDecision as ReviewDecision
from codex_mcp.agent.events.event import UserInputRequest as UserInputRequest
from codex_mcp.agent.events.exec_session import SOURCE_AGENT as SOURCE_AGENT
from codex_mcp.agent.events.exec_session import SOURCE_INTERACTION as SOURCE_INTERACTION
from codex_mcp.agent.events.exec_session import SOURCE_STARTUP as SOURCE_STARTUP
from codex_mcp.agent.events.exec_session import session_exec_begin as session_exec_begin
from codex_mcp.agent.events.exec_session import session_exec_end as session_exec_end
from codex_mcp.agent.events.exec_session import session_output_delta as session_output_delta
from codex_mcp.agent.events.exec_session import terminal_interaction as terminal_interaction
from codex_mcp.agent.events.network import network_access_begin as network_access_begin
from codex_mcp.agent.events.network import network_access_end as network_access_end
from codex_mcp.agent.events.network import network_approval_request as network_approval_request
from codex_mcp.agent.events.network import network_usage as network_usage
from codex_mcp.agent.events.thread_items import AGENT_MESSAGE_CONTENT_DELTA as AGENT_MESSAGE_CONTENT_DELTA
from codex_mcp.agent.events.thread_items import ITEM_COMPLETED as ITEM_COMPLETED
from codex_mcp.agent.events.thread_items import ITEM_STARTED as ITEM_STARTED
from codex_mcp.agent.events.thread_items import REASONING_CONTENT_DELTA as REASONING_CONTENT_DELTA
from codex_mcp.agent.events.thread_items import WEB_SEARCH_BEGIN as WEB_SEARCH_BEGIN
from codex_mcp.agent.events.thread_items import WEB_SEARCH_END as WEB_SEARCH_END
from codex_mcp.agent.events.thread_items import ItemTracker as ItemTracker
from codex_mcp.agent.events.thread_items import agent_message_content_delta as agent_message_content_delta
from codex_mcp.agent.events.thread_items import item_completed as item_completed
from codex_mcp.agent.events.thread_items import item_started as item_started
from codex_mcp.agent.events.thread_items import reasoning_content_delta as reasoning_content_delta
from codex_mcp.agent.events.thread_items import web_search_begin as web_search_begin
from codex_mcp.agent.events.thread_items import web_search_end as web_search_end
from codex_mcp.agent.events.tool_events import duration as duration
from codex_mcp.agent.events.tool_events import elicitation_request as elicitation_request
from codex_mcp.agent.events.tool_events import exec_approval_request as exec_approval_request
from codex_mcp.agent.events.tool_events import exec_command_begin as exec_command_begin
from codex_mcp.agent.events.tool_events import exec_command_end as exec_command_end
from codex_mcp.agent.events.tool_events import exec_command_output_delta as exec_command_output_delta
from codex_mcp.agent.events.tool_events import mcp_startup_complete as mcp_startup_complete
from codex_mcp.agent.events.tool_events import mcp_startup_update as mcp_startup_update
from codex_mcp.agent.events.tool_events import mcp_tool_call_begin as mcp_tool_call_begin
from codex_mcp.agent.events.tool_events import mcp_tool_call_end as mcp_tool_call_end
from codex_mcp.agent.events.tool_events import patch_apply_begin as patch_apply_begin
from codex_mcp.agent.events.tool_events import patch_apply_end as patch_apply_end
from codex_mcp.agent.events.tool_events import patch_approval_request as patch_approval_request
from codex_mcp.agent.events.tool_events import request_user_input as request_user_input
from codex_mcp.agent.events.tool_events import view_image_tool_call as view_image_tool_call

if TYPE_CHECKING:
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
        ErrorEvent,
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
        WarningEvent,
    )

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
TERMINAL_INTERACTION = "terminal_interaction"
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
REQUEST_USER_INPUT = "request_user_input"

# --- groups -------------------------------------------------------------------------------

STREAMING_EVENTS = frozenset(
    {
        AGENT_MESSAGE_DELTA,
        AGENT_REASONING_DELTA,
        AGENT_REASONING_RAW_CONTENT_DELTA,
        AGENT_MESSAGE_CONTENT_DELTA,
        REASONING_CONTENT_DELTA,
        EXEC_COMMAND_OUTPUT_DELTA,
    }
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
    permission_profile: dict[str, Any],
    sandbox_policy: dict[str, Any],
    cwd: str,
    rollout_path: str,
    reasoning_effort: str | None = None,
) -> SessionConfigured:
    """`sandbox_policy` is beyond Codex 0.147 (which sends only `permission_profile`): clients
    written for earlier versions read it."""
    msg: SessionConfigured = {
        "type": "session_configured",
        "session_id": thread_id,
        "thread_id": thread_id,
        "model": model,
        "model_provider_id": model_provider_id,
        "approval_policy": approval_policy,
        "approvals_reviewer": "user",
        "permission_profile": permission_profile,
        "sandbox_policy": sandbox_policy,
        "cwd": cwd,
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
        "collaboration_mode_kind": "default",
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


def turn_aborted(
    turn_id: str, reason: str = "interrupted", started_at: int | None = None, completed_at: int | None = None
) -> TurnAborted:
    msg: TurnAborted = {"type": "turn_aborted", "turn_id": turn_id, "reason": reason}
    if started_at is not None and completed_at is not None:
        msg["started_at"] = started_at
        msg["completed_at"] = completed_at
        msg["duration_ms"] = max(0, (completed_at - started_at) * 1000)
    return msg


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


def user_message(message: str, images: list[str] | None = None) -> UserMessage:
    return {
        "type": "user_message",
        "message": message,
        "images": list(images or []),
        "local_images": [],
        "audio": [],
        "local_audio": [],
        "text_elements": [],
    }


def agent_message(message: str) -> AgentMessage:
    return {"type": "agent_message", "message": message, "phase": None, "memory_citation": None}


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


RATE_LIMITS_UNKNOWN: dict[str, Any] = {
    "limit_id": "codex",
    "limit_name": None,
    "primary": None,
    "secondary": None,
    "credits": None,
    "individual_limit": None,
    "spend_control_reached": None,
    "plan_type": None,
    "rate_limit_reached_type": None,
}
"""`token_count.rate_limits` when the provider sent no rate-limit headers (Codex sends this
object of nulls rather than null)."""


def token_count(info: dict[str, Any]) -> TokenCount:
    return {"type": "token_count", "info": info, "rate_limits": dict(RATE_LIMITS_UNKNOWN)}


def context_compacted() -> ContextCompacted:
    return {"type": "context_compacted"}


def turn_diff(unified_diff: str) -> TurnDiff:
    return {"type": "turn_diff", "unified_diff": unified_diff}


def plan_update(plan: list[PlanStep], explanation: str | None = None) -> PlanUpdate:
    """`explanation` is null when the model gave none (as Codex sends it)."""
    return {"type": "plan_update", "explanation": explanation, "plan": plan}
