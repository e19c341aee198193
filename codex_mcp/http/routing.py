"""Where each message of an HTTP session goes: the request's own stream, or the GET stream.

Over stdio every message goes to one pipe.  Over Streamable HTTP each POSTed request has
its own response stream, and the spec wants a request's notifications and the requests
the server sends on its behalf on that stream, before its response.  The `Outgoing`
writer still produces one ordered sequence, and queues every message with the client
request it belongs to (`outgoing.Outbound`); `RoutingSink` splits the sequence by that key
alone, never by looking into the messages:

* a request's final item (its response, or the end marker of a call cancelled without one)
  -> that request's stream, which then ends;
* anything else that belongs to a request (a call's `codex/event`s, its progress, the
  elicitations it asks and their withdrawal) -> that request's stream;
* anything else, or when that stream is gone (the client disconnected, which is not a
  cancellation) -> the session's GET stream if one is open, else dropped.  A request we
  send that reaches no stream is resolved as disconnected at once instead of timing out;
  a response whose stream is gone is dropped (the GET stream must not carry responses).
* what belongs to a task (`outgoing.TaskKey`: a task-augmented call after its request was
  answered) -> the stream of a `tasks/result` waiting for that task (`watch_task`), else the
  GET stream.  A question of a task that no stream can take is parked, bounded, until the
  client opens one with `tasks/result` (which it does when it sees `input_required`); it
  still times out like any other.

Order within one stream is the writer's order, so a call's events precede its result.
"""

from __future__ import annotations

import logging
from typing import Any, TypeGuard

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_mcp import jsonrpc
from codex_mcp.jsonrpc import RequestId
from codex_mcp.outgoing import Outbound, Outgoing, Route, TaskKey

log = logging.getLogger(__name__)

STREAM_BUFFER = 1024
MAX_PARKED_PER_TASK = 32

Key = tuple[type, RequestId | TaskKey]


def is_request_id(value: object) -> TypeGuard[RequestId]:
    return jsonrpc.is_request_id(value)


def key_of(request_id: Route) -> Key:
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
        self.get_stream: MessageStream | None = None
        self._closed = False
        self._task_streams: dict[str, MessageStream] = {}
        self._parked: dict[str, list[dict[str, Any]]] = {}

    # -- registration (by the endpoint, before the message is handled) -------------------

    def in_use(self, request_id: RequestId) -> bool:
        return key_of(request_id) in self._routes

    def open_route(self, request_id: RequestId, notifications: bool) -> MessageStream:
        stream = MessageStream(request_id, notifications)
        if self._closed:
            stream.end()
            return stream
        self._routes[key_of(request_id)] = stream
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
        self._task_streams.clear()
        self._parked.clear()

    async def watch_task(self, task_id: str, request_id: RequestId) -> None:
        """The client's request `request_id` (a `tasks/result`) waits for `task_id`: the task's
        messages go on its stream from now on, questions parked for the task first."""
        route = self._routes.get(key_of(request_id))
        if route is None or not route.open or not route.notifications:
            return
        self._task_streams[task_id] = route
        for message in self._parked.pop(task_id, []):
            if self._still_asked(message) and not await route.put(message):
                break

    def forget_task(self, task_id: str) -> None:
        """The task has ended: nothing of it waits here any more."""
        self._parked.pop(task_id, None)
        self._task_streams.pop(task_id, None)

    def _still_asked(self, message: dict[str, Any]) -> bool:
        own_id = message.get("id")
        return self.outgoing is None or not is_request_id(own_id) or self.outgoing.waiting_for(own_id)

    # -- the Sink protocol ---------------------------------------------------------------

    async def write_batch(self, batch: list[Outbound]) -> None:
        for message, request, final in batch:
            await self._route(message, request, final)

    async def _route(self, message: dict[str, Any] | None, request: Route | None, final: bool) -> None:
        if isinstance(request, TaskKey):
            assert message is not None and not final  # a task's messages are never responses
            await self._route_for_task(message, request.task_id)
            return
        route = self._routes.get(key_of(request)) if request is not None else None
        if final:
            if message is not None and (route is None or not await route.put(message)):
                log.debug("dropping the response to %r: its stream is gone", request)
            if request is not None:
                self._finish(request)
            return
        assert message is not None
        if route is not None and route.notifications and await route.put(message):
            return
        get = self.get_stream
        if get is not None and await get.put(message):
            return
        own_id = message.get("id")
        method = message.get("method")
        if is_request_id(own_id) and self.outgoing is not None:  # a request we send
            log.info("no stream open for %s %r: the client cannot answer it", method, own_id)
            self.outgoing.abandon(own_id, "the client has no stream open to receive the request")
        else:
            log.debug("dropping %s: no stream open for it", method)

    async def _route_for_task(self, message: dict[str, Any], task_id: str) -> None:
        watching = self._task_streams.get(task_id)
        if watching is not None and watching.open and await watching.put(message):
            return
        get = self.get_stream
        if get is not None and await get.put(message):
            return
        if is_request_id(message.get("id")):  # a question: kept until a stream for the task opens
            parked = [m for m in self._parked.get(task_id, []) if self._still_asked(m)]
            if len(parked) < MAX_PARKED_PER_TASK:
                parked.append(message)
                self._parked[task_id] = parked
                return
            if self.outgoing is not None:
                self.outgoing.abandon(message["id"], "too many questions wait for this task")
        else:
            log.debug("dropping %s of task %s: no stream open for it", message.get("method"), task_id)

    def _finish(self, request: RequestId) -> None:
        route = self._routes.pop(key_of(request), None)
        if route is not None:
            route.end()
            for task_id in [t for t, s in self._task_streams.items() if s is route]:
                del self._task_streams[task_id]
