"""One turn: sample the model, run the tool calls it makes, sample again, until it answers.

The loop is deliberately linear.  A sampling round streams into a scratch list; only a
round that completed is committed to the history (a retried round leaves no trace), then
its tool calls run one by one in call order and their outputs are appended, and the next
round sees everything.  The caller owns cancellation: an interrupt cancels the scope this
coroutine runs in, and the thread records the abort.

Everything a turn touches comes in `TurnDeps`, explicitly: the configuration, the history,
the model client, the tools, the event sink, the approval callable and the MCP servers.  A
turn can therefore run in process with fakes, without a thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

import anyio

from codex_mcp.agent import events as ev
from codex_mcp.agent.approvals import SessionGrants
from codex_mcp.agent.compact import compact_history
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.events import Emit
from codex_mcp.agent.handlers.call_limits import refusal_output, shrink_refused, vet_call
from codex_mcp.agent.handlers.context import AskApproval, HandlerContext, McpTools, TurnChanges
from codex_mcp.agent.handlers.registry import dispatch_tool_call
from codex_mcp.agent.history import History
from codex_mcp.agent.items import (
    INPUT_TEXT_KINDS,
    OUTPUT_TEXT_KINDS,
    TOOL_CALL_TYPES,
    is_message,
    message_text,
)
from codex_mcp.agent.model.retry import backoff
from codex_mcp.agent.model.types import (
    Completed,
    OutputItemDone,
    OutputTextDelta,
    Prompt,
    ReasoningContentDelta,
    ReasoningSettings,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    ResponseItem,
    ToolSpec,
)
from codex_mcp.agent.model_facts import supports_reasoning
from codex_mcp.agent.network import ThreadNetwork
from codex_mcp.agent.sampling import ModelStream, retry_reporter
from codex_mcp.agent.tokens import TokenAccount
from codex_mcp.errors import ModelError

log = logging.getLogger(__name__)


class TurnFailed(Exception):
    """The turn cannot go on; the message is for the user (already emitted as `error`)."""


class ThreadMcp(McpTools, Protocol):
    """The thread's MCP servers as the turn sees them: started (or told the turn's sandbox)
    at the start of each turn, then offering their tools."""

    async def prepare(self, config: Config, turn_id: str, emit: Emit) -> None: ...

    @property
    def tool_specs(self) -> list[ToolSpec]: ...


@dataclass
class TurnDeps:
    """Everything one turn uses; built by the thread for each turn."""

    thread_id: str
    config: Config
    history: History
    model: ModelStream
    instructions: str
    tools: list[ToolSpec]
    """The built-in tools (the MCP servers' tools are added once they have started)."""
    tokens: TokenAccount
    emit: Emit
    ask_approval: AskApproval
    grants: SessionGrants
    mcp: ThreadMcp | None = None
    warnings: list[str] = field(default_factory=list)
    """Warnings found while the thread was set up (a skipped AGENTS.md), for its next turn."""
    network: ThreadNetwork | None = None
    """The thread's network proxy, when its commands reach hosts through one."""

    def tool_specs(self) -> list[ToolSpec]:
        return self.tools + self.mcp.tool_specs if self.mcp is not None else self.tools


async def run_turn(deps: TurnDeps, turn_id: str, new_items: list[ResponseItem]) -> str | None:
    """Run a turn to completion and return its last agent message (None if it had none).

    The whole turn is bounded by `[codex_mcp] turn_timeout_sec`, besides the provider's idle
    timeout: a provider that trickles a byte now and then, or a model that never stops
    calling tools, ends with an `error` naming the bound instead of running forever.
    """
    bound = deps.config.server.turn_timeout_sec
    with anyio.move_on_after(bound):
        return await _run_turn(deps, turn_id, new_items)
    message = turn_timeout_message(bound)
    deps.history.close_dangling_calls(f"aborted: {message}")
    await deps.emit(ev.error(message, "other"))
    raise TurnFailed(message)


def turn_timeout_message(bound: float) -> str:
    return f"the turn took longer than {bound:g} s (`turn_timeout_sec`) and was stopped"


async def _run_turn(deps: TurnDeps, turn_id: str, new_items: list[ResponseItem]) -> str | None:
    started = time.time()
    emit = deps.emit
    await emit(ev.task_started(turn_id, int(started), deps.tokens.context_window))
    while deps.warnings:
        await emit(ev.warning(deps.warnings.pop(0)))
    if deps.mcp is not None:
        await deps.mcp.prepare(deps.config, turn_id, emit)  # servers start in the first turn
    deps.history.record_turn_context(deps.config)
    deps.history.append(new_items)
    for item in new_items:
        if is_message(item, "user"):
            await emit(ev.user_message(message_text(item, INPUT_TEXT_KINDS)))

    last_message: str | None = None
    ctx = HandlerContext(
        turn_id=turn_id,
        config=deps.config,
        emit=emit,
        ask_approval=deps.ask_approval,
        grants=deps.grants,
        changes=TurnChanges(deps.config.cwd),
        mcp=deps.mcp,
        network=deps.network,
    )
    first_token_ms: int | None = None
    while True:
        round_items = await sample_with_retries(deps, turn_id)
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
            elif is_message(item, "assistant"):
                last_message = message_text(item, OUTPUT_TEXT_KINDS)
        deps.history.append(round_items)
        if not calls:
            break
        for call, verdict in calls:
            if isinstance(verdict, str):
                output = refusal_output(call, verdict)
            else:
                output = await dispatch_tool_call(ctx, verdict)
            deps.history.append([output])
        if ctx.pending_input:
            deps.history.append(ctx.pending_input)
            ctx.pending_input = []
        if deps.tokens.should_compact():
            await compact_or_fail(deps, turn_id)

    if ctx.changes.paths:
        diff = await ctx.changes.adiff()
        if diff:
            await emit(ev.turn_diff(diff))
    if deps.network is not None:
        usage = await deps.network.usage_event(turn_id)
        if usage is not None:
            await emit(usage)
    completed = time.time()
    await emit(
        ev.task_complete(
            turn_id,
            last_message,
            int(started),
            int(completed),
            int((completed - started) * 1000),
            first_token_ms,
        )
    )
    return last_message


def build_prompt(deps: TurnDeps) -> Prompt:
    config = deps.config
    reasoning = None
    if supports_reasoning(config):
        summary = config.model_reasoning_summary
        reasoning = ReasoningSettings(
            effort=config.model_reasoning_effort, summary=None if summary == "none" else summary
        )
    return Prompt(
        instructions=deps.instructions,
        input=list(deps.history.items),
        tools=deps.tool_specs(),
        parallel_tool_calls=False,
        reasoning=reasoning,
        verbosity=config.model_verbosity,
        prompt_cache_key=deps.thread_id,
        max_output_tokens=config.model_max_output_tokens,
    )


async def sample_with_retries(deps: TurnDeps, turn_id: str) -> list[ResponseItem]:
    """One sampling round, re-sampled from scratch after a transient stream failure."""
    max_retries = deps.config.model_provider.stream_max_retries
    attempt = 0
    compacted_for_overflow = False
    while True:
        try:
            return await sample_once(deps, turn_id)
        except ModelError as exc:
            if (
                exc.kind == "context_window_exceeded"
                and not compacted_for_overflow
                and len(deps.history.items) > 2
            ):
                compacted_for_overflow = True
                await compact_or_fail(deps, turn_id)
                continue
            if not exc.retryable or attempt >= max_retries:
                await fail_turn(deps, exc)
            attempt += 1
            delay = exc.retry_after if exc.retry_after is not None else backoff(attempt)
            await deps.emit(
                ev.stream_error(
                    f"Reconnecting... {attempt}/{max_retries} ({exc.message})", exc.codex_error_info()
                )
            )
            await anyio.sleep(delay)


async def fail_turn(deps: TurnDeps, exc: ModelError) -> NoReturn:
    await deps.emit(ev.error(exc.message, exc.codex_error_info()))
    raise TurnFailed(exc.message) from exc


async def compact_or_fail(deps: TurnDeps, turn_id: str) -> None:
    """Compact the history; a model error while doing so ends the turn like any other."""
    try:
        await compact_history(
            deps.model,
            deps.config,
            deps.history,
            deps.instructions,
            thread_id=deps.thread_id,
            turn_id=turn_id,
            emit=deps.emit,
        )
    except ModelError as exc:
        await fail_turn(deps, exc)
    deps.tokens.compacted()


async def sample_once(deps: TurnDeps, turn_id: str) -> list[ResponseItem]:
    config = deps.config
    prompt = build_prompt(deps)
    items: list[ResponseItem] = []
    hide_reasoning = config.hide_agent_reasoning
    show_raw = config.show_raw_agent_reasoning and not hide_reasoning
    emit = deps.emit
    stream = deps.model.stream(
        prompt, model=config.model, thread_id=deps.thread_id, turn_id=turn_id, on_retry=retry_reporter(emit)
    )
    async for event in stream:
        if isinstance(event, OutputTextDelta):
            await emit(ev.agent_message_delta(event.delta))
        elif isinstance(event, OutputItemDone):
            item = event.item
            items.append(item)
            await _announce_item(deps, item, hide_reasoning)
        elif isinstance(event, ReasoningSummaryDelta):
            if not hide_reasoning:
                await emit(ev.agent_reasoning_delta(event.delta))
        elif isinstance(event, ReasoningSummaryPartAdded):
            if not hide_reasoning:
                await emit(ev.agent_reasoning_section_break(event.item_id, event.summary_index))
        elif isinstance(event, ReasoningContentDelta):
            if show_raw:
                await emit(ev.agent_reasoning_raw_content_delta(event.delta))
        elif isinstance(event, Completed):
            if event.usage is not None:
                deps.tokens.add(event.usage)
            await emit(ev.token_count(deps.tokens.info_json()))
    return items


async def _announce_item(deps: TurnDeps, item: ResponseItem, hide_reasoning: bool) -> None:
    kind = item.get("type")
    if is_message(item, "assistant"):
        await deps.emit(ev.agent_message(message_text(item, OUTPUT_TEXT_KINDS)))
    elif kind == "reasoning" and not hide_reasoning:
        for part in item.get("summary") or []:
            if isinstance(part, dict) and part.get("text"):
                await deps.emit(ev.agent_reasoning(part["text"]))
        if deps.config.show_raw_agent_reasoning:
            for part in item.get("content") or []:
                if isinstance(part, dict) and part.get("text"):
                    await deps.emit(ev.agent_reasoning_raw_content(part["text"]))
