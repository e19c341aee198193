"""The agent's event vocabulary: every event it emits, its fields, and the groups they form.

An event is `Event(id, msg)`: `id` is the turn it belongs to and `msg` is
`{"type": <snake_case>, ...fields}` exactly as it goes on the wire inside `codex/event` and into
the rollout file.  Messages stay plain dicts (relaying one costs one `json.dumps`, which
matters at tens of thousands of deltas per second); the `TypedDict`s below give them types,
and the constructors are the only place the agent builds them.  Renaming an event, adding a
field or a new event is a change to this module: the consumers (the MCP relay, the rollout,
the embedding API) name types through the constants and groups here.

Two events carry a way to answer them: `ApprovalRequest` (a command or a patch waits for the
person's decision) and `ElicitationRequest` (one of the agent's MCP servers asks the person
something).  Their `approve()` / `deny()` / `resolve()` helpers answer without reading dict
keys or building ops by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

ReviewDecision = Literal["approved", "approved_for_session", "denied", "abort"]
REVIEW_DECISIONS: tuple[ReviewDecision, ...] = ("approved", "approved_for_session", "denied", "abort")

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

# --- payloads -----------------------------------------------------------------------------


class Duration(TypedDict):
    secs: int
    nanos: int


class SessionConfigured(TypedDict):
    type: Literal["session_configured"]
    session_id: str
    thread_id: str
    model: str
    model_provider_id: str
    approval_policy: str
    sandbox_policy: dict[str, Any]
    cwd: str
    history_log_id: int
    history_entry_count: int
    rollout_path: str
    reasoning_effort: NotRequired[str]


class TaskStarted(TypedDict):
    type: Literal["task_started"]
    turn_id: str
    started_at: int
    model_context_window: int | None


class TaskComplete(TypedDict):
    type: Literal["task_complete"]
    turn_id: str
    last_agent_message: str | None
    started_at: int
    completed_at: int
    duration_ms: int
    time_to_first_token_ms: int | None


class TurnAborted(TypedDict):
    type: Literal["turn_aborted"]
    turn_id: str
    reason: str


class ErrorEvent(TypedDict):
    type: Literal["error"]
    message: str
    codex_error_info: NotRequired[Any]


class WarningEvent(TypedDict):
    type: Literal["warning"]
    message: str


class StreamError(TypedDict):
    type: Literal["stream_error"]
    message: str
    codex_error_info: Any


class BackgroundEvent(TypedDict):
    type: Literal["background_event"]
    message: str


class UserMessage(TypedDict):
    type: Literal["user_message"]
    message: str
    images: list[str]


class AgentMessage(TypedDict):
    type: Literal["agent_message"]
    message: str


class AgentMessageDelta(TypedDict):
    type: Literal["agent_message_delta"]
    delta: str


class AgentReasoning(TypedDict):
    type: Literal["agent_reasoning"]
    text: str


class AgentReasoningDelta(TypedDict):
    type: Literal["agent_reasoning_delta"]
    delta: str


class AgentReasoningRawContent(TypedDict):
    type: Literal["agent_reasoning_raw_content"]
    text: str


class AgentReasoningRawContentDelta(TypedDict):
    type: Literal["agent_reasoning_raw_content_delta"]
    delta: str


class AgentReasoningSectionBreak(TypedDict):
    type: Literal["agent_reasoning_section_break"]
    item_id: str
    summary_index: int


class TokenCount(TypedDict):
    type: Literal["token_count"]
    info: dict[str, Any]
    rate_limits: Any


class ContextCompacted(TypedDict):
    type: Literal["context_compacted"]


class TurnDiff(TypedDict):
    type: Literal["turn_diff"]
    unified_diff: str


class PlanStep(TypedDict):
    step: str
    status: str


class PlanUpdate(TypedDict):
    type: Literal["plan_update"]
    plan: list[PlanStep]
    explanation: NotRequired[str]


class ExecApprovalRequestMsg(TypedDict):
    type: Literal["exec_approval_request"]
    call_id: str
    turn_id: str
    command: list[str]
    cwd: str
    parsed_cmd: list[dict[str, Any]]
    reason: NotRequired[str]


class PatchApprovalRequestMsg(TypedDict):
    type: Literal["apply_patch_approval_request"]
    call_id: str
    turn_id: str
    changes: dict[str, Any]
    reason: str | None
    grant_root: str | None


class ExecCommandBegin(TypedDict):
    type: Literal["exec_command_begin"]
    call_id: str
    turn_id: str
    command: list[str]
    cwd: str
    parsed_cmd: list[dict[str, Any]]


class ExecCommandOutputDelta(TypedDict):
    type: Literal["exec_command_output_delta"]
    call_id: str
    stream: str
    chunk: str


class ExecCommandEnd(TypedDict):
    type: Literal["exec_command_end"]
    call_id: str
    turn_id: str
    command: list[str]
    cwd: str
    parsed_cmd: list[dict[str, Any]]
    stdout: str
    stderr: str
    aggregated_output: str
    exit_code: int
    duration: Duration
    formatted_output: str


class PatchApplyBegin(TypedDict):
    type: Literal["patch_apply_begin"]
    call_id: str
    turn_id: str
    auto_approved: bool
    changes: dict[str, Any]


class PatchApplyEnd(TypedDict):
    type: Literal["patch_apply_end"]
    call_id: str
    turn_id: str
    stdout: str
    stderr: str
    success: bool
    changes: dict[str, Any]


class ViewImageToolCall(TypedDict):
    type: Literal["view_image_tool_call"]
    call_id: str
    path: str


class McpStartupUpdate(TypedDict):
    type: Literal["mcp_startup_update"]
    server: str
    status: dict[str, Any]


class McpStartupComplete(TypedDict):
    type: Literal["mcp_startup_complete"]
    ready: list[str]
    failed: list[dict[str, str]]
    cancelled: list[str]


class McpInvocation(TypedDict):
    server: str
    tool: str
    arguments: dict[str, Any] | None


class McpToolCallBegin(TypedDict):
    type: Literal["mcp_tool_call_begin"]
    call_id: str
    invocation: McpInvocation


class McpToolCallEnd(TypedDict):
    type: Literal["mcp_tool_call_end"]
    call_id: str
    invocation: McpInvocation
    duration: Duration
    result: dict[str, Any]


class ElicitationRequestMsg(TypedDict):
    type: Literal["elicitation_request"]
    turn_id: str
    server_name: str
    id: str | int
    message: str
    requested_schema: Any


EventMsg = (
    SessionConfigured
    | TaskStarted
    | TaskComplete
    | TurnAborted
    | ErrorEvent
    | WarningEvent
    | StreamError
    | BackgroundEvent
    | UserMessage
    | AgentMessage
    | AgentMessageDelta
    | AgentReasoning
    | AgentReasoningDelta
    | AgentReasoningRawContent
    | AgentReasoningRawContentDelta
    | AgentReasoningSectionBreak
    | TokenCount
    | ContextCompacted
    | TurnDiff
    | PlanUpdate
    | ExecApprovalRequestMsg
    | PatchApprovalRequestMsg
    | ExecCommandBegin
    | ExecCommandOutputDelta
    | ExecCommandEnd
    | PatchApplyBegin
    | PatchApplyEnd
    | ViewImageToolCall
    | McpStartupUpdate
    | McpStartupComplete
    | McpToolCallBegin
    | McpToolCallEnd
    | ElicitationRequestMsg
)
"""Every payload the agent emits.  (Consumers that only relay treat a msg as `dict[str, Any]`.)"""

# --- constructors -------------------------------------------------------------------------


def duration(seconds: float) -> Duration:
    """Codex serialises Rust `Duration` as `{secs, nanos}`."""
    secs = int(seconds)
    return {"secs": secs, "nanos": round((seconds - secs) * 1e9)}


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


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a turn: `id` is the turn id (empty for `session_configured`)."""

    id: str
    msg: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.msg["type"])

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "msg": self.msg}


