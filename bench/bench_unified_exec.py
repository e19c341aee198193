"""Benchmark: process sessions (`exec_command` / `write_stdin`), in a fresh interpreter.

    python bench/bench_unified_exec.py [n_round_trips]

Three measurements, each in its own child process (so its peak RSS, VmHWM, is the manager's alone):

* **round trip** to an echoing process (`cat` on a terminal with echo off, unsandboxed):
  `echo_ms` is the time from the `write_stdin` call to the echoed bytes arriving in the
  session (seen by the event emitter), i.e. our write path, the terminal and `cat`, our
  read path; `overhead_ms` is the whole call minus what the contract makes it wait (the
  100 ms pause after a write and the 250 ms window).  Medians over n calls.
* **throughput**: one session printing 100 MiB (1 KiB lines) in a single `exec_command`
  (30 s window, it exits first): wall time, MiB/s, peak RSS of the manager's process, the
  deltas emitted (at most 10,000 per session), the model's answer size.
* **idle cost**: 32 terminal sessions of `sleep`: the manager process's fds and RSS per
  session, and the keepers' proportional set size (PSS) per session.

`run()` returns a dict of all figures; targets: echo round trip under 5 ms, peak RSS under
100 MB while printing 100 MiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

_ROUND_TRIP = r"""
import json, statistics, sys, time, anyio
from pathlib import Path
from codex_mcp.agent.exec.events import ExecEvents
from codex_mcp.agent.exec.unified import ExecCommandRequest, UnifiedExecManager

N = int(sys.argv[1])

async def main():
    arrived = anyio.Event()
    stamp = [0.0]

    async def emit(msg):
        if msg["type"] == "exec_command_output_delta":
            stamp[0] = time.perf_counter()
            arrived.set()

    env = {"PATH": "/usr/bin:/bin"}
    async with UnifiedExecManager() as m:
        first = await m.exec_command(
            ExecCommandRequest(["/bin/sh", "-c", "stty -echo; exec cat"], Path("/tmp"), env, tty=True,
                               yield_time_ms=250), boundary=None, events=ExecEvents("bench", "t", emit))
        sid = first.session_id
        echo, overhead = [], []
        for i in range(N + 3):
            arrived = anyio.Event()
            start = time.perf_counter()
            out = await m.write_stdin(sid, f"ping {i}\n", yield_time_ms=250)
            total = time.perf_counter() - start
            assert f"ping {i}" in out.output, out.text
            if i >= 3:  # warm-up
                echo.append((stamp[0] - start) * 1000)
                overhead.append((total - 0.1 - 0.25) * 1000)
        return {"echo_ms": round(statistics.median(echo), 3), "echo_min_ms": round(min(echo), 3),
                "echo_max_ms": round(max(echo), 3), "overhead_ms": round(statistics.median(overhead), 3),
                "round_trips": N}

print(json.dumps(anyio.run(main)))
"""

_THROUGHPUT = r"""
import json, sys, time, anyio
from pathlib import Path
from codex_mcp.agent.exec.events import ExecEvents
from codex_mcp.agent.exec.unified import ExecCommandRequest, UnifiedExecManager

MIB = int(sys.argv[1])

def hwm():
    # VmHWM of this process (ru_maxrss would include the parent's peak before our exec).
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
WRITER = ("import sys\nw = sys.stdout.buffer.write\nline = b'x' * 1023 + b'\\n'\n"
          f"for _ in range({MIB} * 1024): w(line)\n")

async def main():
    deltas = 0

    async def emit(msg):
        nonlocal deltas
        deltas += msg["type"] == "exec_command_output_delta"

    env = {"PATH": "/usr/bin:/bin"}
    rss_before = hwm()
    async with UnifiedExecManager() as m:
        start = time.perf_counter()
        out = await m.exec_command(
            ExecCommandRequest([sys.executable, "-c", WRITER], Path("/tmp"), env, yield_time_ms=30_000),
            boundary=None, events=ExecEvents("bench", "t", emit))
        wall = time.perf_counter() - start
    assert out.exit_code == 0, out.text
    return {"mib": MIB, "wall_s": round(wall, 3), "mib_per_s": round(MIB / wall, 1), "deltas": deltas,
            "original_tokens": out.original_token_count, "answer_bytes": len(out.text.encode()),
            "rss_before_kib": rss_before, "peak_rss_kib": hwm()}

print(json.dumps(anyio.run(main)))
"""

_IDLE = r"""
import json, os, sys, anyio
from pathlib import Path
from codex_mcp.agent.exec.unified import ExecCommandRequest, UnifiedExecManager
from codex_mcp.sandbox.procs import children_of

N = int(sys.argv[1])

def rss_kib(pid="self"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

def pss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

def fds():
    return len(os.listdir("/proc/self/fd"))

async def main():
    env = {"PATH": "/usr/bin:/bin"}
    async with UnifiedExecManager() as m:
        await m.exec_command(ExecCommandRequest(["true"], Path("/tmp"), env), boundary=None)
        server = [p for p in children_of(os.getpid())]
        fds0, rss0 = fds(), rss_kib()
        keepers0 = set()
        for fs in server:
            keepers0 |= set(children_of(fs))
        for _ in range(N):
            request = ExecCommandRequest(["sleep", "600"], Path("/tmp"), env, tty=True, yield_time_ms=250)
            out = await m.exec_command(request, boundary=None)
            assert out.session_id is not None
        fds1, rss1 = fds(), rss_kib()
        keepers = set()
        for fs in server:
            keepers |= set(children_of(fs))
        busy = keepers - keepers0
        pss = sum(pss_kib(k) for k in busy)
        return {"sessions": N, "fds_per_session": round((fds1 - fds0) / N, 2),
                "rss_per_session_kib": round((rss1 - rss0) / N, 1),
                "keeper_pss_per_session_kib": round(pss / max(1, len(busy)), 1),
                "keepers": len(busy)}

print(json.dumps(anyio.run(main)))
"""


def _child(code: str, *args: str) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, check=False, env=env,
        timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed: {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(round_trips: int = 50, output_mib: int = 100, idle_sessions: int = 32) -> dict[str, Any]:
    trip = _child(_ROUND_TRIP, str(round_trips))
    flow = _child(_THROUGHPUT, str(output_mib))
    flow["peak_rss_mb"] = round(flow["peak_rss_kib"] / 1024, 1)
    idle = _child(_IDLE, str(idle_sessions))
    return {
        "round_trip": trip,
        "throughput": flow,
        "idle": idle,
        "ok": trip["echo_ms"] < 5 and flow["peak_rss_mb"] < 100,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 50), indent=2))
