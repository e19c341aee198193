"""The fields of every event the agent emits, as `TypedDict`s (plain dicts at run time).

`EventMsg` is the union of them all.  The constructors in `codex_mcp.agent.events` build
these; the names and groups are there too.

Imported for type checking only (`if TYPE_CHECKING:`, `tests/test_import_rules.py` checks
it): nothing needs the classes at run time, and creating these ~50 `TypedDict`s cost every
first call ~3 ms.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


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
    approvals_reviewer: str
    permission_profile: dict[str, Any]
    sandbox_policy: dict[str, Any]
    cwd: str
    rollout_path: str
    reasoning_effort: NotRequired[str]


class TaskStarted(TypedDict):
    type: Literal["task_started"]
    turn_id: str
    started_at: int
    model_context_window: int | None
    collaboration_mode_kind: str


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
    started_at: NotRequired[int]
    completed_at: NotRequired[int]
    duration_ms: NotRequired[int]


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
    local_images: list[str]
    audio: list[Any]
    local_audio: list[Any]
    text_elements: list[Any]


class AgentMessage(TypedDict):
    type: Literal["agent_message"]
    message: str
    phase: str | None
    memory_citation: Any


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
    explanation: str | None
    plan: list[PlanStep]


class NetworkApprovalContext(TypedDict):
    """What a network approval is about (the reference's `{host, protocol}`, plus the port)."""

    host: str
    protocol: str
    port: int


class ExecApprovalRequestMsg(TypedDict):
    type: Literal["exec_approval_request"]
    call_id: str
    turn_id: str
    command: list[str]
    cwd: str
    parsed_cmd: list[dict[str, Any]]
    reason: NotRequired[str]
    network_approval_context: NotRequired[NetworkApprovalContext]
    """Set when the question is whether the command may reach a host through the proxy."""
    proposed_execpolicy_amendment: NotRequired[list[str]]
    """A command prefix the person may approve for later commands (the model's `prefix_rule`)."""
    available_decisions: NotRequired[list[Any]]


class NetworkAccessBegin(TypedDict):
    type: Literal["network_access_begin"]
    connection_id: str
    turn_id: str
    host: str
    port: int
    protocol: str
    command: list[str]


class NetworkAccessEnd(TypedDict):
    type: Literal["network_access_end"]
    connection_id: str
    turn_id: str
    host: str
    port: int
    protocol: str
    command: list[str]
    outcome: str
    """`completed`, `denied` or `failed`."""
    reason: NotRequired[str]
    address: str | None
    """The address connected to (None when refused before connecting)."""
    bytes_sent: int
    bytes_received: int
    duration: Duration


class NetworkHostUsage(TypedDict):
    host: str
    port: int
    protocol: str
    connections: int
    denied: int
    bytes_sent: int
    bytes_received: int


class NetworkUsage(TypedDict):
    """The turn's traffic through the proxy, per destination (sent just before the turn ends)."""

    type: Literal["network_usage"]
    turn_id: str
    hosts: list[NetworkHostUsage]


class PatchApprovalRequestMsg(TypedDict):
    type: Literal["apply_patch_approval_request"]
    call_id: str
    turn_id: str
    changes: dict[str, Any]
    reason: str | None
    grant_root: str | None
    started_at_ms: NotRequired[int]


class ExecCommandBegin(TypedDict):
    """The NotRequired fields are the 0.147 shape (`exec_command`, `shell_command`): the
    process id of a session, where the command came from, when it started, and for a
    command typed into a running session, what was typed."""

    type: Literal["exec_command_begin"]
    call_id: str
    process_id: NotRequired[str]
    turn_id: str
    started_at_ms: NotRequired[int]
    command: list[str]
    cwd: str
    parsed_cmd: list[dict[str, Any]]
    source: NotRequired[str]
    interaction_input: NotRequired[str]


class ExecCommandOutputDelta(TypedDict):
    type: Literal["exec_command_output_delta"]
    call_id: str
    stream: str
    chunk: str


class ExecCommandEnd(TypedDict):
    """The NotRequired fields: as for `ExecCommandBegin`, plus when it ended and whether it
    `completed` (exit code 0) or `failed`."""

    type: Literal["exec_command_end"]
    call_id: str
    process_id: NotRequired[str]
    turn_id: str
    completed_at_ms: NotRequired[int]
    command: list[str]
    cwd: str
    parsed_cmd: list[dict[str, Any]]
    source: NotRequired[str]
    interaction_input: NotRequired[str]
    stdout: str
    stderr: str
    aggregated_output: str
    exit_code: int
    duration: Duration
    formatted_output: str
    status: NotRequired[str]


class TerminalInteraction(TypedDict):
    """`write_stdin` typed `stdin` into the session `process_id` (empty: it only polled);
    `call_id` is the `exec_command` that started the session."""

    type: Literal["terminal_interaction"]
    call_id: str
    process_id: str
    stdin: str


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
    status: str
    """`completed`, `failed` or `declined` (the person said no)."""


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


class ItemStarted(TypedDict):
    type: Literal["item_started"]
    thread_id: str
    turn_id: str
    item: dict[str, Any]
    started_at_ms: int


class ItemCompleted(TypedDict):
    type: Literal["item_completed"]
    thread_id: str
    turn_id: str
    item: dict[str, Any]
    started_at_ms: int
    completed_at_ms: int


class AgentMessageContentDelta(TypedDict):
    type: Literal["agent_message_content_delta"]
    thread_id: str
    turn_id: str
    item_id: str
    delta: str


class ReasoningContentDeltaMsg(TypedDict):
    type: Literal["reasoning_content_delta"]
    thread_id: str
    turn_id: str
    item_id: str
    delta: str
    summary_index: int


class WebSearchBegin(TypedDict):
    type: Literal["web_search_begin"]
    call_id: str


class WebSearchEnd(TypedDict):
    type: Literal["web_search_end"]
    call_id: str
    query: str
    action: dict[str, Any]


class UserInputRequestMsg(TypedDict):
    """The model asks the person questions (`request_user_input`); answered like an
    elicitation (`events.UserInputRequest`)."""

    type: Literal["request_user_input"]
    call_id: str
    turn_id: str
    questions: list[dict[str, Any]]


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
    | TerminalInteraction
    | PatchApplyBegin
    | PatchApplyEnd
    | ViewImageToolCall
    | McpStartupUpdate
    | McpStartupComplete
    | McpToolCallBegin
    | McpToolCallEnd
    | ElicitationRequestMsg
    | NetworkAccessBegin
    | NetworkAccessEnd
    | NetworkUsage
    | ItemStarted
    | ItemCompleted
    | AgentMessageContentDelta
    | ReasoningContentDeltaMsg
    | WebSearchBegin
    | WebSearchEnd
    | UserInputRequestMsg
)
"""Every payload the agent emits.  (Consumers that only relay treat a msg as `dict[str, Any]`.)"""
