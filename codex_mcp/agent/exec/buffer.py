"""A byte buffer that keeps the beginning and the end of a stream and counts the middle.

Why: a process session may print without end (a dev server's log, `yes`), and whatever it
prints must cost bounded memory.  The first half of the capacity keeps the head, the second
half the most recent bytes; what falls between is only counted (`omitted`).  The tail is
trimmed lazily (when it reaches twice its share) so that feeding costs O(1) amortised per
byte, which keeps a session printing 100 MB cheap; `snapshot`/`drain` trim it exactly.
"""

from __future__ import annotations

__all__ = ["HeadTailBuffer", "omission_marker"]


def omission_marker(omitted: int) -> str:
    """The line put between head and tail when bytes were dropped (the reference's wording)."""
    return f"... {omitted} bytes omitted ..."


class HeadTailBuffer:
    """Keeps at most `capacity` bytes: the first `capacity // 2` and the most recent rest."""

    __slots__ = ("capacity", "head", "head_cap", "omitted", "tail", "tail_cap", "total")

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self.head_cap = self.capacity // 2
        self.tail_cap = self.capacity - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.omitted = 0
        self.total = 0  # every byte ever fed (also the omitted ones)

    def __len__(self) -> int:
        """Bytes currently retained."""
        self._trim()
        return len(self.head) + len(self.tail)

    @property
    def empty(self) -> bool:
        return not self.head and not self.tail and not self.omitted

    def feed(self, chunk: bytes | bytearray | memoryview, omitted: int = 0) -> None:
        """Append `chunk`; `omitted` counts bytes already dropped before it (by another buffer)."""
        if omitted:
            # Bytes lost before this chunk: the head is over (nothing may join it later), and
            # the tail so far lies before the gap, so it counts as dropped too (the one marker
            # then stands where the bytes are missing).
            self.omitted += omitted + len(self.tail)
            self.total += omitted
            self.tail = bytearray()
            self.head_cap = len(self.head)
        size = len(chunk)
        if not size:
            return
        self.total += size
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            if size <= room:
                return
            chunk = chunk[room:]
        if self.tail_cap == 0:
            self.omitted += len(chunk)
            return
        self.tail += chunk
        if len(self.tail) >= 2 * self.tail_cap:
            self._trim()

    def _trim(self) -> None:
        excess = len(self.tail) - self.tail_cap
        if excess > 0:
            del self.tail[:excess]
            self.omitted += excess

    def snapshot(self) -> tuple[bytes, int, bytes]:
        """(head, omitted byte count, tail), without changing the buffer."""
        self._trim()
        return bytes(self.head), self.omitted, bytes(self.tail)

    def drain(self) -> tuple[bytes, int, bytes]:
        """`snapshot`, then start over empty (capacities restored)."""
        out = self.snapshot()
        self.head = bytearray()
        self.tail = bytearray()
        self.omitted = 0
        self.total = 0
        self.head_cap = self.capacity // 2
        return out

    def to_bytes(self) -> bytes:
        """The retained bytes, with the omission marker on a line of its own between head and
        tail when anything was dropped."""
        head, omitted, tail = self.snapshot()
        if not omitted:
            return head + tail
        return head + b"\n" + omission_marker(omitted).encode() + b"\n" + tail