AnswerApproval = Callable[[ReviewDecision, str | None], None]
AnswerElicitation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class ApprovalRequest(Event):
    """A command or patch waiting for the person's decision.  Answer it once with
    `approve()`, `deny()`, `abort()` or `decide()`; the turn stays paused until then, or until
    it is interrupted (leaving its `turn()` block denies by interrupting it)."""

    answer: AnswerApproval = field(default=lambda decision, reason: None, repr=False, compare=False)

    @property
    def kind(self) -> Literal["exec", "patch"]:
        return "exec" if self.msg["type"] == EXEC_APPROVAL_REQUEST else "patch"

    @property
    def call_id(self) -> str:
        return str(self.msg.get("call_id") or "")

    @property
    def command(self) -> list[str]:
        """The command to run (exec approvals; empty for patches)."""
        return list(self.msg.get("command") or [])

    @property
    def changes(self) -> dict[str, Any]:
        """The file changes by path (patch approvals; empty for commands)."""
        return dict(self.msg.get("changes") or {})

    @property
    def reason(self) -> str | None:
        reason = self.msg.get("reason")
        return reason if isinstance(reason, str) else None

    def decide(self, decision: ReviewDecision, reason: str | None = None) -> None:
        """`reason` says why when the host decided for the person (the model is told)."""
        self.answer(decision, reason)

    def approve(self, *, for_session: bool = False) -> None:
        self.answer("approved_for_session" if for_session else "approved", None)

    def deny(self, reason: str | None = None) -> None:
        self.answer("denied", reason)

    def abort(self) -> None:
        """Deny and stop the turn."""
        self.answer("abort", None)


@dataclass(frozen=True, slots=True)
class ElicitationRequest(Event):
    """One of the agent's MCP servers asks the person something (`msg["requested_schema"]`
    describes the answer).  Answer once; unanswered, it is declined when its wait runs out
    or the turn ends."""

    answer: AnswerElicitation = field(default=lambda result: None, repr=False, compare=False)

    @property
    def server_name(self) -> str:
        return str(self.msg.get("server_name") or "")

    @property
    def request_id(self) -> str | int:
        raw = self.msg.get("id")
        return raw if isinstance(raw, str | int) else str(raw)

    @property
    def message(self) -> str:
        return str(self.msg.get("message") or "")

    @property
    def requested_schema(self) -> Any:
        return self.msg.get("requested_schema")

    def resolve(self, result: dict[str, Any]) -> None:
        """Answer with an MCP `ElicitResult` (`{"action": "accept" | "decline" | "cancel", ...}`)."""
        self.answer(result)

    def accept(self, content: dict[str, Any]) -> None:
        self.answer({"action": "accept", "content": content})

    def decline(self) -> None:
        self.answer({"action": "decline"})

    def cancel(self) -> None:
        self.answer({"action": "cancel"})


Emit = Callable[[EventMsg], Awaitable[None]]
"""Emit one event of the running turn (bound to that turn)."""
