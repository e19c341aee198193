"""Everything the server writes: one ordered queue, one writer task, and the requests we send.

Ordering is the point of this module.  Notifications of a call are queued before its
result, so they reach the client first; a single writer drains the queue and writes
whatever has accumulated in one system call, which keeps per-event overhead low when a
model streams thousands of deltas.  Server-to-client requests (elicitation) get ids from
one counter and are matched to the client's responses here, each with a bounded wait.

Every message is queued with the client request it belongs to (see `Outbound`): the
`tools/call` whose events, progress and questions it carries, or the request it answers.
A transport with one stream per request (Streamable HTTP) routes by that key alone; stdio
ignores it.  This module is also the only place that builds JSON-RPC envelopes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_mcp.jsonrpc import RequestId, Response, encode
from codex_mcp.pending import PendingMap
from codex_mcp.stdio import FdWriter

log = logging.getLogger(__name__)

MAX_BATCH_MESSAGES = 512


@dataclass(frozen=True, slots=True)
class TaskKey:
    """What the messages of a task-augmented call belong to once its request was answered
    (with the task): the task, not a request.  A transport with a stream per request
    delivers them on a stream the client opened for the task (`tasks/result`)."""

    task_id: str


Route = RequestId | TaskKey
"""What a queued message belongs to: a client request, or a task."""

Outbound = tuple[dict[str, Any] | None, Route | None, bool]
"""One queued item: `(message, request, final)`.

* `message`: the JSON-RPC message; None for the end marker of a request that gets no response;
* `request`: the client request (or task) it belongs to (None: the connection as a whole);
* `final`: the last item of that request (its response, or the end marker).

A plain tuple: one is built per streamed event, so it must cost no more than a tuple."""


class Sink(Protocol):
    """Where the writer task delivers messages: stdout, or an HTTP session's streams."""

    async def write_batch(self, batch: list[Outbound]) -> None: ...


class StdioSink:
    """Newline-delimited JSON on a file descriptor, one `write()` per batch."""

    def __init__(self, writer: FdWriter) -> None:
        self._writer = writer

    async def write_batch(self, batch: list[Outbound]) -> None:
        await self._writer.write_all(b"".join(encode(item[0]) for item in batch if item[0] is not None))


@dataclass(frozen=True, slots=True)
class Answered:
    """The client answered our request with a result."""

    result: Any


@dataclass(frozen=True, slots=True)
class Failed:
    """The client answered with a JSON-RPC error."""

    error: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TimedOut:
    """The client did not answer our request within `seconds`."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection ended before the client answered our request."""

    reason: str


Outcome = Answered | Failed | TimedOut | Disconnected


