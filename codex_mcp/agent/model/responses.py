"""The OpenAI Responses wire: request body and the mapping of its SSE events."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from codex_mcp.agent.limits import MAX_RESPONSE_OUTPUT_BYTES, describe_bytes
from codex_mcp.agent.model.retry import parse_try_again_hint
from codex_mcp.agent.model.sse import SseEvent
from codex_mcp.agent.model.types import (
    Completed,
    Created,
    ModelError,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    Prompt,
    ReasoningContentDelta,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    ResponseEvent,
    TokenUsage,
)
from codex_mcp.json_bounds import (
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    container_count_exceeds,
    excess_description,
    nesting_exceeds,
)

STREAM_CLOSED_MESSAGE = "stream closed before response.completed"
MAX_ERROR_MESSAGE_CHARS = 2000
"""A provider's error text is shown to the client; longer ones are cut."""
CONTEXT_WINDOW_MESSAGE = (
    "The conversation no longer fits in the model's context window. "
    "Start a new thread or shorten the history, then try again."
)
QUOTA_MESSAGE = "The model provider reports insufficient quota: check your plan and billing details."
USAGE_NOT_INCLUDED_MESSAGE = (
    "Codex usage is not included in this ChatGPT plan: upgrade the plan or use an API key."
)


def build_responses_body(prompt: Prompt, model: str) -> dict[str, Any]:
    """The JSON body of `POST {base_url}/responses`, keys in the order Codex sends them.

    `max_output_tokens` is never sent: Codex treats `model_max_output_tokens` as a budget of
    its own, and a provider that enforced it would cut answers short."""
    body: dict[str, Any] = {
        "model": model,
        "instructions": prompt.instructions,
        "input": prompt.input,
        "tools": prompt.tools,
        "tool_choice": "auto",
        "parallel_tool_calls": prompt.parallel_tool_calls,
    }
    if prompt.reasoning is not None:
        body["reasoning"] = prompt.reasoning
    body["store"] = prompt.store
    body["stream"] = True
    body["include"] = prompt.include
    if prompt.prompt_cache_key:
        body["prompt_cache_key"] = prompt.prompt_cache_key
    if prompt.text:
        body["text"] = prompt.text
    if prompt.client_metadata:
        body["client_metadata"] = prompt.client_metadata
    return body


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


MAX_ITEM_ID_CHARS = 256


def _str(v: Any) -> str:
    return v[:MAX_ITEM_ID_CHARS] if isinstance(v, str) else ""


def _opening(item: dict[str, Any]) -> dict[str, Any]:
    """The kind, id and role of an item that began; nothing large is kept from it."""
    out: dict[str, Any] = {"type": _str(item.get("type"))}
    for key in ("id", "role", "call_id", "name"):
        value = item.get(key)
        if isinstance(value, str):
            out[key] = value[:MAX_ITEM_ID_CHARS]
    return out


