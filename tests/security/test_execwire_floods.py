"""A hostile model floods the server through process sessions: endless output on a terminal,
binary output with no newline, output on stderr, several floods at once; and a thousand sessions
kept open across threads.  The server's memory stays bounded (its peak resident
set, VmHWM, read from outside), it answers `ping` throughout, the model's answers stay
within their budget, and the session cap holds per thread, the ended sessions' processes
dead (the kernel's process list).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.execwire_support import after, exec_args, exec_command, exit_code_in
from tests.security.backends_support import BACKENDS, kill_all, nap, needs_linux, place, sleepers, wait_dead
from tests.security.execwire_support import go, peak_rss_kb, server
from tests.security.harness import assert_alive
from tests.support.raw_client import RawClient, wait_until
from tests.support.scripted_model import ScriptedModel, Turn, function_call

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(300)]

ANSWER_LIMIT = 10_000 * 4 * 12 // 10 + 300  # the family's budget plus 20%, and the header
PEAK_RSS_LIMIT_MB = 200


class Pinger:
    """Pings the server every 0.2 s from another thread; keeps the slowest answer."""

    def __init__(self, client: RawClient) -> None:
        self.client, self.slowest, self.stop = client, 0.0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.2):
            started = time.monotonic()
            rid = self.client.request("ping")
            self.client.wait_response(rid, 10)
            self.slowest = max(self.slowest, time.monotonic() - started)

    def __enter__(self) -> Pinger:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(15)


# Seven floods keep every core busy while `ping` must be answered within a bound: run with
# the machine to itself, as in a serial run, so that it measures the server, not its neighbours.
@pytest.mark.alone
@pytest.mark.parametrize("backend", BACKENDS)
def test_output_floods_leave_the_server_small_and_answering(
    backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    m = scripted_model
    background = [exec_command(m, f"yes flood-{i}", tty=True, yield_ms=250) for i in range(3)]
    terminal = exec_command(m, "yes FLOOD", tty=True, yield_ms=10_000)
    binary = exec_command(m, "head -c 20000000 /dev/urandom", yield_ms=30_000)
    stderr = exec_command(m, "timeout 5 yes ERR >&2", yield_ms=30_000)
    polled = after(m, terminal, "", yield_ms=5000)
    typed = after(m, terminal, "\u0003", yield_ms=2000)
    one_shot = m.function("shell_command", {"command": "yes ONESHOT", "timeout_ms": 8000})
    m.text("done")
    with (
        place("root") as p,
        server("root", m, tmp_path / "server.log", backend=backend, where=p) as (client, _),
    ):
        with Pinger(client) as pinger:
            result = go(client, timeout=240)
        assert not result.get("isError"), result
        outs = {c: m.call_output(c) for c in (*background, terminal, binary, stderr, polled, typed, one_shot)}
        assert all(len(o.encode()) <= ANSWER_LIMIT for o in outs.values()), {
            c: len(o) for c, o in outs.items()
        }
        assert "FLOOD" in outs[terminal] and "truncated" in outs[terminal]
        # Binary output with no newline (done or still going when the window closed): cut too.
        assert "truncated" in outs[binary] and "Original token count: " in outs[binary]
        assert "ERR" in outs[stderr] and exit_code_in(outs[stderr]) is not None
        assert exit_code_in(outs[typed]) is not None  # Ctrl-C got through the flood
        assert "ONESHOT" in outs[one_shot] and "command timed out" in outs[one_shot]
        peak = peak_rss_kb(client.proc.pid) // 1024
        print(f"floods on {backend}: server peak {peak} MB, slowest ping {pinger.slowest:.2f} s")
        assert pinger.slowest < 5.0, pinger.slowest
        assert peak < PEAK_RSS_LIMIT_MB, f"the server peaked at {peak} MB"
        assert_alive(client)


THREADS, SESSIONS_PER_THREAD = 5, 200


@pytest.mark.timeout(600)
def test_a_thousand_sessions_across_threads_stay_within_the_cap(
    scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """Five threads keep opening sessions, 200 each (1,000 in all), concurrently: each thread
    keeps at most 64 (the least recently used ones are ended, their processes dead), the
    server stays small and answering, and nothing outlives its SIGKILL."""
    naps = [nap() for _ in range(THREADS)]
    m = scripted_model
    for duration in naps:
        args = exec_args(f"exec sleep {duration}", yield_ms=250)
        m.add(Turn("calls", calls=[function_call("exec_command", args) for _ in range(SESSIONS_PER_THREAD)]))
    for _ in naps:
        m.text("done")
    try:
        # 5 x 64 live sessions: more than the server-wide default of 256, raised here to test
        # the per-thread cap alone (the server-wide one is `test_exec_cap_server.py`).
        extra = "[codex_mcp]\nexec_server_max_processes = 1000\n"
        with (
            place("root") as p,
            server("root", m, tmp_path / "server.log", extra=extra, where=p) as (client, _),
        ):
            ids = [
                client.call_tool(
                    "codex", {"prompt": "go", "approval-policy": "never", "sandbox": "workspace-write"}
                )
                for _ in naps
            ]
            with Pinger(client) as pinger:
                for rid in ids:
                    response = client.wait_response(rid, 500)
                    assert not response["result"].get("isError"), response
            for duration in naps:
                wait_until(lambda d=duration: len(sleepers(d)) == 64, 15, "64 live sessions per thread")
            opened = {
                item["call_id"]
                for rec in m.requests
                for item in rec.items()
                if item.get("type") == "function_call_output" and "Process running" in str(item.get("output"))
            }
            peak = peak_rss_kb(client.proc.pid) // 1024
            total = THREADS * SESSIONS_PER_THREAD
            print(f"{total} sessions: server peak {peak} MB, slowest ping {pinger.slowest:.2f} s")
            assert len(opened) == total, len(opened)
            assert pinger.slowest < 5.0, pinger.slowest
            assert peak < PEAK_RSS_LIMIT_MB, f"the server peaked at {peak} MB"
            assert_alive(client)
            everything = [pid for d in naps for pid in sleepers(d)]
            os.kill(client.proc.pid, signal.SIGKILL)  # the server only: its sessions must follow
            client.proc.wait(10)
            assert not wait_dead(everything, 10), "sessions outlived the killed server"
    finally:
        kill_all([pid for d in naps for pid in sleepers(d)])
