"""The vocabulary shared by the model clients and the turn loop.

History items and tool specs stay plain JSON dicts in the Responses API shape: that is
what the wire, the rollout file and the Chat mapping all speak, so there is no second
representation to keep in sync.  Stream events are small frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codex_mcp.errors import ErrorKind as ErrorKind
from codex_mcp.errors import ModelError as ModelError

ResponseItem = dict[str, Any]
"""One Responses API item: message, reasoning, function_call, function_call_output,
custom_tool_call, custom_tool_call_output, local_shell_call, ..."""

ToolSpec = dict[str, Any]
"""A tool in the Responses shape: {"type": "function", "name", "description", "parameters",
"strict"}, {"type": "custom", "name", "description", "format"} or {"type": "local_shell"}."""


@dataclass
class Prompt:
    """Everything one sampling request needs; the client maps it onto its wire.

    The top-level fields are already what the model family takes (`request_fields`): the
    Responses wire sends them as they are, the Chat wire only the model, messages and tools.
    """

    instructions: str
    input: list[ResponseItem]
    tools: list[ToolSpec] = field(default_factory=list)
    parallel_tool_calls: bool = False
    reasoning: dict[str, str] | None = None
    """`{effort, summary}` as sent; None: no `reasoning` key."""
    include: list[str] = field(default_factory=list)
    text: dict[str, Any] | None = None
    """`{verbosity, format}` as sent; None: no `text` key."""
    store: bool = False
    prompt_cache_key: str | None = None  # the thread id
    client_metadata: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """The request's identifying headers (originator, user agent, turn metadata)."""


@dataclass(frozen=True)
class TokenUsage:
    """The tokens one response used, as the provider reported them."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    total_tokens: int = 0
    cache_write_input_tokens: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_input_tokens": self.cache_write_input_tokens,
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
            self.cache_write_input_tokens + other.cache_write_input_tokens,
        )


# --- stream events -------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    """The provider accepted the request and started its response."""


@dataclass(frozen=True)
class OutputItemAdded:
    """An output item began (its deltas follow); `item` is its first, partial form."""

    item: ResponseItem


@dataclass(frozen=True)
class OutputTextDelta:
    """A piece of an assistant message's text."""

    delta: str
    item_id: str = ""


@dataclass(frozen=True)
class ReasoningSummaryDelta:
    """A piece of a reasoning summary's text."""

    delta: str
    summary_index: int = 0
    item_id: str = ""


@dataclass(frozen=True)
class ReasoningSummaryPartAdded:
    """A reasoning summary started a new part."""

    item_id: str
    summary_index: int


@dataclass(frozen=True)
class ReasoningContentDelta:
    """A piece of the raw reasoning text (providers that send it)."""

    delta: str
    content_index: int = 0
    item_id: str = ""


@dataclass(frozen=True)
class OutputItemDone:
    """An output item in its final form (a message, a reasoning item, a tool call)."""

    item: ResponseItem


@dataclass(frozen=True)
class Completed:
    """The response ended; its id and what it used."""

    response_id: str
    usage: TokenUsage | None = None


ResponseEvent = (
    Created
    | OutputItemAdded
    | OutputTextDelta
    | ReasoningSummaryDelta
    | ReasoningSummaryPartAdded
    | ReasoningContentDelta
    | OutputItemDone
    | Completed
)
