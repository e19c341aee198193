"""Process sessions end, and take everything they started with them.

The session cap, the lifetime limit, the end of a session's process, a closed manager, a
cancelled call or owner, and an owner killed with SIGKILL (run in a child process), judged
by finding the `sleep` processes by their unique duration.  Unsandboxed here; the sandboxed
runs are `tests/security/test_uexec_cleanup.py`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from codex_mcp.agent.exec import unified
from codex_mcp.agent.exec.unified import UnifiedExecManager, UnknownSessionError
from tests.exec_sessions_support import PY, Recorder, alive, gone, request, until
from tests.security.backends_support import kill_all, nap, sleepers, wait_dead

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process sessions are tested on Linux"),
]


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unified, "MIN_EMPTY_YIELD_TIME_MS", 250)


@pytest.fixture
def naps() -> Iterator[list[str]]:
    """Unique `sleep` durations a test starts; any still running at the end are killed."""
    used: list[str] = []
    yield used
    for duration in used:
        kill_all(sleepers(duration))


def fresh(naps: list[str]) -> str:
    duration = nap()
    naps.append(duration)
    return duration


async def test_session_cap_ends_the_least_recently_used(tmp_path: Path, naps: list[str]) -> None:
    rec = Recorder()
    durations = [fresh(naps) for _ in range(5)]
    async with UnifiedExecManager(max_sessions=4, warning_sessions=3) as m:
        ids = []
        for i, duration in enumerate(durations):
            out = await m.exec_command(
                request(["sleep", duration], tmp_path, yield_time_ms=250),
                boundary=None,
                events=rec.for_call(f"s{i}"),
            )
            assert out.session_id is not None
            ids.append(out.session_id)
            if i == 1:
                await m.write_stdin(ids[0], "")  # the first one is now used more recently
            if i < 2:
                assert out.warnings == ()
        assert out.warnings[0].startswith(f"Process {ids[1]} (`sleep {durations[1]}`) was ended: at most 4")
        assert out.warnings[1] == (
            "The maximum number of unified exec processes you can keep open is 3 and you currently have "
            "4 processes open. Reuse older processes or close them to prevent automatic pruning of old "
            "processes"
        )
        assert m.session_ids() == [ids[0], ids[2], ids[3], ids[4]]
        with pytest.raises(UnknownSessionError):
            await m.write_stdin(ids[1], "")
        assert await gone(sleepers(durations[1])) == []
        assert all(sleepers(d) for d in durations[2:])
        pruned_end = [e for e in rec.of("exec_command_end") if e["call_id"] == "s1"]
        assert (
            len(pruned_end) == 1 and pruned_end[0]["exit_code"] == -1 and pruned_end[0]["status"] == "failed"
        )


async def test_lifetime_limit_ends_a_session(tmp_path: Path, naps: list[str]) -> None:
    duration = fresh(naps)
    rec = Recorder()
    async with UnifiedExecManager(max_lifetime_s=1.0) as m:
        first = await m.exec_command(
            request(["/bin/sh", "-c", f"sleep {duration} & sleep {duration}"], tmp_path, yield_time_ms=250),
            boundary=None, events=rec.for_call("life"),
        )  # fmt: skip
        assert first.session_id is not None
        _, last = await until(m, first, lambda t: False, within=15)
        assert last.exit_code == 143 and "`exec_session_max_lifetime_sec`" in last.output
        assert await gone(sleepers(duration)) == []
    assert rec.of("exec_command_end")[0]["exit_code"] == 143


async def test_nothing_outlives_a_session(tmp_path: Path, naps: list[str]) -> None:
    a, b = fresh(naps), fresh(naps)
    script = f"setsid sleep {a} & ( (sleep {b} &) & ); echo started"
    async with UnifiedExecManager() as m:
        out = await m.exec_command(
            request(["/bin/bash", "-c", script], tmp_path, yield_time_ms=2000), boundary=None
        )
        assert out.exit_code == 0 and out.output == "started\n"
        assert await gone(sleepers(a) + sleepers(b)) == []


async def test_closing_the_manager_ends_every_session(tmp_path: Path, naps: list[str]) -> None:
    a, b, c = fresh(naps), fresh(naps), fresh(naps)
    async with UnifiedExecManager() as m:
        for argv, tty in (
            (["/bin/bash", "-c", f"setsid sleep {a} & sleep {a}"], True),
            (["/bin/sh", "-c", f"nohup sleep {b} >/dev/null 2>&1 & sleep {b}"], False),
            (["/bin/sh", "-c", f"( (sleep {c} &) & ); sleep {c}"], False),
        ):
            out = await m.exec_command(request(argv, tmp_path, tty=tty, yield_time_ms=500), boundary=None)
            assert out.session_id is not None
        before = sleepers(a) + sleepers(b) + sleepers(c)
        assert len(before) >= 6, before
    assert wait_dead(before, 10) == []
    with pytest.raises(RuntimeError, match="closed"):
        await m.exec_command(request(["true"], tmp_path), boundary=None)


async def test_cancelled_exec_command_kills_its_process_and_write_stdin_does_not(
    tmp_path: Path, naps: list[str]
) -> None:
    a, b = fresh(naps), fresh(naps)
    async with UnifiedExecManager() as m:
        with anyio.move_on_after(0.5):
            await m.exec_command(request(["sleep", a], tmp_path, yield_time_ms=20_000), boundary=None)
        assert await gone(sleepers(a)) == [] and m.session_ids() == []
        first = await m.exec_command(
            request(["sleep", b], tmp_path, tty=True, yield_time_ms=250), boundary=None
        )
        assert first.session_id is not None
        with anyio.move_on_after(0.3):
            await m.write_stdin(first.session_id, "", yield_time_ms=20_000)
        assert m.session_ids() == [first.session_id] and sleepers(b)


OWNER = r"""
import json, sys, anyio
from pathlib import Path
from codex_mcp.agent.exec.unified import ExecCommandRequest, UnifiedExecManager

