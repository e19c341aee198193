"""The Chat Completions wire: history -> messages, tools, and streamed chunk parsing.

Chat has no item types of its own, so the stream is folded back into Responses-shaped items
(an assistant `message`, `function_call`s and, when the server streams reasoning text, a
`reasoning` item) and the rest of the agent never sees the difference.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from codex_mcp.agent.limits import MAX_RESPONSE_OUTPUT_BYTES
from codex_mcp.agent.model.responses import (
    CONTEXT_WINDOW_MESSAGE,
    MAX_ERROR_MESSAGE_CHARS,
    decode_event,
    output_budget_exceeded,
)
from codex_mcp.agent.model.sse import SseEvent
from codex_mcp.agent.model.types import (
    Completed,
    ModelError,
    OutputItemDone,
    OutputTextDelta,
    Prompt,
    ReasoningContentDelta,
    ResponseEvent,
    ResponseItem,
    TokenUsage,
    ToolSpec,
)
from codex_mcp.uuids import uuid4

CHAT_STREAM_CLOSED_MESSAGE = "chat completions stream closed before it finished"
_TEXT_PARTS = ("input_text", "output_text", "text")
_CALL_TYPES = ("function_call", "custom_tool_call", "local_shell_call")


def _content_text(content: Any, sep: str = "") -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    out: list[str] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in _TEXT_PARTS and isinstance(part.get("text"), str):
            out.append(part["text"])
    return sep.join(out)


def _message_content(content: Any, sep: str = "") -> Any:
    """Plain text (parts joined by `sep`), or a parts list when the message carries images."""
    if isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") == "input_image" for p in content
    ):
        parts: list[dict[str, Any]] = []
        for p in content:
            if not isinstance(p, dict):
                continue
            if p.get("type") in _TEXT_PARTS and isinstance(p.get("text"), str):
                parts.append({"type": "text", "text": p["text"]})
            elif p.get("type") == "input_image" and isinstance(p.get("image_url"), str):
                parts.append({"type": "image_url", "image_url": {"url": p["image_url"]}})
        return parts
    return _content_text(content, sep)


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, dict) and "content" in output:
        return _output_text(output["content"])
    if isinstance(output, list):
        return _content_text(output)
    return json.dumps(output)


def _tool_call(item: ResponseItem) -> dict[str, Any]:
    kind = item.get("type")
    call_id = item.get("call_id") or item.get("id") or ""
    if kind == "local_shell_call":
        return {
            "id": call_id,
            "type": "local_shell_call",
            "status": item.get("status"),
            "action": item.get("action"),
        }
    if kind == "custom_tool_call":
        arguments = json.dumps({"input": item.get("input", "")})
    else:
        raw = item.get("arguments", "")
        arguments = raw if isinstance(raw, str) else json.dumps(raw)
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": item.get("name", ""), "arguments": arguments},
    }


def history_to_messages(instructions: str, items: list[ResponseItem]) -> list[dict[str, Any]]:
    """The `messages` array: a system message, then the history (reasoning dropped)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}]
    pending: dict[str, Any] | None = None  # the open assistant message collecting tool calls
    for item in items:
        kind = item.get("type")
        if kind in _CALL_TYPES:
            if pending is None:
                pending = {"role": "assistant", "content": None, "tool_calls": []}
                messages.append(pending)
            pending["tool_calls"].append(_tool_call(item))
            continue
        if kind == "reasoning":
            continue  # invisible on this wire; does not break a run of calls either
        pending = None
        if kind == "message":
            role = item.get("role", "user")
            if role == "developer":
                role = "system"
            # Parts of one input message (AGENTS.md, then the environment) stay paragraphs
            # apart; an answer's parts are pieces of one text.
            sep = "" if role == "assistant" else "\n\n"
            messages.append({"role": role, "content": _message_content(item.get("content"), sep)})
        elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id", ""),
                    "content": _output_text(item.get("output", "")),
                }
            )
        # web_search_call and unknown items have no Chat form.
    return messages


