"""The warm-up imports exactly what a call needs and fails on nothing (a renamed module would
otherwise silently stop being warmed)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest


def test_warm_up_imports_every_listed_module_in_a_fresh_interpreter() -> None:
    code = (
        "import sys, logging\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "from codex_mcp.prewarm import CALL_PATH_MODULES, TOOL_PATH_MODULES, warm_call_path\n"
        "warm_call_path()\n"
        "missing = [m for m in CALL_PATH_MODULES + TOOL_PATH_MODULES if m not in sys.modules]\n"
        "print('MISSING', missing)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "MISSING []" in proc.stdout
    assert "warm-up of the call path failed" not in proc.stderr, proc.stderr


def test_a_paused_warm_up_waits_between_steps_until_resumed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call arriving pauses the warm-up after its current step; it goes on once resumed."""
    import threading

    from codex_mcp import prewarm

    first, second = threading.Event(), threading.Event()

    def pausing_step() -> None:
        prewarm.pause_warm_up()  # as the handshake does when a call arrives
        first.set()

    monkeypatch.setattr(prewarm, "warm_steps", lambda: [pausing_step, second.set])
    monkeypatch.setattr(prewarm, "save_compiled", lambda: None)
    prewarm.resume_warm_up()  # a handshake run earlier in this process may have paused it
    worker = threading.Thread(target=prewarm.warm_call_path, daemon=True)
    try:
        worker.start()
        assert first.wait(10)
        deadline = time.monotonic() + 10
        while not second.is_set() and not _waiting_to_go_on(worker):
            assert time.monotonic() < deadline, "the warm-up neither paused nor went on"
            time.sleep(0.001)
        assert not second.is_set()
    finally:
        prewarm.resume_warm_up()
    worker.join(10)
    assert second.is_set()


def _waiting_to_go_on(worker: object) -> bool:
    """Whether `worker` is blocked in the warm-up's wait for `resume_warm_up`."""
    import threading

    assert isinstance(worker, threading.Thread)
    frame = sys._current_frames().get(worker.ident or -1)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return "wait" in names and "warm_call_path" in names


def test_the_collector_is_held_during_the_start_and_comes_back() -> None:
    """Rare collections while the server starts; the usual ones when the warm-up ends --
    and, should the warm-up never end (a long first call pauses it), after a bound."""
    code = (
        "import gc, time\n"
        "from codex_mcp import prewarm\n"
        "usual = gc.get_threshold()\n"
        "prewarm.hold_gc()\n"
        "assert gc.isenabled() and gc.get_threshold()[0] == prewarm.GC_HOLD_THRESHOLD\n"
        "prewarm.warm_call_path()\n"
        "assert gc.get_threshold() == usual and gc.get_freeze_count() == 0\n"
        # A bound of 1 s (the default), not 50 ms: a busy machine can stall this thread for
        # longer than 50 ms, and the check that the hold took effect would find it over.
        "prewarm.GC_HOLD_MAX_S = 1.0\n"
        "prewarm.hold_gc()\n"
        "assert gc.get_threshold() != usual\n"
        "deadline = time.monotonic() + 10\n"
        "while gc.get_threshold() != usual:\n"
        "    assert time.monotonic() < deadline, 'the usual collections never came back'\n"
        "    time.sleep(0.01)\n"
        "print('OK')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "OK"
