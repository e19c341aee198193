"""The vocabulary shared by the model clients and the turn loop.

History items and tool specs stay plain JSON dicts in the Responses API shape: that is
what the wire, the rollout file and the Chat mapping all speak, so there is no second
representation to keep in sync.  Stream events are small frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ResponseItem = dict[str, Any]
"""One Responses API item: message, reasoning, function_call, function_call_output,
custom_tool_call, custom_tool_call_output, local_shell_call, ..."""

ToolSpec = dict[str, Any]
"""A tool in the Responses shape: {"type": "function", "name", "description", "parameters",
"strict"}, {"type": "custom", "name", "description", "format"} or {"type": "local_shell"}."""


@dataclass(frozen=True)
class ReasoningSettings:
    effort: str | None = None
    summary: str | None = "auto"  # None or "none" -> omitted


@dataclass
class Prompt:
    """Everything one sampling request needs; the client maps it onto its wire."""

    instructions: str
    input: list[ResponseItem]
    tools: list[ToolSpec] = field(default_factory=list)
    parallel_tool_calls: bool = False
    reasoning: ReasoningSettings | None = None
    verbosity: str | None = None
    prompt_cache_key: str | None = None  # the thread id
    max_output_tokens: int | None = None


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    total_tokens: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_output_tokens": self.reasoning_output_tokens,
            "total_tokens": self.total_tokens,
        }

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_output_tokens + other.reasoning_output_tokens,
            self.total_tokens + other.total_tokens,
        )


# --- stream events -------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    pass


@dataclass(frozen=True)
class OutputTextDelta:
    delta: str


@dataclass(frozen=True)
class ReasoningSummaryDelta:
    delta: str
    summary_index: int = 0


@dataclass(frozen=True)
class ReasoningSummaryPartAdded:
    item_id: str
    summary_index: int


@dataclass(frozen=True)
class ReasoningContentDelta:
    delta: str
    content_index: int = 0


@dataclass(frozen=True)
class OutputItemDone:
    item: ResponseItem


@dataclass(frozen=True)
class Completed:
    response_id: str
    usage: TokenUsage | None = None


ResponseEvent = (
    Created
    | OutputTextDelta
    | ReasoningSummaryDelta
    | ReasoningSummaryPartAdded
    | ReasoningContentDelta
    | OutputItemDone
    | Completed
)


# --- errors ----------------------------------------------------------------------------

ErrorKind = Literal[
    "unauthorized",
    "bad_request",
    "context_window_exceeded",
    "usage_limit_exceeded",
    "quota_exceeded",
    "http_connection_failed",
    "response_stream_failed",
    "missing_credentials",
    "internal_server_error",
    "other",
]


class ModelError(Exception):
    """A sampling request failed. `str()` is user-readable.

    `retryable` errors happened after the response started streaming (a cut stream, an idle
    timeout, `response.failed` with a transient code): the turn loop may re-sample the whole
    request, because partial output must be discarded, not patched.  Errors raised with
    `retryable=False` are final (request-phase retries, if any, are already spent).
    """

    def __init__(
        self,
        message: str,
        kind: ErrorKind = "other",
        http_status: int | None = None,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.http_status = http_status
        self.retryable = retryable
        self.retry_after = retry_after

    def codex_error_info(self) -> Any:
        """The `codex_error_info` value of an `error` event."""
        if self.kind == "http_connection_failed":
            return {"http_connection_failed": {"http_status_code": self.http_status}}
        return self.kind
