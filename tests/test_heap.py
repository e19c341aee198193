"""`heap.pin_mmap_threshold`: a large buffer gets a mapping of its own even after a larger one
was freed (without the pin, glibc raises its threshold and serves it from the heap).  Checked
from glibc's own accounting (`mallinfo2().hblkhd`: bytes in mapped chunks), in fresh
interpreters."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"),
    reason="glibc only",
)

PROBE = """
import ctypes, sys
from codex_mcp.heap import pin_mmap_threshold
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else None
big = bytearray(8 << 20)
del big  # a freed mapping: glibc's dynamic threshold would now rise to 8 MiB
before = libc.mallinfo2().hblkhd
buffer = bytearray(512 << 10)
print(pinned, libc.mallinfo2().hblkhd - before >= len(buffer))
"""


def _mapped(mode: str) -> tuple[str, str]:
    run = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    pinned, mapped = run.stdout.split()
    return pinned, mapped


def test_a_large_buffer_is_mapped_after_a_larger_one_was_freed() -> None:
    assert _mapped("pin") == ("True", "True")


def test_without_the_pin_glibc_serves_it_from_the_heap() -> None:
    """The behaviour the pin exists for (if glibc stops doing this, the pin is moot)."""
    assert _mapped("none") == ("None", "False")


def test_the_warm_up_pins_it_before_the_tool_path() -> None:
    from codex_mcp import heap, prewarm

    steps = prewarm.warm_steps(call_path=False)
    assert steps[0] is heap.pin_mmap_threshold
    assert heap.pin_mmap_threshold in prewarm.warm_steps()