class Outgoing:
    def __init__(self, sink: Sink, max_buffer: int = 1024) -> None:
        self._sink = sink
        send, receive = anyio.create_memory_object_stream[Outbound](max_buffer)
        self._send: MemoryObjectSendStream[Outbound] = send
        self._receive: MemoryObjectReceiveStream[Outbound] = receive
        self._next_id = 0
        self._pending: PendingMap[tuple[type, RequestId], Outcome] = PendingMap()
        self.broken = anyio.Event()
        """Set when the output can no longer be written (stdout closed).  An HTTP sink never
        breaks: a gone stream only reroutes or drops its messages (`codex_mcp.http.routing`)."""

    # -- writing -------------------------------------------------------------------------

    async def _queue(self, item: Outbound) -> None:
        """Queue one item.  Dropped (with a debug log) once stdout is gone.

        With room in the queue this does not yield: a producer streaming deltas keeps going
        and the writer wakes to a batch, one `write()` for many messages.  A full queue (a
        client that reads slowly) makes the producer wait, which bounds our memory.
        """
        if self.broken.is_set():
            return
        try:
            try:
                self._send.send_nowait(item)
            except anyio.WouldBlock:
                await self._send.send(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.debug("dropping outgoing message after close: %s", _describe(item))

    def _queue_nowait(self, item: Outbound) -> None:
        """Queue without waiting; for callers that cannot await (falls back to dropping)."""
        if self.broken.is_set():
            return
        try:
            self._send.send_nowait(item)
        except anyio.WouldBlock:
            log.warning("outgoing queue full; dropping %s", _describe(item))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    async def notify(self, method: str, params: dict[str, Any], *, request: Route | None = None) -> None:
        """A notification, on behalf of the client `request` it belongs to (if any)."""
        await self._queue(({"jsonrpc": "2.0", "method": method, "params": params}, request, False))

    async def respond(self, request: RequestId | None, message: dict[str, Any]) -> None:
        """The response (result or error, built by `jsonrpc`) that ends the client's `request`."""
        await self._queue((message, request, True))

    async def end_request(self, request: RequestId) -> None:
        """`request` ends without a response (a cancelled call): its stream, if any, ends after
        what is queued before this."""
        await self._queue((None, request, True))

    async def run(self) -> None:
        """Deliver queued messages until `close()` and the queue is drained, or the sink breaks."""
        receive = self._receive
        try:
            async for first in receive:
                batch = [first]
                while len(batch) < MAX_BATCH_MESSAGES:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await self._sink.write_batch(drop_superseded_progress(batch))
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            log.info("the output channel closed (%s); the client went away", exc)
            self.broken.set()
            self.disconnect("the client closed its input")
        finally:
            receive.close()

    def close(self) -> None:
        """No more messages will be queued; `run()` returns after flushing the rest."""
        self._send.close()

    # -- server-to-client requests -------------------------------------------------------

    async def request(
        self, method: str, params: dict[str, Any], wait_seconds: float, *, request: Route | None = None
    ) -> Outcome:
        """Send a request (on behalf of the client's `request`) and wait, bounded, for the answer.

        Cancellation of the caller removes the pending entry; the late answer, if any, is
        then ignored like an answer to an unknown id.
        """
        request_id = self._next_id
        self._next_id += 1
        with self._pending.expect((int, request_id)) as waiter:
            if waiter.resolved:  # the client is gone: nothing is sent
                return await waiter.wait()
            message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            await self._queue((message, request, False))
            try:
                return await waiter.wait(wait_seconds)
            except TimeoutError:
                self._withdraw(request_id, request, f"no answer within {wait_seconds:g} s")
                return TimedOut(wait_seconds)
            except anyio.get_cancelled_exc_class():
                self._withdraw(request_id, request, "the tool call that asked was cancelled")
                raise

    def _withdraw(self, request_id: int, request: Route | None, reason: str) -> None:
        """Tell the client we no longer wait for an answer (it may close its dialog)."""
        params = {"requestId": request_id, "reason": reason}
        message = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
        self._queue_nowait((message, request, False))

    def deliver(self, response: Response) -> bool:
        """Route a client response to its waiting request.  False for an unknown id."""
        key = (type(response.id), response.id)
        if key not in self._pending:
            return False
        outcome: Outcome = Failed(response.error) if response.error is not None else Answered(response.result)
        self._pending.resolve(key, outcome)
        return True

    def waiting_for(self, request_id: RequestId) -> bool:
        """Whether we still wait for the client's answer to our request `request_id`."""
        return (type(request_id), request_id) in self._pending

    def abandon(self, request_id: RequestId, reason: str) -> None:
        """One request we sent cannot reach the client (an HTTP session with no stream open
        for it): resolve it as disconnected now instead of letting it wait for its timeout."""
        self._pending.resolve((type(request_id), request_id), Disconnected(reason))

    def disconnect(self, reason: str) -> None:
        """The client can no longer answer: resolve every pending request now, and every
        later one at once."""
        self._pending.close(Disconnected(reason))


PROGRESS_METHOD = "notifications/progress"


def drop_superseded_progress(batch: list[Outbound]) -> list[Outbound]:
    """`batch` without the progress notifications of a request whose response (or end) is in
    the same batch: written together, a client may handle the response first and then find
    the notification's token unknown (see `tools.progress`).  The response says it all."""
    ended = {(type(request), request) for _, request, final in batch if final and request is not None}
    if not ended:
        return batch
    return [
        item
        for item in batch
        if item[2]
        or item[1] is None
        or item[0] is None
        or (type(item[1]), item[1]) not in ended
        or item[0].get("method") != PROGRESS_METHOD
    ]


def _describe(item: Outbound) -> str:
    message, request, _ = item
    if message is None:
        return f"end of request {request!r}"
    return str(message.get("method") or message.get("id"))
