"""`Thread`: the handle of one conversation.  Start turns, answer them, interrupt, close.

    async with thread.turn("fix the failing test") as events:
        async for event in events:
            if isinstance(event, ApprovalRequest):
                event.approve()
    result = await thread.run("now add a changelog entry")

Each turn runs as a task of the owner (`Codex`), inside its own cancel scope, and publishes
its events on a stream only the starter of that turn reads.  Turns of one thread run one
after another.  Leaving a `turn()` block interrupts the turn if it is still running and waits
until it has finished: no turn outlives the code that started it, and no approval keeps
waiting for an answer that nobody will give.

The thread itself only wires its parts together: the history and its rollout (`history`),
the event streams (`turn_stream`), the approval broker (`approvals`), the token account
(`tokens`), its MCP servers (`mcp_client.lifecycle`), its network proxy (`network`) and the
turn loop (`turn`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from codex_mcp.agent import events as ev
from codex_mcp.agent.approvals import ApprovalBroker, Decision, QuestionBroker, SessionGrants
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.context_items import permission_profile_json
from codex_mcp.agent.events import (
    ApprovalRequest,
    ElicitationRequest,
    Event,
    ReviewDecision,
    UserInputRequest,
)
from codex_mcp.agent.exec.sessions_host import ThreadSessions
from codex_mcp.agent.history import History
from codex_mcp.agent.ids import uuid7
from codex_mcp.agent.items import INPUT_TEXT_KINDS, is_message, message_text
from codex_mcp.agent.model.types import ResponseItem, TokenUsage
from codex_mcp.agent.network import ThreadNetwork, proxy_wanted
from codex_mcp.agent.request import Contract
from codex_mcp.agent.rollout_lock import RolloutLock
from codex_mcp.agent.sampling import ModelStream
from codex_mcp.agent.tokens import TokenAccount
from codex_mcp.agent.turn import TurnDeps, TurnFailed, run_turn
from codex_mcp.agent.turn_stream import EventBus, TurnEvents
from codex_mcp.errors import RolloutError, ThreadBusy, ThreadClosed

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import (
        EventMsg,
        ExecApprovalRequestMsg,
        PatchApprovalRequestMsg,
        UserInputRequestMsg,
    )
    from codex_mcp.agent.exec.budget import ProcessBudget
    from codex_mcp.agent.mcp_client.lifecycle import ThreadMcp
    from codex_mcp.agent.protocol import Op, UserInput

log = logging.getLogger(__name__)

TurnInput = str | Sequence["UserInput"]
"""A prompt, or the parts of a user message (text and images)."""
OnApproval = Callable[[ApprovalRequest], Awaitable[ReviewDecision]]
NO_APPROVAL_HANDLER = "run() was called without an approval handler, so nothing needing approval runs"


@dataclass(frozen=True)
class TurnResult:
    """What one `Thread.run()` produced."""

    turn_id: str
    status: Literal["completed", "aborted", "failed"]
    final_message: str | None
    """The agent's last message (`task_complete.last_agent_message`)."""
    diff: str
    """The unified diff of every file the turn changed ("" when none)."""
    usage: TokenUsage
    """Tokens of this turn's model requests, summed."""
    error: str | None = None
    """Why the turn failed (`status == "failed"`)."""
    events: list[Event] = field(default_factory=list, repr=False)
    network: list[dict[str, Any]] = field(default_factory=list)
    """Traffic through the network proxy in this turn, per destination (`network_usage`)."""


