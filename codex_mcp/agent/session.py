"""A thread: one conversation's state, its submission queue and its per-turn event streams.

Each turn runs as a task in the owner's task group, inside its own cancel scope, and
publishes its events on a stream that only the submitter of that turn reads.  That is what
keeps a cancelled call from ever seeing (or stealing) the events of a later turn.  Turns
of one thread run one after another; approvals are futures keyed by call id that the
host resolves with an op.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_mcp.agent import instructions
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.model.types import ResponseItem, TokenUsage
from codex_mcp.agent.protocol import (
    Event,
    ExecApprovalOp,
    InterruptOp,
    Op,
    PatchApprovalOp,
    ResolveElicitationOp,
    ReviewDecision,
    ShutdownOp,
    TextInput,
    UserInputOp,
)
from codex_mcp.agent.rollout import RolloutRecorder
from codex_mcp.agent.tools.registry import build_tool_specs, user_input_items
from codex_mcp.agent.turn import TurnFailed, run_turn

if TYPE_CHECKING:
    from codex_mcp.agent.mcp_client import McpConnectionManager

log = logging.getLogger(__name__)

EVENT_BUFFER = 256
"""Events a turn may run ahead of its reader; beyond that the turn waits (bounded memory)."""

_CONTEXT_WINDOWS = (
    ("gpt-5", 272_000),
    ("codex-", 272_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
)
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "codex-")


@dataclass
class _PendingApproval:
    done: anyio.Event
    decision: ReviewDecision = "denied"
    reason: str | None = None


@dataclass
class _PendingElicitation:  # MCP client (issue 7)
    done: anyio.Event
    turn_id: str
    result: dict[str, Any] | None = None


ELICITATION_GRACE_SEC = 30.0
"""How much longer than the host's own elicitation timeout we wait for its answer op."""


class TurnHandle:
    """The events of one turn, in order; the stream ends after the turn's last event."""

    def __init__(self, turn_id: str, receive: MemoryObjectReceiveStream[Event]) -> None:
        self.turn_id = turn_id
        self._receive = receive

    def __aiter__(self) -> TurnHandle:
        return self

    async def __anext__(self) -> Event:
        try:
            try:
                return self._receive.receive_nowait()
            except anyio.WouldBlock:
                return await self._receive.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._receive.aclose()


