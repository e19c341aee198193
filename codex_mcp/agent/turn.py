"""One turn: sample the model, run the tool calls it makes, sample again, until it answers.

The loop is deliberately linear.  A sampling round streams into a scratch list; only a
round that completed is committed to the history (a retried round leaves no trace), then
its tool calls run one by one in call order and their outputs are appended, and the next
round sees everything.  The caller owns cancellation: an interrupt cancels the scope this
coroutine runs in, and the thread records the abort.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, NoReturn

import anyio

from codex_mcp.agent.model.retry import backoff
from codex_mcp.agent.model.types import (
    Completed,
    ModelError,
    OutputItemDone,
    OutputTextDelta,
    Prompt,
    ReasoningContentDelta,
    ReasoningSettings,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    ResponseItem,
)
from codex_mcp.agent.protocol import duration_json
from codex_mcp.agent.tools.call_limits import refusal_output, shrink_refused, vet_call
from codex_mcp.agent.tools.context import ToolContext
from codex_mcp.agent.tools.registry import TOOL_CALL_TYPES, dispatch_tool_call

if TYPE_CHECKING:
    from codex_mcp.agent.session import Thread

log = logging.getLogger(__name__)


class TurnFailed(Exception):
    """The turn cannot go on; the message is for the user (already emitted as `error`)."""


def message_text(item: ResponseItem) -> str:
    parts = item.get("content") or []
    if isinstance(parts, str):
        return parts
    return "".join(
        p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") in ("output_text", "text")
    )


async def run_turn(thread: Thread, turn_id: str, new_items: list[ResponseItem]) -> str | None:
    """Run a turn to completion and return its last agent message (None if it had none).

    The whole turn is bounded by `[codex_mcp] turn_timeout_sec`, besides the provider's idle
    timeout: a provider that trickles a byte now and then, or a model that never stops
    calling tools, ends with an `error` naming the bound instead of running forever.
    """
    bound = thread.config.server.turn_timeout_sec
    with anyio.move_on_after(bound):
        return await _run_turn(thread, turn_id, new_items)
    message = turn_timeout_message(bound)
    thread._close_dangling_calls(f"aborted: {message}")
    await thread.emit(turn_id, {"type": "error", "message": message, "codex_error_info": "other"})
    raise TurnFailed(message)


def turn_timeout_message(bound: float) -> str:
    return f"the turn took longer than {bound:g} s (`turn_timeout_sec`) and was stopped"


async def _run_turn(thread: Thread, turn_id: str, new_items: list[ResponseItem]) -> str | None:
    started = time.time()
    await thread.emit(
        turn_id,
        {
            "type": "task_started",
            "turn_id": turn_id,
            "started_at": int(started),
            "model_context_window": thread.context_window,
        },
    )
    while thread.startup_warnings:
        await thread.emit(turn_id, {"type": "warning", "message": thread.startup_warnings.pop(0)})
    await thread.ensure_mcp(turn_id)  # MCP client (issue 7): servers start in the first turn
    thread.record_turn_context()
    thread.append_history(new_items)
    for item in new_items:
        if item.get("type") == "message" and item.get("role") == "user":
            await thread.emit(
                turn_id, {"type": "user_message", "message": message_text_input(item), "images": []}
            )

    last_message: str | None = None
    ctx = ToolContext(thread=thread, turn_id=turn_id)
    first_token_ms: int | None = None
    while True:
        round_items = await sample_with_retries(thread, turn_id)
        if first_token_ms is None:
            first_token_ms = int((time.time() - started) * 1000)
        # Calls are vetted before the round is kept: a refused call's oversized payload is
        # not carried in the history (and re-sent with every later request).
        calls: list[tuple[ResponseItem, ResponseItem | str]] = []
        for index, item in enumerate(round_items):
            if item.get("type") in TOOL_CALL_TYPES:
                verdict = vet_call(item)
                if isinstance(verdict, str):
                    round_items[index] = item = shrink_refused(item)
                calls.append((item, verdict))
            elif item.get("type") == "message" and item.get("role") == "assistant":
                last_message = message_text(item)
        thread.append_history(round_items)
        if not calls:
            break
        for call, verdict in calls:
            if isinstance(verdict, str):
                output = refusal_output(call, verdict)
            else:
                output = await dispatch_tool_call(ctx, verdict)
            thread.append_history([output])
        if ctx.pending_input:
            thread.append_history(ctx.pending_input)
            ctx.pending_input = []
        if thread.should_compact():
            await compact_or_fail(thread, turn_id)

    if ctx.changed_paths:
        diff = await ctx.aturn_diff()
        if diff:
            await thread.emit(turn_id, {"type": "turn_diff", "unified_diff": diff})
    completed = time.time()
    await thread.emit(
        turn_id,
        {
            "type": "task_complete",
            "turn_id": turn_id,
            "last_agent_message": last_message,
            "started_at": int(started),
            "completed_at": int(completed),
            "duration_ms": int((completed - started) * 1000),
            "time_to_first_token_ms": first_token_ms,
        },
    )
    return last_message


def message_text_input(item: ResponseItem) -> str:
    parts = item.get("content") or []
    return "".join(p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type") == "input_text")


def build_prompt(thread: Thread) -> Prompt:
    config = thread.config
    reasoning = None
    if thread.supports_reasoning:
        summary = config.model_reasoning_summary
        reasoning = ReasoningSettings(
            effort=config.model_reasoning_effort, summary=None if summary == "none" else summary
        )
    return Prompt(
        instructions=thread.instructions,
        input=list(thread.history),
        tools=thread.tool_specs,
        parallel_tool_calls=False,
        reasoning=reasoning,
        verbosity=config.model_verbosity,
        prompt_cache_key=thread.thread_id,
        max_output_tokens=config.model_max_output_tokens,
    )


async def sample_with_retries(thread: Thread, turn_id: str) -> list[ResponseItem]:
    """One sampling round, re-sampled from scratch after a transient stream failure."""
    max_retries = thread.config.model_provider.stream_max_retries
    attempt = 0
    compacted_for_overflow = False
    while True:
        try:
            return await sample_once(thread, turn_id)
        except ModelError as exc:
            if (
                exc.kind == "context_window_exceeded"
                and not compacted_for_overflow
                and len(thread.history) > 2
            ):
                compacted_for_overflow = True
                await compact_or_fail(thread, turn_id)
                continue
            if not exc.retryable or attempt >= max_retries:
                await fail_turn(thread, turn_id, exc)
            attempt += 1
            delay = exc.retry_after if exc.retry_after is not None else backoff(attempt)
            await thread.emit(
                turn_id,
                {
                    "type": "stream_error",
                    "message": f"Reconnecting... {attempt}/{max_retries} ({exc.message})",
                    "codex_error_info": exc.codex_error_info(),
                },
            )
            await anyio.sleep(delay)


async def fail_turn(thread: Thread, turn_id: str, exc: ModelError) -> NoReturn:
    await thread.emit(
        turn_id, {"type": "error", "message": exc.message, "codex_error_info": exc.codex_error_info()}
    )
    raise TurnFailed(exc.message) from exc


async def compact_or_fail(thread: Thread, turn_id: str) -> None:
    """Compact the history; a model error while doing so ends the turn like any other."""
    try:
        await thread.compact(turn_id)
    except ModelError as exc:
        await fail_turn(thread, turn_id, exc)


async def sample_once(thread: Thread, turn_id: str) -> list[ResponseItem]:
    prompt = build_prompt(thread)
    items: list[ResponseItem] = []
    hide_reasoning = thread.config.hide_agent_reasoning

    async def on_retry(message: str, attempt: int, max_attempts: int, delay: float) -> None:
        await thread.emit(turn_id, {"type": "stream_error", "message": message, "codex_error_info": None})

    emit = thread.emit
    stream = thread.model_client.stream(
        prompt, model=thread.config.model, thread_id=thread.thread_id, turn_id=turn_id, on_retry=on_retry
    )
    async for event in stream:
        if isinstance(event, OutputTextDelta):
            await emit(turn_id, {"type": "agent_message_delta", "delta": event.delta})
        elif isinstance(event, OutputItemDone):
            item = event.item
            items.append(item)
            await _announce_item(thread, turn_id, item, hide_reasoning)
        elif isinstance(event, ReasoningSummaryDelta):
            if not hide_reasoning:
                await emit(turn_id, {"type": "agent_reasoning_delta", "delta": event.delta})
        elif isinstance(event, ReasoningSummaryPartAdded):
            if not hide_reasoning:
                await emit(
                    turn_id,
                    {
                        "type": "agent_reasoning_section_break",
                        "item_id": event.item_id,
                        "summary_index": event.summary_index,
                    },
                )
        elif isinstance(event, ReasoningContentDelta):
            if thread.config.show_raw_agent_reasoning and not hide_reasoning:
                await emit(turn_id, {"type": "agent_reasoning_raw_content_delta", "delta": event.delta})
        elif isinstance(event, Completed):
            if event.usage is not None:
                thread.add_usage(event.usage)
            await emit(
                turn_id, {"type": "token_count", "info": thread.token_info_json(), "rate_limits": None}
            )
    return items


async def _announce_item(thread: Thread, turn_id: str, item: ResponseItem, hide_reasoning: bool) -> None:
    kind = item.get("type")
    if kind == "message" and item.get("role") == "assistant":
        await thread.emit(turn_id, {"type": "agent_message", "message": message_text(item)})
    elif kind == "reasoning" and not hide_reasoning:
        for part in item.get("summary") or []:
            if isinstance(part, dict) and part.get("text"):
                await thread.emit(turn_id, {"type": "agent_reasoning", "text": part["text"]})
        if thread.config.show_raw_agent_reasoning:
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("text"):
                    await thread.emit(turn_id, {"type": "agent_reasoning_raw_content", "text": part["text"]})


def elapsed(start: float) -> dict[str, Any]:
    return duration_json(time.monotonic() - start)