class Thread:
    def __init__(
        self,
        *,
        thread_id: str,
        config: Config,
        model_client: ModelStream,
        history: History,
        task_group: TaskGroup,
        contract: Contract,
        on_idle: Callable[[Thread], None] | None = None,
        exec_budget: Callable[[], ProcessBudget] | None = None,
    ) -> None:
        """`exec_budget` gives the owner's count of live command processes, shared by all
        its threads (None: this thread's own limits only)."""
        self.thread_id = thread_id
        self.config = config
        self.session_configured = Event(
            "",
            dict(
                ev.session_configured(
                    thread_id,
                    model=config.model,
                    model_provider_id=config.model_provider_id,
                    approval_policy=config.approval_policy,
                    permission_profile=permission_profile_json(config.sandbox_policy, config.cwd),
                    sandbox_policy=config.sandbox_policy.to_json(),
                    cwd=str(config.cwd),
                    rollout_path=str(history.rollout_path),
                    reasoning_effort=config.model_reasoning_effort,
                )
            ),
        )
        """The `session_configured` event: the thread's settings as it runs them."""
        self.contract = contract
        """The model contract every request of this thread follows (family, tools, ids)."""
        self._model = model_client
        self._history = history
        self._task_group = task_group
        self._on_idle = on_idle
        self._bus = EventBus(self._record_event)
        self._writing = False
        """Whether a turn of ours holds the rollout's lock: only then do events reach the file
        (a turn refused because another process holds it must not write there)."""
        self._approvals = ApprovalBroker()
        self._questions = QuestionBroker()
        self._grants = SessionGrants.empty()
        family = contract.family
        self._tokens = TokenAccount(family.effective_context_window, family.compact_token_limit)
        self._turn_lock = anyio.Lock()
        self._scopes: dict[str, anyio.CancelScope] = {}
        self._done: dict[str, anyio.Event] = {}
        self._mcp: ThreadMcp | None = None
        # Process sessions belong to the thread, not to a turn: they outlive interrupts.
        self._sessions = ThreadSessions(
            task_group, max_lifetime_s=config.server.exec_session_max_lifetime_sec, budget=exec_budget
        )
        self._running: str | None = None
        self._network: ThreadNetwork | None = None
        if proxy_wanted(config):
            self._network = ThreadNetwork(
                config, task_group, current_turn=lambda: self._running, ask=self._ask_network,
                emit=self._emit_network,
            )  # fmt: skip
        self.closed = False
        self.startup_warnings: list[str] = []
        """Warnings found while the thread was set up (a skipped AGENTS.md), for its next turn."""

    @property
    def rollout_path(self) -> Path:
        return self._history.rollout_path

    @property
    def history(self) -> list[ResponseItem]:
        """The conversation so far (read-only: it changes only through turns)."""
        return list(self._history.items)

    def set_client(self, name: str | None, version: str | None) -> None:
        """The program this thread now works for (an MCP client's `clientInfo`), named in the
        User-Agent of its next requests."""
        self.contract = self.contract.with_client(name, version)

    @property
    def busy(self) -> bool:
        """A turn is running or queued."""
        return bool(self._scopes)

    # -- turns -------------------------------------------------------------------------

    @asynccontextmanager
    async def turn(self, prompt: TurnInput, *, turn_id: str | None = None) -> AsyncIterator[TurnEvents]:
        """Start a turn; the block reads its events.  Leaving the block early interrupts the
        turn; in every case the block ends only once the turn has finished."""
        turn_id = turn_id or uuid7()
        items = self._user_items(prompt)
        events = self._bus.open(turn_id)
        done = self._start(items, turn_id)
        try:
            yield events
        finally:
            with anyio.CancelScope(shield=True):
                self.interrupt(turn_id)  # a no-op for a finished turn
                await events.aclose()
                await done.wait()

    async def run(self, prompt: TurnInput, *, on_approval: OnApproval | None = None) -> TurnResult:
        """Run one turn to its end and return what it produced.

        Approval requests go to `on_approval` (which returns the decision); without one they
        are denied, so nothing that needs approval runs.  Questions from MCP servers are
        declined.
        """
        seen: list[Event] = []
        async with self.turn(prompt) as events:
            async for event in events:
                seen.append(event)
                if isinstance(event, ApprovalRequest):
                    if on_approval is None:
                        event.deny(NO_APPROVAL_HANDLER)
                    else:
                        event.decide(await on_approval(event))
                elif isinstance(event, ElicitationRequest):
                    event.decline()
                elif isinstance(event, UserInputRequest):
                    event.cannot_ask()
            turn_id = events.turn_id
        return turn_result(turn_id, seen)

    async def submit(self, op: Op) -> str | None:
        """Apply an op; for `UserInputOp`, start a turn nobody reads (its events go only to the
        rollout, its approvals are denied) and return its id."""
        from codex_mcp.agent.protocol import (  # the ops are the embedding API's; a call needs none
            ExecApprovalOp,
            InterruptOp,
            PatchApprovalOp,
            ResolveElicitationOp,
            ShutdownOp,
            UserInputOp,
        )

        if isinstance(op, UserInputOp):
            turn_id = uuid7()
            self._start(self._user_items(op.items), turn_id)
            return turn_id
        if isinstance(op, InterruptOp):
            self.interrupt()
        elif isinstance(op, ExecApprovalOp):
            self._approvals.resolve("exec", op.call_id, op.decision, op.reason)
        elif isinstance(op, PatchApprovalOp):
            self._approvals.resolve("patch", op.call_id, op.decision, op.reason)
        elif isinstance(op, ShutdownOp):
            self.shutdown()
        elif isinstance(op, ResolveElicitationOp) and self._mcp is not None:
            self._mcp.resolve_elicitation(op.server_name, op.request_id, op.result)
        return None

    def interrupt(self, turn_id: str | None = None) -> None:
        """Stop the running turn (or `turn_id`); its processes are killed, the thread goes on."""
        for tid, scope in list(self._scopes.items()):
            if turn_id is None or tid == turn_id:
                scope.cancel()

    def shutdown(self) -> None:
        """No more turns; the running one is interrupted, the MCP servers are closed soon,
        the network proxy at once (no byte passes any more)."""
        self.closed = True
        self.interrupt()
        self.close_network()
        self._sessions.request_close()
        if self._mcp is not None:
            self._mcp.request_close()

    async def close(self) -> None:
        """`shutdown`, then wait until the running turn and the MCP servers are gone."""
        self.shutdown()
        with anyio.CancelScope(shield=True):
            for done in list(self._done.values()):
                await done.wait()
            await self.close_sessions()
            await self.close_mcp()
            self._history.release()

    def close_network(self) -> None:
        """End the network proxy now: no more traffic, its open questions denied."""
        if self._network is not None:
            self._network.close()

    async def close_mcp(self) -> None:
        if self._mcp is not None:
            await self._mcp.aclose()

    async def close_sessions(self) -> None:
        """End the thread's process sessions, every process tree killed and reaped."""
        await self._sessions.aclose()

    def release(self) -> None:
        """Close the rollout file until the next write (the owner calls this for idle threads)."""
        self._history.release()

    # -- internals ---------------------------------------------------------------------

    def _user_items(self, prompt: TurnInput) -> list[ResponseItem]:
        if isinstance(prompt, str):
            return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": prompt}]}]
        return user_input_items(prompt, self.config.cwd)

    def _start(self, items: list[ResponseItem], turn_id: str) -> anyio.Event:
        """Queue the turn; the returned event is set once it has finished."""
        if self.closed:
            self._bus.close(turn_id)
            raise ThreadClosed("this thread has been shut down")
        scope = anyio.CancelScope()
        done = anyio.Event()
        self._scopes[turn_id] = scope
        self._done[turn_id] = done
        self._task_group.start_soon(self._turn_task, turn_id, items, scope)
        return done

    def _deps(self, turn_id: str) -> TurnDeps:
        bus = self._bus

        async def emit(msg: EventMsg) -> None:
            await bus.emit(turn_id, msg)  # type: ignore[arg-type]

        async def ask_user(msg: UserInputRequestMsg) -> dict[str, str] | None:
            return await self._questions.ask(turn_id, msg, bus.publish)

        async def ask(msg: ExecApprovalRequestMsg | PatchApprovalRequestMsg) -> Decision:
            decision = await self._approvals.ask(turn_id, msg, bus.publish)
            if decision.decision == "abort":
                self.interrupt(turn_id)
                await anyio.lowlevel.checkpoint()  # the cancellation lands here
            return decision

        if self._mcp is None and self.config.mcp_servers and not self.closed:
            from codex_mcp.agent.mcp_client.lifecycle import ThreadMcp

            self._mcp = ThreadMcp(self.config.mcp_servers, self._task_group, bus.publish)
        return TurnDeps(
            thread_id=self.thread_id,
            config=self.config,
            history=self._history,
            model=self._model,
            contract=self.contract,
            tokens=self._tokens,
            emit=emit,
            ask_approval=ask,
            ask_user=ask_user,
            grants=self._grants,
            mcp=self._mcp,
            warnings=self.startup_warnings,
            sessions=self._sessions,
            network=self._network,
        )

    async def _ask_network(self, turn_id: str, msg: ExecApprovalRequestMsg) -> Decision:
        """A command's connection asks, on the turn running now (never interrupts it)."""
        return await self._approvals.ask(turn_id, msg, self._bus.publish)

    async def _emit_network(self, turn_id: str, msg: EventMsg) -> None:
        if self._bus.is_open(turn_id):
            await self._bus.emit(turn_id, msg)  # type: ignore[arg-type]

    async def _turn_task(self, turn_id: str, items: list[ResponseItem], scope: anyio.CancelScope) -> None:
        started = False
        deps = self._deps(turn_id)
        rollout = self._history.lock()
        try:
            with scope:
                async with self._turn_lock:
                    started = await self._claim_rollout(rollout, deps)
                    if started:
                        self._running = turn_id
                        try:
                            last_message = await run_turn(deps, turn_id, items)
                            self._after_turn(turn_id, items, last_message)
                        except TurnFailed:
                            pass
                        except Exception as exc:  # a bug must end the turn, not the server
                            log.exception("turn %s of thread %s crashed", turn_id, self.thread_id)
                            await deps.emit(ev.error(f"internal error: {exc}", with_info=False))
            if scope.cancelled_caught:
                # A turn cancelled while still queued behind another never touched the
                # history: the calls without outputs there belong to the running turn.
                if started:
                    self._history.close_dangling_calls("aborted: the user interrupted the turn")
                ended = int(time.time())
                begun = deps.turn_started_ms // 1000 if deps.turn_started_ms else None
                await deps.emit(ev.turn_aborted(turn_id, started_at=begun, completed_at=ended))
        finally:
            if self._running == turn_id:
                self._running = None
            self._approvals.deny_turn(turn_id, "the turn ended before an answer came")
            self._writing = False
            rollout.release()  # after the turn's last line
            self._scopes.pop(turn_id, None)
            self._bus.close(turn_id)
            if self._mcp is not None:
                self._mcp.turn_ended(turn_id)
            self._done.pop(turn_id).set()
            if not self._scopes:
                self._history.release()  # reopened by the next write
                if self._on_idle is not None:
                    self._on_idle(self)

    async def _claim_rollout(self, rollout: RolloutLock, deps: TurnDeps) -> bool:
        """Lock the rollout for this turn (another process may hold it: the turn then ends
        with that error) and take up whatever another process appended since our last line."""
        try:
            if not rollout.try_acquire():
                await deps.emit(ev.error(str(ThreadBusy(self.thread_id)), with_info=False))
                return False
            if self._history.changed_elsewhere():
                log.info("thread %s was continued elsewhere; reloading its history", self.thread_id)
                await self._history.reload(self.thread_id)
            self._writing = True
        except RolloutError as exc:
            rollout.release()
            await deps.emit(ev.error(f"cannot continue this thread: {exc}", with_info=False))
            return False
        return True

    def _record_event(self, msg: dict[str, Any]) -> None:
        if self._writing:
            self._history.record_event(msg)

    def _after_turn(self, turn_id: str, items: list[ResponseItem], last_message: str | None) -> None:
        notify = self.config.notify
        if not notify:
            return
        from codex_mcp.agent.notify import run_notify, turn_complete_payload

        inputs = [message_text(i, INPUT_TEXT_KINDS) for i in items if is_message(i, "user")]
        payload = turn_complete_payload(self.thread_id, turn_id, str(self.config.cwd), inputs, last_message)
        self._task_group.start_soon(run_notify, notify, payload)


