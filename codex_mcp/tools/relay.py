"""Relaying a turn's events to the client: `codex/event`, and standard progress.

`codex/event` carries every event as the original server sent it (`params._meta` with the
request id in its original JSON type and the thread id).  Clients that cannot use that
stream can turn it down per server with `[codex_mcp] event_stream = "minimal" | "off"`;
`notifications/progress` (when the call carried a progress token) stays on regardless,
because it is what keeps a client's request timer alive.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from codex_mcp.agent.protocol import Event

if TYPE_CHECKING:
    from codex_mcp.agent.config.model import Config
    from codex_mcp.outgoing import Outgoing

STREAMING_EVENTS = frozenset(
    {
        "agent_message_delta",
        "agent_reasoning_delta",
        "agent_reasoning_raw_content_delta",
        "exec_command_output_delta",
    }
)
PROGRESS_MESSAGE_MAX = 200


def progress_message(msg: dict[str, Any]) -> str | None:
    """A short human line for the events worth a progress tick; None for the rest."""
    kind = msg.get("type")
    if kind == "task_started":
        return "Codex is working"
    if kind == "exec_command_begin":
        command = msg.get("command") or []
        try:
            text = shlex.join(str(c) for c in command)
        except TypeError:
            text = str(command)
        return f"Running: {text}"
    if kind == "exec_command_end":
        return f"Command finished (exit code {msg.get('exit_code')})"
    if kind == "patch_apply_begin":
        return f"Editing {len(msg.get('changes') or {})} file(s)"
    if kind in ("exec_approval_request", "apply_patch_approval_request"):
        return "Waiting for approval"
    if kind == "mcp_tool_call_begin":  # MCP client (issue 7)
        invocation = msg.get("invocation") or {}
        return f"Calling {invocation.get('server')}.{invocation.get('tool')}"
    if kind == "elicitation_request":  # MCP client (issue 7)
        return f"Waiting for input requested by {msg.get('server_name')}"
    if kind == "plan_update":
        return "Updated the plan"
    if kind == "agent_reasoning":
        return "Thinking"
    if kind == "agent_message":
        return "Writing the answer"
    if kind == "stream_error":
        return "Reconnecting to the model"
    if kind == "task_complete":
        return "Done"
    return None


class EventRelay:
    def __init__(
        self, outgoing: Outgoing, request_id: Any, thread_id: str, progress_token: Any, config: Config
    ) -> None:
        self._outgoing = outgoing
        self._meta = {"requestId": request_id, "threadId": thread_id}
        valid_token = isinstance(progress_token, (str, int)) and not isinstance(progress_token, bool)
        self._progress_token = progress_token if valid_token else None
        self._progress = 0
        self._mode = config.server.event_stream

    async def send(self, event: Event) -> None:
        msg = event.msg
        mode = self._mode
        if mode == "full" or (mode == "minimal" and msg["type"] not in STREAMING_EVENTS):
            await self._outgoing.send(
                {
                    "jsonrpc": "2.0",
                    "method": "codex/event",
                    "params": {"_meta": self._meta, "id": event.id, "msg": msg},
                }
            )
        if self._progress_token is not None:
            text = progress_message(msg)
            if text is not None:
                from codex_mcp.mcp_types import METHOD_NOTIFICATIONS_PROGRESS, ProgressNotificationParams

                self._progress += 1
                params = ProgressNotificationParams(
                    progress_token=self._progress_token,
                    progress=self._progress,
                    message=text[:PROGRESS_MESSAGE_MAX],
                )
                await self._outgoing.send(
                    {"jsonrpc": "2.0", "method": METHOD_NOTIFICATIONS_PROGRESS, "params": params.to_wire()}
                )
