"""One turn: sample the model, run the tool calls it makes, sample again, until it answers.

The loop is deliberately linear.  A sampling round streams into a scratch list; only a
round that completed is committed to the history (a retried round leaves no trace), then
its tool calls run (side by side when the model family takes parallel calls and the tools
allow it, `run_calls`) and their outputs are appended in call order, and the next round
sees everything.  The caller owns cancellation: an interrupt cancels the scope this
coroutine runs in, and the thread records the abort.

Every request follows the thread's model contract (`request.Contract`: the family's
instructions, tools and fields).  What the client sees of a response while it streams is
`stream_events`; the item events of tool calls are derived from the handlers' events by the
turn's `ItemTracker`.

Everything a turn touches comes in `TurnDeps`, explicitly: the configuration, the history,
the model client, the contract, the event sink, the approval and question callables and the
MCP servers.  A turn can therefore run in process with fakes, without a thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn, Protocol

import anyio

from codex_mcp.agent import events as ev
from codex_mcp.agent.approvals import SessionGrants
from codex_mcp.agent.compact import compact_history
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.events import Emit, ItemTracker
from codex_mcp.agent.events.thread_items import user_message_item
from codex_mcp.agent.handlers.call_limits import refusal_output, shrink_refused, vet_call
from codex_mcp.agent.handlers.context import AskApproval, AskUser, HandlerContext, McpTools, TurnChanges
from codex_mcp.agent.handlers.registry import dispatch_tool_call, runs_in_parallel
from codex_mcp.agent.history import History
from codex_mcp.agent.ids import uuid7
from codex_mcp.agent.items import (
    INPUT_TEXT_KINDS,
    OUTPUT_TEXT_KINDS,
    TOOL_CALL_TYPES,
    call_id_of,
    is_message,
    message_text,
)
from codex_mcp.agent.limits import MAX_PARALLEL_TOOL_CALLS
from codex_mcp.agent.model.retry import backoff
from codex_mcp.agent.model.types import Completed, Prompt, ResponseItem, ToolSpec
from codex_mcp.agent.network import ThreadNetwork
from codex_mcp.agent.request import Contract
from codex_mcp.agent.sampling import ModelStream, retry_reporter
from codex_mcp.agent.stream_events import ResponseRelay
from codex_mcp.agent.tokens import TokenAccount
from codex_mcp.errors import ModelError

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import EventMsg
    from codex_mcp.agent.exec.sessions_host import ThreadSessions

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
    contract: Contract
    """The family's instructions, built-in tools and request fields, and who is asking."""
    tokens: TokenAccount
    emit: Emit
    ask_approval: AskApproval
    grants: SessionGrants
    mcp: ThreadMcp | None = None
    ask_user: AskUser | None = None
    warnings: list[str] = field(default_factory=list)
    """Warnings found while the thread was set up (a skipped AGENTS.md), for its next turn."""
    turn_started_ms: int = 0
    sessions: ThreadSessions | None = None
    """The thread's process sessions (they outlive the turn)."""
    network: ThreadNetwork | None = None
    """The thread's network proxy, when its commands reach hosts through one."""

    def mcp_tool_specs(self) -> list[ToolSpec]:
        return self.mcp.tool_specs if self.mcp is not None else []

    def prompt(self, turn_id: str, items: list[ResponseItem] | None = None, kind: str = "turn") -> Prompt:
        """The next request of this turn (the whole history unless `items` are given)."""
        return self.contract.prompt(
            list(self.history.items) if items is None else items,
            extra_tools=self.mcp_tool_specs(),
            thread_id=self.thread_id,
            turn_id=turn_id,
            window=self.tokens.window,
            turn_started_ms=self.turn_started_ms,
            request_kind=kind,
            tools=kind == "turn",
        )


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
    deps.turn_started_ms = int(started * 1000)
    tracker = ItemTracker(deps.thread_id, turn_id)
    emit = tracked(deps.emit, tracker)
    while deps.warnings:  # before the turn starts, where Codex reports them
        await emit(ev.warning(deps.warnings.pop(0)))
    await emit(ev.task_started(turn_id, int(started), deps.tokens.context_window))
    if deps.mcp is not None:
        await deps.mcp.prepare(deps.config, turn_id, emit)  # servers start in the first turn
    deps.history.record_turn_context(deps.config)
    deps.history.append(new_items)
    for item in new_items:
        if is_message(item, "user"):
            await announce_user_message(emit, tracker, item)

    last_message: str | None = None
    ctx = HandlerContext(
        turn_id=turn_id,
        config=deps.config,
        emit=emit,
        ask_approval=deps.ask_approval,
        grants=deps.grants,
        changes=TurnChanges(deps.config.cwd),
        mcp=deps.mcp,
        ask_user=deps.ask_user,
        image_detail_original=deps.contract.family.image_detail_original,
        sessions=deps.sessions,
        network=deps.network,
    )
    first_token_ms: int | None = None
    while True:
        round_items = await sample_with_retries(deps, turn_id, tracker)
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
        if calls:
            parallel = deps.contract.family.parallel_tool_calls
            deps.history.append(await run_calls(ctx, calls, parallel))
        if ctx.pending_input:
            deps.history.append(ctx.pending_input)
            ctx.pending_input = []
        # As Codex: the round's usage is reported once its tools have run, then the diff.
        await emit(ev.token_count(deps.tokens.info_json()))
        await emit_diff(ctx)
        if not calls:
            break
        if deps.tokens.should_compact():
            await compact_or_fail(deps, turn_id)

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


