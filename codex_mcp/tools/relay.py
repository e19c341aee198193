"""Relaying a turn's events to the client: `codex/event`, and standard progress.

`codex/event` carries every event as the original server sent it (`params._meta` with the
request id in its original JSON type and the thread id).  Clients that cannot use that
stream can turn it down per server with `[codex_mcp] event_stream = "minimal" | "off"`;
`notifications/progress` (when the call carried a progress token) stays on regardless,
because it is what keeps a client's request timer alive; its pace (and why it never races
the response) is `progress`.  Every notification is queued with the request it belongs to,
so a transport with a stream per request (HTTP) delivers it on that request's stream.

Use the relay as `async with relay:` around the turn: the block runs the progress pacer, and
leaving it normally waits until the response may follow (`ProgressPacer.settle`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from codex_mcp.agent import events as ev
from codex_mcp.agent.events import Event
from codex_mcp.tools.progress import ProgressPacer

if TYPE_CHECKING:
    from codex_mcp.agent.config.model import EventStream
    from codex_mcp.jsonrpc import RequestId
    from codex_mcp.outgoing import Outgoing, Route

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
        import shlex  # a call that runs no command never needs it

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
    if kind == ev.REQUEST_USER_INPUT:
        return "Waiting for your answers"
    if kind == ev.WEB_SEARCH_BEGIN:
        return "Searching the web"
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
    return None


class EventRelay:
    def __init__(
        self,
        outgoing: Outgoing,
        request_id: RequestId,
        thread_id: str,
        progress_token: Any,
        event_stream: EventStream,
        *,
        key: Route | None = None,
        extra_meta: dict[str, Any] | None = None,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        """Notifications are queued under `key` (default: the request), with `extra_meta` in
        their `_meta` (a task's related-task key); `on_step` hears each progress message."""
        self._outgoing = outgoing
        self._request_id: Route = request_id if key is None else key
        self._on_step = on_step
        self._meta = {"requestId": request_id, "threadId": thread_id, **(extra_meta or {})}
        self._extra_meta = extra_meta
        valid_token = isinstance(progress_token, (str, int)) and not isinstance(progress_token, bool)
        self._progress_token = progress_token if valid_token else None
        self._progress = 0
        self._mode = event_stream
        self._pacer = ProgressPacer(self._send_progress) if self._progress_token is not None else None
        self._group: TaskGroup | None = None

    @property
    def progress_sent(self) -> int:
        return 0 if self._pacer is None else self._pacer.sent

    async def __aenter__(self) -> EventRelay:
        if self._pacer is not None:
            self._group = anyio.create_task_group()
            await self._group.__aenter__()
            self._group.start_soon(self._pacer.run)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        if self._pacer is None or self._group is None:
            return None
        self._pacer.stop()
        self._group.cancel_scope.cancel()
        suppress = await self._group.__aexit__(exc_type, exc, tb)
        if exc is None:
            await self._pacer.settle()
        return suppress

    async def send(self, event: Event) -> None:
        msg = event.msg
        mode = self._mode
        if mode == "full" or (mode == "minimal" and msg["type"] not in ev.STREAMING_EVENTS):
            await self._outgoing.notify(
                CODEX_EVENT_METHOD,
                {"_meta": self._meta, "id": event.id, "msg": msg},
                request=self._request_id,
            )
        if self._pacer is not None:
            if msg["type"] in ev.TURN_ENDING_EVENTS:
                self._pacer.stop()  # the response follows: no progress may trail it
                return
            text = progress_message(msg)
            if text is not None:
                await self._pacer.note(text[:PROGRESS_MESSAGE_MAX])
        if self._on_step is not None and msg["type"] not in ev.TURN_ENDING_EVENTS:
            text = progress_message(msg)
            if text is not None:
                self._on_step(text[:PROGRESS_MESSAGE_MAX])

    async def _send_progress(self, text: str) -> None:
        token = self._progress_token
        assert token is not None  # the pacer exists only with a token
        self._progress += 1
        params = progress_params(token, self._progress, text)
        if self._extra_meta:
            params["_meta"] = dict(self._extra_meta)
        await self._outgoing.notify(PROGRESS_METHOD, params, request=self._request_id)
