"""Relaying a turn's events to the client: `codex/event`, and standard progress.

`codex/event` carries every event as the original server sent it (`params._meta` with the
request id in its original JSON type and the thread id).  Clients that cannot use that
stream can turn it down per server with `[codex_mcp] event_stream = "minimal" | "off"`;
`notifications/progress` (when the call carried a progress token) stays on regardless,
because it is what keeps a client's request timer alive.  Every notification is queued
with the request it belongs to, so a transport with a stream per request (HTTP) delivers
it on that request's stream.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from codex_mcp.agent import events as ev
from codex_mcp.agent.events import Event

if TYPE_CHECKING:
    from codex_mcp.agent.config.model import EventStream
    from codex_mcp.jsonrpc import RequestId
    from codex_mcp.outgoing import Outgoing

PROGRESS_MESSAGE_MAX = 200
CODEX_EVENT_METHOD = "codex/event"
PROGRESS_METHOD = "notifications/progress"


def progress_params(token: str | int, progress: int, message: str) -> dict[str, Any]:
    """MCP's `ProgressNotificationParams` on the wire, as its model dumps them (`progress`
    is a number there, so a float); built by hand to keep pydantic off the call path."""
    return {"message": message, "progress": float(progress), "progressToken": token}


def progress_message(msg: dict[str, Any]) -> str | None:
    """A short human line for the events worth a progress tick; None for the rest."""
    kind = msg.get("type")
    if kind == ev.TASK_STARTED:
        return "Codex is working"
    if kind == ev.EXEC_COMMAND_BEGIN:
        command = msg.get("command") or []
        try:
            text = shlex.join(str(c) for c in command)
        except TypeError:
            text = str(command)
        return f"Running: {text}"
    if kind == ev.EXEC_COMMAND_END:
        return f"Command finished (exit code {msg.get('exit_code')})"
    if kind == ev.PATCH_APPLY_BEGIN:
        return f"Editing {len(msg.get('changes') or {})} file(s)"
    if kind in ev.APPROVAL_REQUESTS:
        return "Waiting for approval"
    if kind == ev.MCP_TOOL_CALL_BEGIN:
        invocation = msg.get("invocation") or {}
        return f"Calling {invocation.get('server')}.{invocation.get('tool')}"
    if kind == ev.ELICITATION_REQUEST:
        return f"Waiting for input requested by {msg.get('server_name')}"
    if kind == ev.PLAN_UPDATE:
        return "Updated the plan"
    if kind == ev.AGENT_REASONING:
        return "Thinking"
    if kind == ev.AGENT_MESSAGE:
        return "Writing the answer"
    if kind == ev.STREAM_ERROR:
        return "Reconnecting to the model"
    if kind == ev.TASK_COMPLETE:
        return "Done"
    return None


class EventRelay:
    def __init__(
        self,
        outgoing: Outgoing,
        request_id: RequestId,
        thread_id: str,
        progress_token: Any,
        event_stream: EventStream,
    ) -> None:
        self._outgoing = outgoing
        self._request_id = request_id
        self._meta = {"requestId": request_id, "threadId": thread_id}
        valid_token = isinstance(progress_token, (str, int)) and not isinstance(progress_token, bool)
        self._progress_token = progress_token if valid_token else None
        self._progress = 0
        self._mode = event_stream

    async def send(self, event: Event) -> None:
        msg = event.msg
        mode = self._mode
        if mode == "full" or (mode == "minimal" and msg["type"] not in ev.STREAMING_EVENTS):
            await self._outgoing.notify(
                CODEX_EVENT_METHOD,
                {"_meta": self._meta, "id": event.id, "msg": msg},
                request=self._request_id,
            )
        if self._progress_token is not None:
            text = progress_message(msg)
            if text is not None:
                self._progress += 1
                await self._outgoing.notify(
                    PROGRESS_METHOD,
                    progress_params(self._progress_token, self._progress, text[:PROGRESS_MESSAGE_MAX]),
                    request=self._request_id,
                )
