"""Lowering the priority of one thread: work that should only ever use an idle core.

On Linux a thread has its own nice value, and raising it needs no privilege; the thread's
priority dies with it, so the process keeps its own.  Elsewhere this does nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading


def lower_this_thread(niceness: int) -> None:
    """Add `niceness` to the calling thread's nice value (Linux; best effort)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)
