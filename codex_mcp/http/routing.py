"""Where each message of an HTTP session goes: the request's own stream, or the GET stream.

Over stdio every message goes to one pipe.  Over Streamable HTTP each POSTed request has
its own response stream, and the spec wants a request's notifications and the requests
the server sends on its behalf on that stream, before its response.  The `Outgoing`
writer still produces one ordered sequence; `RoutingSink` splits it:

* a response -> the stream of the POST that carried the request (then that stream ends);
* `codex/event` (`params._meta.requestId`), `notifications/progress` (the call's
  `progressToken`), `elicitation/create` (`params.codex_mcp_tool_call_id`) and the
  withdrawal of such an elicitation (`notifications/cancelled`) -> that request's stream;
* anything else, or when that stream is gone (the client disconnected, which is not a
  cancellation) -> the session's GET stream if one is open, else dropped.  A request we
  send that reaches no stream is resolved as disconnected at once instead of timing out;
  a response whose stream is gone is dropped (the GET stream must not carry responses).

Order within one stream is the writer's order, so a call's events precede its result.
"""

from __future__ import annotations

import logging
from typing import Any, TypeGuard

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_mcp import jsonrpc
from codex_mcp.jsonrpc import RequestId
from codex_mcp.outgoing import Outgoing

log = logging.getLogger(__name__)

STREAM_BUFFER = 1024
END_OF_REQUEST = "codex_mcp.http/end-of-request"
"""Internal marker message: the request ended without a response (never sent to a client)."""

Key = tuple[type, RequestId]


def is_request_id(value: object) -> TypeGuard[RequestId]:
    return jsonrpc.is_request_id(value)


def key_of(request_id: RequestId) -> Key:
    return (type(request_id), request_id)


class MessageStream:
    """The messages bound for one HTTP response body (a POST's reply or the GET stream)."""

    def __init__(self, request_id: RequestId | None, notifications: bool = True) -> None:
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](STREAM_BUFFER)
        self._send: MemoryObjectSendStream[dict[str, Any]] = send
        self.receive: MemoryObjectReceiveStream[dict[str, Any]] = receive
        self.request_id = request_id
        self.notifications = notifications
        """False for a POST answered with application/json: only its response fits."""
        self._ended = False
        self._detached = False

    @property
    def open(self) -> bool:
        return not (self._ended or self._detached)

    async def put(self, message: dict[str, Any]) -> bool:
        """Queue for the response writer; False when the client side is gone."""
        try:
            await self._send.send(message)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        return True

    def end(self) -> None:
        """No more messages: the response writer finishes the body after the queued ones."""
        self._ended = True
        self._send.close()

    def detach(self) -> None:
        """The response writer is done (or the client is gone): later messages fail to queue
        and are rerouted; a sender waiting on a full queue is released."""
        self._detached = True
        self.receive.close()


class RoutingSink:
    """The `Sink` of one HTTP session's `Outgoing`."""

    def __init__(self) -> None:
        self.outgoing: Outgoing | None = None
        self._routes: dict[Key, MessageStream] = {}
        self._progress: dict[Key, MessageStream] = {}
        self._asked: dict[Key, MessageStream] = {}
        """Our elicitation ids -> the stream that carried them (for their withdrawal)."""
        self.get_stream: MessageStream | None = None
        self._closed = False

    # -- registration (by the endpoint, before the message is handled) -------------------

    def in_use(self, request_id: RequestId) -> bool:
        return key_of(request_id) in self._routes

    def open_route(self, request_id: RequestId, progress_token: Any, notifications: bool) -> MessageStream:
        stream = MessageStream(request_id, notifications)
        if self._closed:
            stream.end()
            return stream
        self._routes[key_of(request_id)] = stream
        if is_request_id(progress_token):
            self._progress[key_of(progress_token)] = stream
        return stream

    def open_get_stream(self) -> MessageStream | None:
        """The session's standalone stream; None while another one is open."""
        if self._closed or (self.get_stream is not None and self.get_stream.open):
            return None
        self.get_stream = MessageStream(None)
        return self.get_stream

    @property
    def busy(self) -> bool:
        """Some response is still owed, or the client listens on its GET stream."""
        return bool(self._routes) or (self.get_stream is not None and self.get_stream.open)

    def close_all(self) -> None:
        """The session ended: every response body finishes after what is queued."""
        self._closed = True
        for stream in [*self._routes.values(), *([self.get_stream] if self.get_stream else [])]:
            stream.end()
        self._routes.clear()
        self._progress.clear()
        self._asked.clear()

    # -- the Sink protocol ---------------------------------------------------------------

    async def write_batch(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await self._route(message)

    async def _route(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method == END_OF_REQUEST:
            self._finish(message.get("id"))
            return
        if method is None:  # a response to one of the client's requests
            request_id = message.get("id")
            route = self._routes.get(key_of(request_id)) if is_request_id(request_id) else None
            if route is None or not await route.put(message):
                log.debug("dropping the response to %r: its stream is gone", request_id)
            self._finish(request_id)
            return
        route = self._route_for(method, message.get("params"), message.get("id"))
        if route is not None and route.notifications and await route.put(message):
            return
        get = self.get_stream
        if get is not None and await get.put(message):
            return
        request_id = message.get("id")
        if is_request_id(request_id) and self.outgoing is not None:
            log.info("no stream open for %s %r: the client cannot answer it", method, request_id)
            self.outgoing.abandon(request_id, "the client has no stream open to receive the request")
        else:
            log.debug("dropping %s: no stream open for it", method)

    def _route_for(self, method: str, params: Any, own_id: Any) -> MessageStream | None:
        if not isinstance(params, dict):
            return None
        if method == "codex/event":
            meta = params.get("_meta")
            request_id = meta.get("requestId") if isinstance(meta, dict) else None
            return self._routes.get(key_of(request_id)) if is_request_id(request_id) else None
        if method == "notifications/progress":
            token = params.get("progressToken")
            return self._progress.get(key_of(token)) if is_request_id(token) else None
        if method == "elicitation/create":
            route = self._by_text(params.get("codex_mcp_tool_call_id"))
            if route is not None and is_request_id(own_id):
                self._asked[key_of(own_id)] = route
            return route
        if method == "notifications/cancelled":
            asked = params.get("requestId")
            return self._asked.pop(key_of(asked), None) if is_request_id(asked) else None
        return None

    def _by_text(self, text: Any) -> MessageStream | None:
        """The route of a request id given as text (`str(id)`: 7 and "7" look alike)."""
        if not isinstance(text, str):
            return None
        candidates = [self._routes.get((str, text))]
        if text.lstrip("-").isdigit():
            candidates.append(self._routes.get((int, int(text))))
        found = [route for route in candidates if route is not None]
        # Only a `tools/call` elicits, and its stream takes notifications: prefer that one.
        return next((route for route in found if route.notifications), found[0] if found else None)

    def _finish(self, request_id: Any) -> None:
        if not is_request_id(request_id):
            return
        route = self._routes.pop(key_of(request_id), None)
        if route is None:
            return
        route.end()
        for table in (self._progress, self._asked):
            for k in [k for k, v in table.items() if v is route]:
                del table[k]