class Thread:
    def __init__(
        self,
        *,
        thread_id: str,
        config: Config,
        model_client: Any,
        recorder: RolloutRecorder,
        task_group: TaskGroup,
        history: list[ResponseItem] | None = None,
        instructions_text: str | None = None,
        on_idle: Callable[[Thread], None] | None = None,
    ) -> None:
        self.thread_id = thread_id
        self._on_idle = on_idle
        self.config = config
        self.model_client = model_client
        self.recorder = recorder
        self.history: list[ResponseItem] = list(history or [])
        self.instructions = instructions_text or instructions.base_instructions(config)
        self.tool_specs = build_tool_specs(config)
        self.approved_commands: set[tuple[str, ...]] = set()
        self.approved_paths: set[Path] = set()
        self._task_group = task_group
        self._turn_lock = anyio.Lock()
        self._subscribers: dict[str, MemoryObjectSendStream[Event]] = {}
        self._turn_scopes: dict[str, anyio.CancelScope] = {}
        self._approvals: dict[tuple[str, str], _PendingApproval] = {}
        self._total = TokenUsage()
        self._last = TokenUsage()
        self.closed = False
        self.startup_warnings: list[str] = []
        """Warnings found while the thread was set up (a skipped AGENTS.md), for its first turn."""
        # --- MCP client (issue 7): connections to [mcp_servers], opened by the first turn ---
        self.mcp: McpConnectionManager | None = None
        self._mcp_lock = anyio.Lock()
        self._mcp_turn: str | None = None
        self._elicitations: dict[tuple[str, str], _PendingElicitation] = {}

    @property
    def rollout_path(self) -> Path:
        return self.recorder.path

    # -- model facts -------------------------------------------------------------------

    @property
    def context_window(self) -> int | None:
        if self.config.model_context_window:
            return self.config.model_context_window
        for prefix, window in _CONTEXT_WINDOWS:
            if self.config.model.startswith(prefix):
                return window
        return None

    @property
    def supports_reasoning(self) -> bool:
        if self.config.model_supports_reasoning_summaries is not None:
            return self.config.model_supports_reasoning_summaries
        return self.config.model.startswith(_REASONING_PREFIXES)

    def add_usage(self, usage: TokenUsage) -> None:
        self._last = usage
        self._total = self._total + usage

    def token_info_json(self) -> dict[str, Any]:
        return {
            "total_token_usage": self._total.to_json(),
            "last_token_usage": self._last.to_json(),
            "model_context_window": self.context_window,
        }

    def should_compact(self) -> bool:
        limit = self.config.model_auto_compact_token_limit
        if limit is None and self.context_window:
            limit = int(self.context_window * 0.9)
        return bool(limit) and self._last.total_tokens >= (limit or math.inf)

    # -- history and rollout ------------------------------------------------------------

    def append_history(self, items: list[ResponseItem]) -> None:
        if items:
            self.history.extend(items)
            self.recorder.record_items(items)

    def record_turn_context(self) -> None:
        c = self.config
        self.recorder.record(
            "turn_context",
            {
                "cwd": str(c.cwd),
                "approval_policy": c.approval_policy,
                "sandbox_policy": c.sandbox_policy.to_json(),
                "model": c.model,
                "effort": c.model_reasoning_effort,
                "summary": c.model_reasoning_summary,
            },
        )

    async def compact(self, turn_id: str) -> None:
        from codex_mcp.agent.compact import compact_history

        self.history = await compact_history(self, turn_id)
        self._last = TokenUsage()

    # -- events -------------------------------------------------------------------------

    async def emit(self, turn_id: str, msg: dict[str, Any]) -> None:
        self.recorder.record_event(msg)
        stream = self._subscribers.get(turn_id)
        if stream is None:
            return
        event = Event(turn_id, msg)
        try:
            # No yield while the subscriber's buffer has room: a burst of deltas then reaches
            # the relay (and the writer) as a batch instead of one loop iteration each.
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                await stream.send(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._subscribers.pop(turn_id, None)

    # -- submissions --------------------------------------------------------------------

    def start_turn(self, items: list[ResponseItem], turn_id: str | None = None) -> TurnHandle:
        """Queue a turn; its events arrive on the returned handle."""
        if self.closed:
            raise RuntimeError("this thread has been shut down")
        turn_id = turn_id or str(uuid.uuid4())
        send, receive = anyio.create_memory_object_stream[Event](EVENT_BUFFER)
        self._subscribers[turn_id] = send
        scope = anyio.CancelScope()
        self._turn_scopes[turn_id] = scope
        self._task_group.start_soon(self._turn_task, turn_id, items, send, scope)
        return TurnHandle(turn_id, receive)

    def send(self, text: str, turn_id: str | None = None) -> TurnHandle:
        """Start a turn with a plain text prompt (the common case of `start_turn`)."""
        return self.start_turn(user_input_items((TextInput(text),), self.config.cwd), turn_id)

    async def submit(self, op: Op) -> str | None:
        """Apply an op; returns the turn id for `UserInputOp`."""
        if isinstance(op, UserInputOp):
            return self.start_turn(user_input_items(op.items, self.config.cwd)).turn_id
        if isinstance(op, InterruptOp):
            self.interrupt()
        elif isinstance(op, ExecApprovalOp):
            self._resolve_approval("exec", op.call_id, op.decision, op.reason)
        elif isinstance(op, PatchApprovalOp):
            self._resolve_approval("patch", op.call_id, op.decision, op.reason)
        elif isinstance(op, ShutdownOp):
            self.shutdown()
        elif isinstance(op, ResolveElicitationOp):  # MCP client (issue 7)
            self._resolve_elicitation(op)
        return None

    def interrupt(self, turn_id: str | None = None) -> None:
        for tid, scope in list(self._turn_scopes.items()):
            if turn_id is None or tid == turn_id:
                scope.cancel()

    @property
    def busy(self) -> bool:
        """A turn is running or queued."""
        return bool(self._turn_scopes)

    def shutdown(self) -> None:
        self.closed = True
        self.interrupt()
        if self.mcp is not None:  # MCP client (issue 7): the holder task closes its servers
            self.mcp.request_close()

    # -- MCP client (issue 7) -----------------------------------------------------------

    async def ensure_mcp(self, turn_id: str) -> None:
        """Start the configured MCP servers (first turn), or pass them this turn's sandbox state.

        Runs inside the turn, so the startup events reach that turn's subscriber and an
        interrupt cancels a slow startup (a later turn tries again).
        """
        if not self.config.mcp_servers or self.closed:
            return
        self._mcp_turn = turn_id
        async with self._mcp_lock:
            from codex_mcp.agent.mcp_client import McpConnectionManager

            config = self.config
            if self.mcp is None:
                manager = McpConnectionManager(
                    config.mcp_servers, config.sandbox_policy, config.cwd, elicit=self._forward_elicitation
                )
                await manager.open(self._task_group)
                self.mcp = manager
            if not self.mcp.started:

                async def emit(msg: dict[str, Any]) -> None:
                    await self.emit(turn_id, msg)

                await self.mcp.start(emit)
                self.tool_specs = build_tool_specs(config) + self.mcp.tool_specs
            else:
                await self.mcp.set_sandbox_state(config.sandbox_policy, config.cwd)

    async def close_mcp(self) -> None:
        if self.mcp is not None:
            await self.mcp.aclose()

    async def _forward_elicitation(
        self, server_name: str, request_id: str | int, params: dict[str, Any]
    ) -> dict[str, Any]:
        """An MCP server's elicitation as an `elicitation_request` event; declined if unanswered."""
        turn_id = self._mcp_turn
        if turn_id is None or turn_id not in self._subscribers:
            return {"action": "decline"}
        key = (server_name, repr(request_id))
        pending = _PendingElicitation(done=anyio.Event(), turn_id=turn_id)
        self._elicitations[key] = pending
        try:
            msg = {
                "type": "elicitation_request",
                "turn_id": turn_id,
                "server_name": server_name,
                "id": request_id,
                "message": str(params.get("message") or ""),
                "requested_schema": params.get("requestedSchema"),
            }
            await self.emit(turn_id, msg)
            if turn_id not in self._subscribers:
                return {"action": "decline"}
            with anyio.move_on_after(self.config.server.elicitation_timeout_sec + ELICITATION_GRACE_SEC):
                await pending.done.wait()
            return pending.result or {"action": "decline"}
        finally:
            self._elicitations.pop(key, None)

    def _resolve_elicitation(self, op: ResolveElicitationOp) -> None:
        pending = self._elicitations.get((op.server_name, repr(op.request_id)))
        if pending is None:
            log.warning("ignoring an answer to unknown elicitation %r of %s", op.request_id, op.server_name)
            return
        pending.result = op.result
        pending.done.set()

    # -- approvals ----------------------------------------------------------------------

    async def request_approval(
        self, kind: str, turn_id: str, call_id: str, msg: dict[str, Any]
    ) -> _PendingApproval:
        """Emit an approval request and wait for the host's decision (denied if it never comes)."""
        pending = _PendingApproval(done=anyio.Event())
        self._approvals[(kind, call_id)] = pending
        try:
            await self.emit(turn_id, msg)
            if turn_id not in self._subscribers:
                pending.reason = "nobody is listening for approval requests"
                return pending
            await pending.done.wait()
            return pending
        finally:
            self._approvals.pop((kind, call_id), None)

    def _resolve_approval(
        self, kind: str, call_id: str, decision: ReviewDecision, reason: str | None
    ) -> None:
        pending = self._approvals.get((kind, call_id))
        if pending is None:
            log.warning("ignoring a %s decision for unknown call %s", kind, call_id)
            return
        pending.decision = decision
        pending.reason = reason
        pending.done.set()

    # -- the turn task ------------------------------------------------------------------

    async def _turn_task(
        self,
        turn_id: str,
        items: list[ResponseItem],
        send: MemoryObjectSendStream[Event],
        scope: anyio.CancelScope,
    ) -> None:
        started = False
        try:
            with scope:
                async with self._turn_lock:
                    started = True
                    try:
                        last_message = await run_turn(self, turn_id, items)
                        self._after_turn(turn_id, items, last_message)
                    except TurnFailed:
                        pass
                    except Exception as exc:  # a bug must end the turn, not the server
                        log.exception("turn %s of thread %s crashed", turn_id, self.thread_id)
                        await self.emit(turn_id, {"type": "error", "message": f"internal error: {exc}"})
            if scope.cancelled_caught:
                # A turn cancelled while still queued behind another never touched the
                # history: the calls without outputs there belong to the running turn.
                if started:
                    self._close_dangling_calls()
                await self.emit(
                    turn_id, {"type": "turn_aborted", "turn_id": turn_id, "reason": "interrupted"}
                )
        finally:
            self._turn_scopes.pop(turn_id, None)
            self._subscribers.pop(turn_id, None)
            for pending in self._elicitations.values():  # MCP client (issue 7): nobody will answer
                if pending.turn_id == turn_id:
                    pending.done.set()
            send.close()
            if not self._turn_scopes:
                self.recorder.close()  # reopened by the next write
                if self._on_idle is not None:
                    self._on_idle(self)

    def _after_turn(self, turn_id: str, items: list[ResponseItem], last_message: str | None) -> None:
        notify = self.config.notify
        if not notify:
            return
        from codex_mcp.agent.notify import run_notify, turn_complete_payload
        from codex_mcp.agent.turn import message_text_input

        inputs = [
            message_text_input(i) for i in items if i.get("type") == "message" and i.get("role") == "user"
        ]
        payload = turn_complete_payload(self.thread_id, turn_id, str(self.config.cwd), inputs, last_message)
        self._task_group.start_soon(run_notify, notify, payload)

    def _close_dangling_calls(self, output: str = "aborted: the user interrupted the turn") -> None:
        """Give every tool call of an aborted round an output, so the history stays valid."""
        answered = {i.get("call_id") for i in self.history if str(i.get("type", "")).endswith("_output")}
        outputs: list[ResponseItem] = []
        for item in self.history:
            kind = item.get("type")
            call_id = item.get("call_id")
            if call_id in answered or kind not in ("function_call", "custom_tool_call", "local_shell_call"):
                continue
            out_type = "custom_tool_call_output" if kind == "custom_tool_call" else "function_call_output"
            outputs.append({"type": out_type, "call_id": call_id, "output": output})
        self.append_history(outputs)
