"""Everything the server writes: one ordered queue, one writer task, and the requests we send.

Ordering is the point of this module.  Notifications of a call are queued before its
result, so they reach the client first; a single writer drains the queue and writes
whatever has accumulated in one system call, which keeps per-event overhead low when a
model streams thousands of deltas.  Server-to-client requests (elicitation) get ids from
one counter and are matched to the client's responses here, each with a bounded wait.
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


class Sink(Protocol):
    """Where the writer task delivers messages: stdout, or an HTTP session's streams."""

    async def write_batch(self, messages: list[dict[str, Any]]) -> None: ...


class StdioSink:
    """Newline-delimited JSON on a file descriptor, one `write()` per batch."""

    def __init__(self, writer: FdWriter) -> None:
        self._writer = writer

    async def write_batch(self, messages: list[dict[str, Any]]) -> None:
        await self._writer.write_all(b"".join(encode(m) for m in messages))


@dataclass(frozen=True, slots=True)
class Answered:
    result: Any


@dataclass(frozen=True, slots=True)
class Failed:
    """The client answered with a JSON-RPC error."""

    error: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TimedOut:
    seconds: float


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


Outcome = Answered | Failed | TimedOut | Disconnected


class Outgoing:
    def __init__(self, sink: Sink, max_buffer: int = 1024) -> None:
        self._sink = sink
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](max_buffer)
        self._send: MemoryObjectSendStream[dict[str, Any]] = send
        self._receive: MemoryObjectReceiveStream[dict[str, Any]] = receive
        self._next_id = 0
        self._pending: PendingMap[tuple[type, RequestId], Outcome] = PendingMap()
        self.broken = anyio.Event()
        """Set when the output can no longer be written (stdout closed).  An HTTP sink never
        breaks: a gone stream only reroutes or drops its messages (`codex_mcp.http.routing`)."""

    # -- writing -------------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        """Queue one message.  Dropped (with a debug log) once stdout is gone.

        With room in the queue this does not yield: a producer streaming deltas keeps going
        and the writer wakes to a batch, one `write()` for many messages.  A full queue (a
        client that reads slowly) makes the producer wait, which bounds our memory.
        """
        if self.broken.is_set():
            return
        try:
            try:
                self._send.send_nowait(message)
            except anyio.WouldBlock:
                await self._send.send(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            log.debug("dropping outgoing message after close: %s", message.get("method") or message.get("id"))

    def send_nowait(self, message: dict[str, Any]) -> None:
        """Queue without waiting; for callers that cannot await (falls back to dropping)."""
        if self.broken.is_set():
            return
        try:
            self._send.send_nowait(message)
        except anyio.WouldBlock:
            log.warning("outgoing queue full; dropping %s", message.get("method") or message.get("id"))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

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
                await self._sink.write_batch(batch)
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

    async def request(self, method: str, params: dict[str, Any], wait_seconds: float) -> Outcome:
        """Send a request and wait (bounded) for the client's answer.

        Cancellation of the caller removes the pending entry; the late answer, if any, is
        then ignored like an answer to an unknown id.
        """
        request_id = self._next_id
        self._next_id += 1
        with self._pending.expect((int, request_id)) as waiter:
            if waiter.resolved:  # the client is gone: nothing is sent
                return await waiter.wait()
            await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
            try:
                return await waiter.wait(wait_seconds)
            except TimeoutError:
                self._withdraw(request_id, f"no answer within {wait_seconds:g} s")
                return TimedOut(wait_seconds)
            except anyio.get_cancelled_exc_class():
                self._withdraw(request_id, "the tool call that asked was cancelled")
                raise

    def _withdraw(self, request_id: int, reason: str) -> None:
        """Tell the client we no longer wait for an answer (it may close its dialog)."""
        self.send_nowait(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": reason},
            }
        )

    def deliver(self, response: Response) -> bool:
        """Route a client response to its waiting request.  False for an unknown id."""
        key = (type(response.id), response.id)
        if key not in self._pending:
            return False
        outcome: Outcome = Failed(response.error) if response.error is not None else Answered(response.result)
        self._pending.resolve(key, outcome)
        return True

    def abandon(self, request_id: RequestId, reason: str) -> None:
        """One request we sent cannot reach the client (an HTTP session with no stream open
        for it): resolve it as disconnected now instead of letting it wait for its timeout."""
        self._pending.resolve((type(request_id), request_id), Disconnected(reason))

    def disconnect(self, reason: str) -> None:
        """The client can no longer answer: resolve every pending request now, and every
        later one at once."""
        self._pending.close(Disconnected(reason))
