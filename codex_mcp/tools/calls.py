"""The MCP face of the agent: `codex` and `codex-reply` calls, from arguments to result.

`CodexTools` is built from what a call needs and nothing more: the agent (`Codex`, whose
`config_source` is the person's configuration), the outgoing queue, and what the client told
us about itself (`ConnectionState`).  A call validates its arguments (`args`), builds its
thread's config within the person's ceiling (`agent.config.call`), starts or resumes the
thread, and drives its turn (`drive`), asking the person through elicitation (`elicitation`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from codex_mcp.tools.names import CODEX_TOOL_NAME, REPLY_TOOL_NAME
from codex_mcp.tools.results import error_result
from codex_mcp.uuids import uuid4

if TYPE_CHECKING:
    from codex_mcp.agent.codex import Codex
    from codex_mcp.agent.config.call import PushedSandbox
    from codex_mcp.agent.thread import Thread
    from codex_mcp.connection import ConnectionState
    from codex_mcp.jsonrpc import RequestId
    from codex_mcp.outgoing import Outgoing
    from codex_mcp.tools.route import CallRoute

log = logging.getLogger(__name__)


class CodexTools:
    def __init__(self, codex: Codex, outgoing: Outgoing, connection: ConnectionState) -> None:
        self._codex = codex
        self._outgoing = outgoing
        self._connection = connection

    async def call(
        self,
        request_id: RequestId,
        name: str,
        arguments: dict[str, Any] | None,
        meta: dict[str, Any],
        route: CallRoute | None = None,
    ) -> dict[str, Any]:
        """Run one call to its `CallToolResult`; its messages are the request's, or `route`'s."""
        if name == CODEX_TOOL_NAME:
            return await self._start(request_id, arguments, meta, route)
        if name == REPLY_TOOL_NAME:
            return await self._reply(request_id, arguments, meta, route)
        return error_result(
            f"Unknown tool '{name}': this server offers `{CODEX_TOOL_NAME}` and `{REPLY_TOOL_NAME}`."
        )

    # -- codex -------------------------------------------------------------------------

    async def _start(
        self,
        request_id: RequestId,
        arguments: dict[str, Any] | None,
        meta: dict[str, Any],
        route: CallRoute | None,
    ) -> dict[str, Any]:
        from codex_mcp.agent.config import CallOverrides
        from codex_mcp.errors import CallRefused, ConfigError, ModelError
        from codex_mcp.sandbox.state import META_KEY, SandboxStateError
        from codex_mcp.tools.call_args import parse_codex_args

        args = parse_codex_args(arguments)
        if isinstance(args, str):
            return error_result(args)
        try:
            pushed = self._pushed_sandbox(meta)
        except SandboxStateError as exc:
            return error_result(f"Invalid sandbox state in `_meta.{META_KEY}`: {exc}")
        try:
            config = self._codex.config_source.for_call(
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
        from codex_mcp.errors import RolloutError

        try:
            if config.experimental_resume is not None:
                thread = await self._codex.resume_rollout(
                    config.experimental_resume, config=config, client=self._client()
                )
            else:
                thread = await self._codex.start_thread(config, client=self._client())
        except ModelError as exc:
            return error_result(f"Failed to start the Codex session: {exc.message}")
        except RolloutError as exc:
            return error_result(f"Failed to resume the Codex session: {exc}")
        except OSError as exc:
            return error_result(f"Failed to start the Codex session: {exc}")
        return await self._drive(
            request_id, thread, args.prompt, str(request_id), meta, route, configured=True
        )

    def _client(self) -> tuple[str, str | None] | None:
        """The calling client's `clientInfo` (name, version), named to the model provider."""
        info = self._connection.client_info
        name = info.get("name")
        if not isinstance(name, str) or not name:
            return None
        version = info.get("version")
        return name, version if isinstance(version, str) else None

    def _pushed_sandbox(self, meta: dict[str, Any]) -> PushedSandbox | None:
        """The client's pushed sandbox state for this call: the call's own `_meta` form, else
        the last `codex/sandbox-state/update`.  Raises `SandboxStateError` for a bad `_meta`."""
        from codex_mcp.agent.config.call import PushedSandbox
        from codex_mcp.sandbox.state import META_KEY, parse_sandbox_state_meta

        if META_KEY in meta:
            state = parse_sandbox_state_meta(meta[META_KEY])
            source = f'The client\'s sandbox state in `_meta["{META_KEY}"]`'
        else:
            pushed = self._connection.sandbox_state
            if pushed is None:
                return None
            state = pushed
            source = "The client's sandbox state from `codex/sandbox-state/update`"
        return PushedSandbox(state.policy, state.cwd, source)

    # -- codex-reply -------------------------------------------------------------------

    async def _reply(
        self,
        request_id: RequestId,
        arguments: dict[str, Any] | None,
        meta: dict[str, Any],
        route: CallRoute | None,
    ) -> dict[str, Any]:
        from codex_mcp.errors import ConfigError, ModelError, RolloutError, ThreadBusy, ThreadNotFound
        from codex_mcp.tools.call_args import parse_reply_args

        parsed = parse_reply_args(arguments)
        if isinstance(parsed, str):
            return error_result(parsed)
        args, thread_id = parsed
        try:
            thread = await self._codex.resume_thread(thread_id, client=self._client())
        except ThreadNotFound:
            return error_result(f"Session not found for thread_id: {thread_id}", thread_id)
        except ThreadBusy as exc:
            return error_result(str(exc), thread_id)
        except RolloutError as exc:
            return error_result(f"Failed to resume the Codex session {thread_id}: {exc}", thread_id)
        except (ConfigError, ModelError) as exc:
            return error_result(f"Failed to resume the Codex session {thread_id}: {exc}", thread_id)
        return await self._drive(request_id, thread, args.prompt, uuid4(), meta, route, configured=False)

    # -- the turn ----------------------------------------------------------------------

    async def _drive(
        self,
        request_id: RequestId,
        thread: Thread,
        prompt: str,
        turn_id: str,
        meta: dict[str, Any],
        route: CallRoute | None,
        *,
        configured: bool,
    ) -> dict[str, Any]:
        from codex_mcp.agent import events as ev
        from codex_mcp.agent.events import Event
        from codex_mcp.tools.drive import drive_turn
        from codex_mcp.tools.elicitation import Elicitor
        from codex_mcp.tools.relay import EventRelay

        server = thread.config.server
        relay = EventRelay(
            self._outgoing,
            request_id,
            thread.thread_id,
            meta.get("progressToken"),
            server.event_stream,
            key=None if route is None else route.key,
            extra_meta=None if route is None else route.meta,
            on_step=None if route is None else route.step,
        )
        elicitor = Elicitor(
            self._outgoing,
            self._connection,
            request_id,
            thread.thread_id,
            server.elicitation_timeout_sec,
            route=route,
        )
        async with relay:
            if configured:
                await relay.send(thread.session_configured)
                if not thread.config.mcp_servers:
                    # Codex reports its MCP servers' startup right away; with none to start,
                    # that is at once.  (With servers, they start in the first turn and report
                    # there.)
                    await relay.send(Event("", dict(ev.mcp_startup_complete([], []))))
            return await drive_turn(thread, prompt, turn_id, relay, elicitor)
