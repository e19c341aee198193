"""Per-turn event streams: each turn's events go to the one reader that started the turn.

That is what keeps a cancelled call from ever seeing (or stealing) the events of a later
turn.  Every event is also offered to the history (the rollout keeps the persisted kinds)
before it is delivered, so the file and the stream agree on order.

A stream holds at most `EVENT_BUFFER` events its reader has not taken yet; beyond that the
turn waits (memory stays bounded), and a reader that went away makes the stream drop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from codex_mcp.agent.events import Event

EVENT_BUFFER = 256


class TurnEvents:
    """The events of one turn, in order; iteration ends after the turn's last event.

    An async iterator with `aclose()`: leaving a `Thread.turn()` block closes it, and
    `contextlib.aclosing` does the same for a stream used on its own.
    """

    def __init__(self, turn_id: str, receive: MemoryObjectReceiveStream[Event]) -> None:
        self.turn_id = turn_id
        self._receive = receive

    def __aiter__(self) -> TurnEvents:
        return self

    async def __anext__(self) -> Event:
        try:
            try:
                return self._receive.receive_nowait()
            except anyio.WouldBlock:
                return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._receive.aclose()


class EventBus:
    """The open turn streams of one thread."""

    def __init__(self, record: Callable[[dict[str, Any]], None]) -> None:
        self._record = record
        self._streams: dict[str, MemoryObjectSendStream[Event]] = {}

    def open(self, turn_id: str) -> TurnEvents:
        send, receive = anyio.create_memory_object_stream[Event](EVENT_BUFFER)
        self._streams[turn_id] = send
        return TurnEvents(turn_id, receive)

    def is_open(self, turn_id: str) -> bool:
        return turn_id in self._streams

    def close(self, turn_id: str) -> None:
        """The turn is over: its reader's iteration ends after the queued events."""
        stream = self._streams.pop(turn_id, None)
        if stream is not None:
            stream.close()

    async def emit(self, turn_id: str, msg: dict[str, Any]) -> None:
        """Record and deliver one event of `turn_id` (the hot path: no yield while the
        reader's buffer has room, so a burst of deltas reaches it as a batch)."""
        self._record(msg)
        stream = self._streams.get(turn_id)
        if stream is not None:
            await self._deliver(turn_id, stream, Event(turn_id, msg))

    async def publish(self, event: Event) -> bool:
        """Record and deliver a ready-made event; False when nobody reads its turn's stream."""
        self._record(event.msg)
        stream = self._streams.get(event.id)
        if stream is None:
            return False
        return await self._deliver(event.id, stream, event)

    async def _deliver(self, turn_id: str, stream: MemoryObjectSendStream[Event], event: Event) -> bool:
        try:
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                await stream.send(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._streams.pop(turn_id, None)
            return False
        return True