def tracked(emit: Emit, tracker: ItemTracker) -> Emit:
    """`emit`, with the item events `tracker` derives from tool events sent first."""

    async def send(msg: EventMsg) -> None:
        for before in tracker.before(msg):
            await emit(before)
        await emit(msg)

    return send


async def announce_user_message(emit: Emit, tracker: ItemTracker, item: ResponseItem) -> None:
    text = message_text(item, INPUT_TEXT_KINDS)
    content = item.get("content")
    images = [
        str(p.get("image_url"))
        for p in (content if isinstance(content, list) else [])
        if isinstance(p, dict) and p.get("type") == "input_image"
    ]
    thread_item = user_message_item(uuid7(), [text])
    await emit(tracker.start(thread_item))
    await emit(tracker.complete(thread_item))
    await emit(ev.user_message(text, images))


async def emit_diff(ctx: HandlerContext) -> None:
    """A `turn_diff` of everything the turn's patches changed so far (none before a patch)."""
    if ctx.changes.paths:
        diff = await ctx.changes.adiff()
        if diff:
            await ctx.emit(ev.turn_diff(diff))


async def run_calls(
    ctx: HandlerContext, calls: list[tuple[ResponseItem, ResponseItem | str]], parallel: bool
) -> list[ResponseItem]:
    """The outputs of one round's calls, in call order.

    With `parallel`, consecutive calls of tools that allow it run side by side, at most
    `MAX_PARALLEL_TOOL_CALLS` at a time; any other call (a patch, a question to the person)
    runs alone, after the ones before it.  A `turn_diff` follows each call that applied a
    patch, as Codex sends it."""
    outputs: list[ResponseItem | None] = [None] * len(calls)
    limiter = anyio.CapacityLimiter(MAX_PARALLEL_TOOL_CALLS)

    async def one(index: int) -> None:
        call, verdict = calls[index]
        if isinstance(verdict, str):
            outputs[index] = refusal_output(call, verdict)
            return
        async with limiter:
            writes = ctx.changes.writes
            outputs[index] = await dispatch_tool_call(ctx, verdict)
            if ctx.changes.writes != writes:
                await emit_diff(ctx)

    index = 0
    while index < len(calls):
        end = index + 1
        if parallel and runs_in_parallel(calls[index][0]):
            ids = {call_id_of(calls[index][0])}
            # A call id used twice in a round (a hostile model) is not run side by side:
            # approvals and events are keyed by it.
            while (
                end < len(calls) and runs_in_parallel(calls[end][0]) and call_id_of(calls[end][0]) not in ids
            ):
                ids.add(call_id_of(calls[end][0]))
                end += 1
        if end - index == 1:
            await one(index)
        else:
            async with anyio.create_task_group() as tg:
                for member in range(index, end):
                    tg.start_soon(one, member)
        index = end
    return [o for o in outputs if o is not None]


async def sample_with_retries(deps: TurnDeps, turn_id: str, tracker: ItemTracker) -> list[ResponseItem]:
    """One sampling round, re-sampled from scratch after a transient stream failure."""
    max_retries = deps.config.model_provider.stream_max_retries
    attempt = 0
    compacted_for_overflow = False
    while True:
        try:
            return await sample_once(deps, turn_id, tracker)
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
            lambda items: deps.prompt(turn_id, items, kind="compact"),
            thread_id=deps.thread_id,
            turn_id=turn_id,
            emit=deps.emit,
        )
    except ModelError as exc:
        await fail_turn(deps, exc)
    deps.tokens.compacted()


async def sample_once(deps: TurnDeps, turn_id: str, tracker: ItemTracker) -> list[ResponseItem]:
    """One request and its response: the items it completed (in the shape they are kept);
    the usage goes to the token account, reported once the round's tools have run."""
    config = deps.config
    items: list[ResponseItem] = []
    relay = ResponseRelay(
        tracker,
        deps.emit,
        deltas=config.server.delta_events,
        hide_reasoning=config.hide_agent_reasoning,
        show_raw_reasoning=config.show_raw_agent_reasoning,
    )
    stream = deps.model.stream(
        deps.prompt(turn_id),
        model=config.model,
        thread_id=deps.thread_id,
        turn_id=turn_id,
        on_retry=retry_reporter(deps.emit),
    )
    async for event in stream:
        if isinstance(event, Completed):
            if event.usage is not None:
                deps.tokens.add(event.usage)
            continue
        item = await relay.on_event(event)
        if item is not None:
            items.append(item)
    return items