def user_input_items(parts: Sequence[UserInput], cwd: Path) -> list[ResponseItem]:
    """One user message with the text and image parts of a submission (a plain text prompt
    is `[TextInput(text)]`, built by `Thread._user_items` without the input classes)."""
    from codex_mcp.agent.handlers.images import image_data_url
    from codex_mcp.agent.protocol import ImageInput, LocalImageInput, TextInput

    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextInput):
            content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, ImageInput):
            content.append({"type": "input_image", "image_url": part.image_url})
        elif isinstance(part, LocalImageInput):
            try:
                content.append({"type": "input_image", "image_url": image_data_url(cwd / part.path)})
            except OSError as exc:
                note = f"[image {part.path} could not be read: {exc}]"
                content.append({"type": "input_text", "text": note})
    return [{"type": "message", "role": "user", "content": content}]


def turn_result(turn_id: str, events: list[Event]) -> TurnResult:
    """Summarise a finished turn from its events."""
    usage = TokenUsage()
    diff = ""
    final: str | None = None
    status: Literal["completed", "aborted", "failed"] = "failed"
    error: str | None = "the turn ended without a final event"
    network: list[dict[str, Any]] = []
    for event in events:
        msg = event.msg
        kind = msg["type"]
        if kind == ev.TOKEN_COUNT:
            last = (msg.get("info") or {}).get("last_token_usage") or {}
            usage = usage + TokenUsage(**{k: int(v) for k, v in last.items() if k in _USAGE_FIELDS})
        elif kind == ev.TURN_DIFF:
            diff = str(msg.get("unified_diff") or "")
        elif kind == ev.NETWORK_USAGE:
            network = list(msg.get("hosts") or [])
        elif kind == ev.TASK_COMPLETE:
            status, final, error = "completed", msg.get("last_agent_message"), None
        elif kind == ev.TURN_ABORTED:
            status, error = "aborted", None
        elif kind == ev.ERROR:
            status, error = "failed", str(msg.get("message") or "the turn failed")
    return TurnResult(turn_id, status, final, diff, usage, error, events, network)


_USAGE_FIELDS = frozenset(TokenUsage.__dataclass_fields__)