async def main():
    a, b, c, cwd = sys.argv[1:5]
    env = {"PATH": "/usr/bin:/bin"}
    async with UnifiedExecManager() as m:
        ids = []
        for argv, tty in ((["/bin/bash", "-c", f"setsid sleep {a} & sleep {a}"], True),
                          (["/bin/sh", "-c", f"( (sleep {b} &) & ); sleep {b}"], False),
                          (["/bin/sh", "-c", f"nohup sleep {c} >/dev/null 2>&1 & sleep {c}"], True)):
            out = await m.exec_command(ExecCommandRequest(argv, Path(cwd), env, tty=tty, yield_time_ms=500),
                                       boundary=None)
            ids.append(out.session_id)
        print(json.dumps(ids), flush=True)
        await anyio.sleep_forever()

anyio.run(main)
"""


def test_sessions_die_with_their_owner_killed_by_sigkill(tmp_path: Path, naps: list[str]) -> None:
    a, b, c = fresh(naps), fresh(naps), fresh(naps)
    owner = subprocess.Popen([PY, "-c", OWNER, a, b, c, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        ids = json.loads(owner.stdout.readline())
        assert all(isinstance(i, int) for i in ids), ids
        before = sleepers(a) + sleepers(b) + sleepers(c)
        assert len(before) >= 6 and all(alive(p) for p in before), before
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        assert wait_dead(before, 10) == []
    finally:
        owner.kill()
        owner.wait(10)


PRINTER = r"""
import json, sys, anyio
from pathlib import Path
from codex_mcp.agent.exec.events import ExecEvents
from codex_mcp.agent.exec.unified import ExecCommandRequest, UnifiedExecManager

WRITER = "import sys\nw = sys.stdout.buffer.write\nfor _ in range(100 * 1024): w(b'x' * 1023 + b'\\n')\n"

async def main():
    async def emit(msg):
        pass

    async with UnifiedExecManager() as m:
        first = await m.exec_command(
            ExecCommandRequest([sys.executable, "-c", WRITER], Path(sys.argv[1]), {"PATH": "/usr/bin:/bin"},
                               tty=True, yield_time_ms=250), boundary=None, events=ExecEvents("c", "t", emit))
        total, last = first.original_token_count, first
        while last.session_id is not None:
            last = await m.write_stdin(last.session_id, "x", yield_time_ms=2000)
            total += last.original_token_count
    # VmHWM, not ru_maxrss: the latter includes the peak of the parent we were spawned from.
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"tokens": total, "peak_kib": peak}))

anyio.run(main)
"""


def test_printing_100_mib_keeps_the_owner_small(tmp_path: Path) -> None:
    proc = subprocess.run([PY, "-c", PRINTER, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    # Everything was seen (a terminal turns each "\n" into "\r\n", and a typed "x" may echo)...
    assert doc["tokens"] >= 100 * 1024 * 1024 // 4
    # ... by a process that stayed small.
    assert doc["peak_kib"] < 100 * 1024, doc


async def test_a_cancelled_owner_still_ends_its_sessions(tmp_path: Path, naps: list[str]) -> None:
    never_opened = UnifiedExecManager()
    await never_opened.aclose()  # returns at once
    duration = fresh(naps)
    m = UnifiedExecManager()
    async with anyio.create_task_group() as tg:
        await m.open(tg)
        out = await m.exec_command(
            request(
                ["/bin/sh", "-c", f"setsid sleep {duration} & sleep {duration}"], tmp_path, yield_time_ms=300
            ),
            boundary=None,
        )
        assert out.session_id is not None and len(sleepers(duration)) == 2
        tg.cancel_scope.cancel()  # the thread's task group goes away without closing us
    assert await gone(sleepers(duration)) == []


async def test_closing_while_a_call_waits_answers_that_call(tmp_path: Path) -> None:
    async with UnifiedExecManager() as m:
        first = await m.exec_command(
            request(["sleep", "60"], tmp_path, tty=True, yield_time_ms=250), boundary=None
        )
        assert first.session_id is not None
        answers = []

        async def poll() -> None:
            answers.append(await m.write_stdin(first.session_id or 0, "", yield_time_ms=20_000))

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.lowlevel.checkpoint()  # the poll runs up to its wait
            assert m._store[first.session_id].active_calls == 1
            await m.aclose()
        assert time.monotonic() - started < 10
        assert answers[0].session_id is None and answers[0].exit_code in (143, 137)
