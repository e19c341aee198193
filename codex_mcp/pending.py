"""`PendingMap`: questions sent somewhere, waiting for their answers by key.

The same pattern appears wherever we ask and wait: our requests to the MCP client
(elicitation), the agent's requests to its own MCP servers, approvals waiting for the host's
decision, and MCP servers' elicitations waiting for the person.  Each needs the same three
guarantees, so they live here once:

* a wait is bounded (or explicitly unbounded, and then cancelled by its owner's scope);
* the first answer wins, later ones are ignored, and an answer to an unknown key says so;
* when the other side goes away, every waiter is resolved at once with one value (`close`),
  and so is every question asked after that: nobody waits for an answer that cannot come.

An entry lives exactly as long as the `expect()` block of its asker, so a cancelled asker
never leaves a stale entry behind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import anyio

K = TypeVar("K")
V = TypeVar("V")


class DuplicateKey(ValueError):
    """A question with this key is already waiting (a peer reused an id)."""


class Waiter(Generic[V]):
    """One question's answer: resolved at most once."""

    __slots__ = ("_done", "_value", "tag")

    def __init__(self, tag: Any = None) -> None:
        self._done = anyio.Event()
        self._value: V | None = None
        self.tag = tag
        """What the owner wants to remember about the question (its turn, its route...)."""

    @property
    def resolved(self) -> bool:
        return self._done.is_set()

    def resolve(self, value: V) -> bool:
        """Give the answer; False when one was given already (the first one wins)."""
        if self._done.is_set():
            return False
        self._value = value
        self._done.set()
        return True

    async def wait(self, seconds: float | None = None) -> V:
        """The answer; `TimeoutError` once `seconds` pass without one (None or an
        infinite bound waits until the answer or the caller's cancellation)."""
        if not self._done.is_set():
            limit = None if seconds is None or not math.isfinite(seconds) else seconds
            with anyio.move_on_after(limit):
                await self._done.wait()
            if not self._done.is_set():
                raise TimeoutError
        return self._value  # type: ignore[return-value]


class PendingMap(Generic[K, V]):
    """Questions by key.  `closed` holds the value every question gets once the other side
    is gone (see `close`)."""

    def __init__(self) -> None:
        self._waiters: dict[K, Waiter[V]] = {}
        self._closed: tuple[V] | None = None

    def __contains__(self, key: object) -> bool:
        return key in self._waiters

    def __len__(self) -> int:
        return len(self._waiters)

    @property
    def is_closed(self) -> bool:
        return self._closed is not None

    @contextmanager
    def expect(self, key: K, tag: Any = None) -> Iterator[Waiter[V]]:
        """Register a question for the duration of the block; the entry goes when it ends.

        After `close`, the waiter comes back already resolved with the close value.
        Raises `DuplicateKey` when a question with this key is still waiting.
        """
        if key in self._waiters:
            raise DuplicateKey(f"a question with key {key!r} is already waiting")
        waiter: Waiter[V] = Waiter(tag)
        if self._closed is not None:
            waiter.resolve(self._closed[0])
        self._waiters[key] = waiter
        try:
            yield waiter
        finally:
            if self._waiters.get(key) is waiter:
                del self._waiters[key]

    def get(self, key: K) -> Waiter[V] | None:
        return self._waiters.get(key)

    def resolve(self, key: K, value: V) -> bool:
        """Answer one question; False when nobody waits under `key` (unknown or answered)."""
        waiter = self._waiters.get(key)
        return waiter is not None and waiter.resolve(value)

    def resolve_where(self, value: V, predicate: Callable[[Waiter[V]], bool]) -> None:
        """Answer every waiting question that `predicate` selects (e.g. those of one turn)."""
        for waiter in list(self._waiters.values()):
            if predicate(waiter):
                waiter.resolve(value)

    def resolve_all(self, value: V) -> None:
        for waiter in list(self._waiters.values()):
            waiter.resolve(value)

    def close(self, value: V) -> None:
        """The other side is gone: answer every question with `value`, now and from now on.
        The first close wins (its value says why)."""
        if self._closed is None:
            self._closed = (value,)
        self.resolve_all(self._closed[0])