def parse_responses_usage(usage: Any) -> TokenUsage | None:
    if not isinstance(usage, dict):
        return None
    in_details = usage.get("input_tokens_details")
    out_details = usage.get("output_tokens_details")
    return TokenUsage(
        input_tokens=_int(usage.get("input_tokens")),
        cached_input_tokens=_int(in_details.get("cached_tokens")) if isinstance(in_details, dict) else 0,
        output_tokens=_int(usage.get("output_tokens")),
        reasoning_output_tokens=(
            _int(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else 0
        ),
        total_tokens=_int(usage.get("total_tokens")),
    )


def classify_failure(error: Any) -> ModelError:
    """Turn the `response.error` object of a `response.failed` event into a ModelError."""
    err = error if isinstance(error, dict) else {}
    code = err.get("code")
    if isinstance(code, str) and len(code) > 200:
        code = code[:200]
    etype = err.get("type")
    message = err.get("message") if isinstance(err.get("message"), str) else None
    if message is not None and len(message) > MAX_ERROR_MESSAGE_CHARS:
        message = message[:MAX_ERROR_MESSAGE_CHARS] + "..."
    if code == "context_length_exceeded" or etype == "context_length_exceeded":
        return ModelError(CONTEXT_WINDOW_MESSAGE, "context_window_exceeded")
    if code == "insufficient_quota" or etype == "insufficient_quota":
        return ModelError(QUOTA_MESSAGE, "quota_exceeded")
    if code == "usage_not_included" or etype == "usage_not_included":
        return ModelError(USAGE_NOT_INCLUDED_MESSAGE, "usage_limit_exceeded")
    delay = parse_try_again_hint(message) if message and code == "rate_limit_exceeded" else None
    text = message or "the model response failed"
    if code and isinstance(code, str) and code not in text:
        text = f"{text} ({code})"
    return ModelError(text, "response_stream_failed", retryable=True, retry_after=delay)


def _bad_json(data: str) -> ModelError:
    snippet = data if len(data) <= 200 else data[:200] + "..."
    return ModelError(f"invalid JSON in SSE event: {snippet}", "response_stream_failed", retryable=True)


def hostile_json(what: str) -> ModelError:
    """An event whose JSON would cost more to decode or keep than any real one: not retried."""
    return ModelError(f"the model provider sent {what}; the response was abandoned", "response_stream_failed")


def decode_event(data: str) -> Any:
    """One event's JSON, with its decoding cost bounded (see `codex_mcp.agent.limits`)."""
    if len(data) > MAX_JSON_CONTAINERS and container_count_exceeds(data):
        raise hostile_json(f"an SSE event {excess_description(data, MAX_JSON_CONTAINERS)}")
    try:
        return json.loads(data)
    except RecursionError:
        raise hostile_json(f"an SSE event nested more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError:
        raise _bad_json(data) from None


def output_budget_exceeded() -> ModelError:
    return ModelError(
        f"the model's response held more than {describe_bytes(MAX_RESPONSE_OUTPUT_BYTES)} of output "
        f"items (or more than {MAX_JSON_CONTAINERS} opening brackets in them), the limit; "
        "the response was abandoned",
        "response_stream_failed",
    )


async def map_responses_events(events: AsyncIterator[SseEvent]) -> AsyncGenerator[ResponseEvent, None]:
    """Translate Responses SSE events; `Completed` comes once the stream has ended cleanly."""
    completed: Completed | None = None
    saved_error: str | None = None
    kept = 0  # bytes of output items this response added
    kept_brackets = 0  # and their opening brackets: what they can cost as Python objects
    loads = json.loads
    async for sse in events:
        data = sse.data
        if data.startswith("[DONE]"):
            continue  # some gateways end Responses streams the Chat way
        if len(data) > MAX_JSON_CONTAINERS:
            ev = decode_event(data)
        else:  # the hot path, inlined: a small event cannot hold too many brackets
            try:
                ev = loads(data)
            except RecursionError:
                raise hostile_json(f"an SSE event nested more than {MAX_JSON_DEPTH} levels deep") from None
            except ValueError:
                raise _bad_json(data) from None
        if not isinstance(ev, dict):
            raise _bad_json(data)
        kind = ev.get("type")
        if not isinstance(kind, str):
            kind = sse.event
        if kind == "response.output_text.delta":
            delta = ev.get("delta")
            if isinstance(delta, str):
                yield OutputTextDelta(delta, _str(ev.get("item_id")))
        elif kind == "response.reasoning_summary_text.delta":
            delta = ev.get("delta")
            if isinstance(delta, str):
                yield ReasoningSummaryDelta(delta, _int(ev.get("summary_index")), _str(ev.get("item_id")))
        elif kind in ("response.reasoning_text.delta", "response.reasoning_content.delta"):
            delta = ev.get("delta")
            if isinstance(delta, str):
                yield ReasoningContentDelta(delta, _int(ev.get("content_index")), _str(ev.get("item_id")))
        elif kind == "response.output_item.added":
            item = ev.get("item")
            # Only the small opening form is passed on (its id and kind): the whole item
            # arrives with `output_item.done`, counted against the output budget there.
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                yield OutputItemAdded(_opening(item))
        elif kind == "response.output_item.done":
            item = ev.get("item")
            if isinstance(item, dict) and isinstance(item.get("type"), str):
                kept += len(data)
                kept_brackets += data.count("[") + data.count("{")
                if kept > MAX_RESPONSE_OUTPUT_BYTES or kept_brackets > MAX_JSON_CONTAINERS:
                    raise output_budget_exceeded()
                if len(data) > MAX_JSON_DEPTH and nesting_exceeds(item):
                    raise hostile_json(f"an output item nested more than {MAX_JSON_DEPTH} levels deep")
                yield OutputItemDone(item)
        elif kind == "response.reasoning_summary_part.added":
            item_id = ev.get("item_id")
            yield ReasoningSummaryPartAdded(
                item_id if isinstance(item_id, str) else "", _int(ev.get("summary_index"))
            )
        elif kind == "response.created":
            yield Created()
        elif kind in ("response.completed", "response.done"):
            resp = ev.get("response")
            resp = resp if isinstance(resp, dict) else {}
            rid = resp.get("id")
            completed = Completed(
                rid if isinstance(rid, str) else "", parse_responses_usage(resp.get("usage"))
            )
        elif kind == "response.failed":
            resp = ev.get("response")
            raise classify_failure(resp.get("error") if isinstance(resp, dict) else None)
        elif kind == "error":
            msg = ev.get("message")
            if not isinstance(msg, str):
                inner = ev.get("error")
                msg = inner.get("message") if isinstance(inner, dict) else None
            if isinstance(msg, str) and msg:
                saved_error = msg[:MAX_ERROR_MESSAGE_CHARS]
        # Everything else (output_item.added, in_progress, *.done, ...) is informational.
    if completed is None:
        message = f"{STREAM_CLOSED_MESSAGE}: {saved_error}" if saved_error else STREAM_CLOSED_MESSAGE
        raise ModelError(message, "response_stream_failed", retryable=True)
    yield completed