def tools_to_chat(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools:
        if tool.get("type") != "function":
            continue
        fn: dict[str, Any] = {"name": tool.get("name", ""), "description": tool.get("description", "")}
        if "strict" in tool:
            fn["strict"] = tool["strict"]
        fn["parameters"] = tool.get("parameters", {"type": "object", "properties": {}})
        out.append({"type": "function", "function": fn})
    return out


def build_chat_body(prompt: Prompt, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": history_to_messages(prompt.instructions, prompt.input),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    tools = tools_to_chat(prompt.tools)
    if tools:
        body["tools"] = tools
    return body


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def parse_chat_usage(usage: Any) -> TokenUsage | None:
    if not isinstance(usage, dict):
        return None
    pd = usage.get("prompt_tokens_details")
    cd = usage.get("completion_tokens_details")
    prompt_tokens = _int(usage.get("prompt_tokens"))
    completion = _int(usage.get("completion_tokens"))
    return TokenUsage(
        input_tokens=prompt_tokens,
        cached_input_tokens=_int(pd.get("cached_tokens")) if isinstance(pd, dict) else 0,
        output_tokens=completion,
        reasoning_output_tokens=_int(cd.get("reasoning_tokens")) if isinstance(cd, dict) else 0,
        total_tokens=_int(usage.get("total_tokens")) or prompt_tokens + completion,
    )


def _reasoning_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("text", "content"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


_CALL_OVERHEAD = 256
"""What one tool-call entry costs besides its strings, counted against the output budget."""


class _Accumulator:
    """Collects one response's text, reasoning and tool calls until they can be emitted.

    `kept` counts what it holds, so that a stream of small deltas that never finishes
    cannot grow memory past `MAX_RESPONSE_OUTPUT_BYTES`; every lookup is O(1), so a
    response with thousands of calls costs linear time.
    """

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.order: list[int] = []
        self.by_id: dict[str, int] = {}
        self.kept = 0

    def reset(self) -> None:
        self.text, self.reasoning, self.calls, self.order, self.by_id = [], [], {}, [], {}

    def keep(self, size: int) -> None:
        self.kept += size
        if self.kept > MAX_RESPONSE_OUTPUT_BYTES:
            raise output_budget_exceeded()

    def add_tool_delta(self, tc: dict[str, Any]) -> None:
        idx = tc.get("index")
        tc_id = tc.get("id")
        if not isinstance(idx, int) or isinstance(idx, bool):
            known = self.by_id.get(tc_id) if isinstance(tc_id, str) else None
            if known is not None:
                idx = known
            elif tc_id or not self.order:
                idx = len(self.order)
            else:
                idx = self.order[-1]
        call = self.calls.get(idx)
        if call is None:
            self.keep(_CALL_OVERHEAD)
            call = {"id": None, "name": None, "args": []}
            self.calls[idx] = call
            self.order.append(idx)
        if call["id"] is None and isinstance(tc_id, str) and tc_id:
            self.keep(len(tc_id))
            call["id"] = tc_id
            self.by_id.setdefault(tc_id, idx)
        fn = tc.get("function")
        if isinstance(fn, dict):
            name = fn.get("name")
            if call["name"] is None and isinstance(name, str) and name:
                self.keep(len(name))
                call["name"] = name
            args = fn.get("arguments")
            if isinstance(args, str):
                self.keep(len(args))
                call["args"].append(args)

    def flush(self) -> list[ResponseItem]:
        items: list[ResponseItem] = []
        if self.reasoning:
            text = "".join(self.reasoning)
            items.append(
                {
                    "type": "reasoning",
                    "id": "",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": text}],
                }
            )
        if self.text:
            items.append(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "".join(self.text)}],
                }
            )
        for idx in self.order:
            call = self.calls[idx]
            items.append(
                {
                    "type": "function_call",
                    "name": call["name"] or "",
                    "arguments": "".join(call["args"]),
                    "call_id": call["id"] or f"call_{uuid4().replace('-', '')[:24]}",
                }
            )
        self.reset()
        return items


def _chunk_error(err: Any) -> ModelError:
    if isinstance(err, dict):
        e = err
    else:  # never `str()` a value from the wire: a deep list's repr raises RecursionError
        e = {"message": err if isinstance(err, str | int | float) else f"a {type(err).__name__}"}
    code = e.get("code") or e.get("type")
    if code == "context_length_exceeded":
        return ModelError(CONTEXT_WINDOW_MESSAGE, "context_window_exceeded")
    raw = e.get("message")
    if isinstance(raw, str | int | float):
        msg = str(raw)
    else:
        try:
            msg = json.dumps(e)
        except (RecursionError, ValueError, TypeError):
            msg = "an error object that is not valid JSON"
    if len(msg) > MAX_ERROR_MESSAGE_CHARS:
        msg = msg[:MAX_ERROR_MESSAGE_CHARS] + "..."
    return ModelError(f"chat completions stream error: {msg}", "response_stream_failed", retryable=True)


async def map_chat_events(events: AsyncIterator[SseEvent]) -> AsyncGenerator[ResponseEvent, None]:
    acc = _Accumulator()
    usage: TokenUsage | None = None
    finished = False
    async for sse in events:
        data = sse.data
        if data.startswith("[DONE]"):
            finished = True
            break
        chunk = decode_event(data)
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            raise _chunk_error(chunk["error"])
        if chunk.get("usage"):
            usage = parse_chat_usage(chunk["usage"]) or usage
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            continue
        choice = choices[0]
        delta = choice.get("delta")
        if isinstance(delta, dict):
            content = delta.get("content")
            if isinstance(content, str) and content:
                acc.keep(len(content))
                acc.text.append(content)
                yield OutputTextDelta(content)
            for key in ("reasoning", "reasoning_content"):
                if key in delta:
                    rtext = _reasoning_text(delta[key])
                    if rtext:
                        acc.keep(len(rtext))
                        acc.reasoning.append(rtext)
                        yield ReasoningContentDelta(rtext)
            tool_calls = delta.get("tool_calls")
            if isinstance(tool_calls, list):
                for tc in tool_calls:
                    if isinstance(tc, dict):
                        acc.add_tool_delta(tc)
        if choice.get("finish_reason"):
            finished = True
            for item in acc.flush():
                yield OutputItemDone(item)
    if not finished:
        raise ModelError(CHAT_STREAM_CLOSED_MESSAGE, "response_stream_failed", retryable=True)
    for item in acc.flush():
        yield OutputItemDone(item)
    yield Completed("", usage)
