"""The MCP face of the agent: `codex` and `codex-reply` calls, from arguments to result.

A call validates its arguments, builds the thread's config, starts (or resumes) a thread
and relays the events of exactly its own turn as `codex/event` notifications (plus standard
progress when asked), turning approval requests into elicitations on the way.  When the
client cancels the call, the turn is interrupted; the thread stays usable.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from codex_mcp.agent import events as ev
from codex_mcp.agent.events import ApprovalRequest, ElicitationRequest, Event
from codex_mcp.sandbox.state import (
    META_KEY,
    SandboxStateError,
    parse_sandbox_state_meta,
)
from codex_mcp.tools import approvals
from codex_mcp.tools.args import CODEX_TOOL_NAME, REPLY_TOOL_NAME
from codex_mcp.tools.relay import EventRelay

if TYPE_CHECKING:
    from codex_mcp.agent.config.call import PushedSandbox
    from codex_mcp.agent.thread import Thread
    from codex_mcp.server import McpServer

log = logging.getLogger(__name__)


def _result(text: str, thread_id: str | None, is_error: bool) -> dict[str, Any]:
    from codex_mcp.mcp_types import CallToolResult, TextContent

    texts = [text]
    if is_error and thread_id is not None:
        # Some clients give their model only the text of an error result (never its
        # `structuredContent`); without the id there, the conversation could not go on.  A
        # block of its own keeps the first block the bare message.
        texts.append(f"threadId: {thread_id}")
    return CallToolResult(
        content=[TextContent(text=t) for t in texts],
        is_error=True if is_error else None,
        structured_content=None if thread_id is None else {"threadId": thread_id, "content": text},
    ).to_wire()


def error_result(text: str, thread_id: str | None = None) -> dict[str, Any]:
    """An `isError` CallToolResult; once a thread exists, its id is in `structuredContent` and
    in a last text block `threadId: <id>`."""
    return _result(text, thread_id, is_error=True)


def success_result(thread_id: str, text: str) -> dict[str, Any]:
    return _result(text, thread_id, is_error=False)


class ToolRunner:
    def __init__(self, server: McpServer) -> None:
        self.server = server
        self.outgoing = server.outgoing

    async def call(
        self, request_id: Any, name: str, arguments: dict[str, Any] | None, meta: dict[str, Any]
    ) -> dict[str, Any]:
        if name == CODEX_TOOL_NAME:
            return await self._codex(request_id, arguments, meta)
        if name == REPLY_TOOL_NAME:
            return await self._reply(request_id, arguments, meta)
        return error_result(
            f"Unknown tool '{name}': this server offers `{CODEX_TOOL_NAME}` and `{REPLY_TOOL_NAME}`."
        )

    # -- codex -------------------------------------------------------------------------

    async def _codex(
        self, request_id: Any, arguments: dict[str, Any] | None, meta: dict[str, Any]
    ) -> dict[str, Any]:
        from pydantic import ValidationError

        from codex_mcp.agent.config import CallOverrides, CallRefused, ConfigError
        from codex_mcp.agent.model.types import ModelError
        from codex_mcp.tools.args import CodexToolArgs, describe_validation_error

        if arguments is None:
            return error_result("Missing arguments for the codex tool: `prompt` is required.")
        try:
            args = CodexToolArgs.model_validate(arguments)
        except ValidationError as exc:
            return error_result(describe_validation_error(CODEX_TOOL_NAME, exc))

        try:
            pushed = self._pushed_sandbox(meta)
        except SandboxStateError as exc:
            return error_result(f"Invalid sandbox state in `_meta.{META_KEY}`: {exc}")
        try:
            config = self.server.codex.config_source.for_call(
                call_config=args.config,
                typed=CallOverrides(
                    model=args.model,
                    cwd=args.cwd,
                    approval_policy=args.approval_policy,
                    sandbox_mode=args.sandbox,
                    base_instructions=args.base_instructions,
                    developer_instructions=args.developer_instructions,
                    compact_prompt=args.compact_prompt,
                    profile=args.profile,
                ),
                pushed=pushed,
            )
        except CallRefused as exc:
            return error_result(str(exc))
        except ConfigError as exc:
            return error_result(f"Invalid configuration for this session: {exc}")
        if not config.cwd.is_dir():
            return error_result(f"The working directory `{config.cwd}` does not exist or is not a directory.")
        try:
            thread = await self.server.codex.start_thread(config)
        except ModelError as exc:
            return error_result(f"Failed to start the Codex session: {exc.message}")
        except OSError as exc:
            return error_result(f"Failed to start the Codex session: {exc}")
        relay = EventRelay(self.outgoing, request_id, thread.thread_id, meta.get("progressToken"), config)
        await relay.send(thread.session_configured)
        return await self._run_turn(request_id, thread, args.prompt, str(request_id), relay)

    def _pushed_sandbox(self, meta: dict[str, Any]) -> PushedSandbox | None:
        """The client's pushed sandbox state for this call: the call's own `_meta` form, else
        the last `codex/sandbox-state/update`.  Raises `SandboxStateError` for a bad `_meta`."""
        from codex_mcp.agent.config.call import PushedSandbox

        if META_KEY in meta:
            state = parse_sandbox_state_meta(meta[META_KEY])
            source = f'The client\'s sandbox state in `_meta["{META_KEY}"]`'
        else:
            pushed = self.server.state.sandbox_state
            if pushed is None:
                return None
            state = pushed
            source = "The client's sandbox state from `codex/sandbox-state/update`"
        return PushedSandbox(state.policy, state.cwd, source)

    # -- codex-reply ---------------------------------------------------------------------

    async def _reply(
        self, request_id: Any, arguments: dict[str, Any] | None, meta: dict[str, Any]
    ) -> dict[str, Any]:
        from pydantic import ValidationError

        from codex_mcp.agent.codex import ThreadNotFound
        from codex_mcp.agent.config import ConfigError
        from codex_mcp.agent.model.types import ModelError
        from codex_mcp.agent.rollout import RolloutError
        from codex_mcp.tools.args import CodexReplyArgs, describe_validation_error

        if arguments is None:
            return error_result(
                "Missing arguments for the codex-reply tool: `threadId` and `prompt` are required."
            )
        try:
            args = CodexReplyArgs.model_validate(arguments)
        except ValidationError as exc:
            return error_result(describe_validation_error(REPLY_TOOL_NAME, exc))
        raw_id = args.thread_id or args.conversation_id
        if not raw_id:
            return error_result("Missing `threadId`: pass the threadId returned by the codex tool.")
        try:
            thread_id = str(uuid.UUID(raw_id))
        except ValueError:
            return error_result(
                f"Invalid `threadId` {raw_id!r}: expected a UUID such as the codex tool returns."
            )
        try:
            thread = await self.server.codex.resume_thread(thread_id)
        except ThreadNotFound:
            return error_result(f"Session not found for thread_id: {thread_id}", thread_id)
        except RolloutError as exc:
            return error_result(f"Failed to resume the Codex session {thread_id}: {exc}", thread_id)
        except (ConfigError, ModelError) as exc:
            return error_result(f"Failed to resume the Codex session {thread_id}: {exc}", thread_id)
        relay = EventRelay(
            self.outgoing, request_id, thread.thread_id, meta.get("progressToken"), thread.config
        )
        return await self._run_turn(request_id, thread, args.prompt, str(uuid.uuid4()), relay)

    # -- the turn ------------------------------------------------------------------------

    async def _run_turn(
        self, request_id: Any, thread: Thread, prompt: str, turn_id: str, relay: EventRelay
    ) -> dict[str, Any]:
        last: Event | None = None
        # Leaving the block (done, failed or cancelled by the client) interrupts the turn if
        # it still runs and waits for it: the call's turn never outlives the call.
        async with thread.turn(prompt, turn_id=turn_id) as events:
            async for event in events:
                last = event
                await relay.send(event)
                if isinstance(event, ApprovalRequest):
                    await self._approve(request_id, thread, event, relay)
                elif isinstance(event, ElicitationRequest):
                    await self._forward_server_elicitation(request_id, thread, event)
        if last is None:
            return error_result("The turn ended without any event.", thread.thread_id)
        if last.type == "task_complete":
            return success_result(thread.thread_id, last.msg.get("last_agent_message") or "")
        if last.type == "turn_aborted":
            return error_result("Turn aborted.", thread.thread_id)
        if last.type == "error":
            return error_result(str(last.msg.get("message") or "the model request failed"), thread.thread_id)
        return error_result(f"The turn ended unexpectedly after `{last.type}`.", thread.thread_id)

    async def _approve(
        self, request_id: Any, thread: Thread, event: ApprovalRequest, relay: EventRelay
    ) -> None:
        msg = event.msg
        kind = event.kind
        config = thread.config
        if not self.server.state.supports_elicitation:
            verdict = approvals.Verdict("denied", approvals.NO_ELICITATION_REASON)
        else:
            build = (
                approvals.exec_elicitation_params if kind == "exec" else approvals.patch_elicitation_params
            )
            params = build(msg, thread.thread_id, request_id, event.id, self.server.state.protocol_version)
            outcome = await self.outgoing.request(
                "elicitation/create", params, wait_seconds=config.server.elicitation_timeout_sec
            )
            verdict = approvals.verdict_for(outcome)
        if verdict.reason:
            await relay.send(Event(event.id, dict(ev.warning(verdict.reason))))
        event.decide(verdict.decision, verdict.reason)

    # -- MCP client (issue 7): an elicitation from one of the agent's own MCP servers ------

    async def _forward_server_elicitation(
        self, request_id: Any, thread: Thread, event: ElicitationRequest
    ) -> None:
        """Ask our client (same timeout as approvals); no capability, error or timeout declines."""
        msg = event.msg
        answer: dict[str, Any] = {"action": "decline"}
        if self.server.state.supports_elicitation:
            params = {
                "message": str(msg.get("message") or ""),
                "requestedSchema": msg.get("requested_schema") or {"type": "object", "properties": {}},
                "threadId": thread.thread_id,
                "codex_elicitation": "mcp-server",
                "codex_mcp_tool_call_id": str(request_id),
                "codex_event_id": event.id,
                "codex_server_name": msg.get("server_name"),
                "codex_request_id": msg.get("id"),
            }
            outcome = await self.outgoing.request(
                "elicitation/create", params, wait_seconds=thread.config.server.elicitation_timeout_sec
            )
            answer = server_elicitation_answer(outcome)
        event.resolve(answer)


# --- MCP client (issue 7) ---


def server_elicitation_answer(outcome: Any) -> dict[str, Any]:
    """Our client's answer as the ElicitResult we give the server; anything but an answer declines."""
    from codex_mcp.outgoing import Answered

    if isinstance(outcome, Answered) and isinstance(outcome.result, dict):
        action = outcome.result.get("action")
        if action in ("accept", "decline", "cancel"):
            answer: dict[str, Any] = {"action": action}
            content = outcome.result.get("content")
            if action == "accept" and isinstance(content, dict):
                answer["content"] = content
            return answer
    return {"action": "decline"}
