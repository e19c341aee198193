"""The process tree, read from /proc: who descends from whom, who is still alive, how big.

Orphan checks walk `/proc/*/stat` (field 4 is the parent pid), so they see every process
of the machine, including a child that left the server's session or process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    close = raw.rfind(")")
    return [raw[: raw.find(" ")], raw[raw.find("(") + 1 : close], *raw[close + 2 :].split()]


def ppid_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[3]) if fields else None


def state_of(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[2] if fields else None


def alive(pid: int) -> bool:
    """Exists and is not a zombie (a zombie is dead; it only waits for its parent's wait())."""
    state = state_of(pid)
    return state is not None and state not in ("Z", "X")


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(root: int) -> list[int]:
    """Every live process below `root` (children, grandchildren, ...), by ppid links."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        parent = ppid_of(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    out: list[int] = []
    stack = [root]
    while stack and len(out) < 10_000:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def describe(pids: Iterable[int]) -> str:
    return "; ".join(f"{pid} (ppid {ppid_of(pid)}, {state_of(pid)}): {cmdline(pid)}" for pid in pids)


class TreeWatcher:
    """Accumulates the pids of a process and its descendants, sampled while work runs."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, str] = {root: cmdline(root)}

    def sample(self) -> list[int]:
        found = descendants(self.root)
        for pid in found:
            self.seen.setdefault(pid, cmdline(pid))
        return found

    def sample_until(self, predicate, timeout: float, what: str) -> list[int]:  # type: ignore[no-untyped-def]
        """Sample (bounded) until `predicate(descendants)` holds; returns those descendants."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.sample()
            if predicate(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what}; tree: {describe(found)}"
                )
            time.sleep(0.02)

    def survivors(self, timeout: float = 5.0) -> list[int]:
        """The recorded pids still alive after a bounded wait for them to go away."""
        deadline = time.monotonic() + timeout
        while True:
            left = [pid for pid in self.seen if alive(pid) and cmdline(pid) == self.seen[pid]]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.05)


def kill_all(pids: Iterable[int]) -> None:
    """Clean up processes this test started (and recorded by pid)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def vm_rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None
