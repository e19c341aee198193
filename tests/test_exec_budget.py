"""The server-wide budget of live command processes: the accounting on its own, then shared
by real process-session managers (unsandboxed; the sandboxed runs through the server are
`tests/security/test_exec_cap_*.py`).

What must hold: never more than the limit, whatever the concurrency; a refusal changes
nothing and spawns nothing; every way a process ends gives its slot back, exactly once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from codex_mcp.agent.config import ConfigError, load_config
from codex_mcp.agent.config.model import DEFAULT_EXEC_SERVER_MAX_PROCESSES
from codex_mcp.agent.exec import unified
from codex_mcp.agent.exec.budget import ProcessBudget, ProcessLimitError
from codex_mcp.agent.exec.unified import CreateProcessError, ExecCommandRequest, UnifiedExecManager
from tests.exec_sessions_support import request
from tests.security.backends_support import kill_all, nap, sleepers, wait_dead

linux = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="process sessions are tested on Linux"
)


# ---- the accounting ---------------------------------------------------------------------------


def test_slots_up_to_the_limit_then_none() -> None:
    budget = ProcessBudget(3)
    slots = [budget.try_take() for _ in range(3)]
    assert all(s is not None for s in slots) and budget.live == 3
    assert budget.try_take() is None and budget.live == 3  # a refusal changes nothing
    with pytest.raises(ProcessLimitError) as info:
        budget.take(own=2)
    text = str(info.value)
    assert "3 processes" in text and "exec_server_max_processes" in text and "write_stdin" in text
    assert "2 of them are yours" in text and budget.live == 3


def test_release_is_idempotent_and_makes_room() -> None:
    budget = ProcessBudget(1)
    slot = budget.take(own=0)
    assert slot.held
    slot.release()
    slot.release()  # twice: counted once
    assert not slot.held and budget.live == 0
    again = budget.take(own=0)
    assert budget.try_take() is None
    again.release()
    assert budget.live == 0


def test_the_limit_is_set_once_and_needed_before_taking() -> None:
    budget = ProcessBudget()
    with pytest.raises(RuntimeError):
        budget.try_take()
    budget.configure(2)
    budget.configure(50)  # the first setting is the server's: a later one does not widen it
    assert budget.limit == 2
    with pytest.raises(ValueError):
        ProcessBudget(0)


def test_threads_taking_at_once_never_overshoot() -> None:
    """64 OS threads released together by a barrier, each taking 50 times: at most `limit`
    are ever held, and everything comes back."""
    budget, limit = ProcessBudget(7), 7
    barrier = threading.Barrier(64)
    peak, lock, granted = [0], threading.Lock(), [0]

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            slot = budget.try_take()
            if slot is None:
                continue
            with lock:
                granted[0] += 1
                peak[0] = max(peak[0], budget.live)
            slot.release()

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert granted[0] > 0 and peak[0] <= limit and budget.live == 0


# ---- the config key -----------------------------------------------------------------------------


def load(home: Path, toml: str) -> int:
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(toml, encoding="utf-8")
    return load_config(home, cwd=home).server.exec_server_max_processes


def test_config_default_and_values(tmp_path: Path) -> None:
    assert load(tmp_path, "") == DEFAULT_EXEC_SERVER_MAX_PROCESSES == 256
    assert load(tmp_path, "[codex_mcp]\nexec_server_max_processes = 12\n") == 12


@pytest.mark.parametrize("value", ["0", "-3", "1.5", '"many"', "true"])
def test_config_other_values_are_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"[codex_mcp]\nexec_server_max_processes = {value}\n")
    assert info.value.key == "codex_mcp.exec_server_max_processes"


@pytest.mark.anyio
async def test_codex_reads_the_limit_from_the_servers_config(tmp_path: Path) -> None:
    from codex_mcp.agent.codex import Codex

    (tmp_path / "config.toml").write_text("[codex_mcp]\nexec_server_max_processes = 5\n")
    async with Codex(codex_home=tmp_path, cwd=tmp_path, env={}) as codex:
        assert codex.exec_budget() is codex.exec_budget()
        assert codex.exec_budget().limit == 5
    shared = ProcessBudget()
    overrides = [(["codex_mcp", "exec_server_max_processes"], 9)]
    async with (
        Codex(codex_home=tmp_path, cwd=tmp_path, env={}, exec_budget=shared, cli_overrides=overrides) as a,
        Codex(codex_home=tmp_path, cwd=tmp_path, env={}, exec_budget=shared) as b,
    ):
        assert a.exec_budget() is b.exec_budget() is shared and shared.limit == 9  # `-c` wins


# ---- shared by real managers --------------------------------------------------------------------


@pytest.fixture
def naps() -> Iterator[list[str]]:
    used: list[str] = []
    yield used
    for duration in used:
        kill_all(sleepers(duration))


def sleeper(naps: list[str], cwd: Path, yield_ms: int = 250) -> tuple[str, ExecCommandRequest]:
    duration = nap()
    naps.append(duration)
    return duration, request(["sleep", duration], cwd, yield_time_ms=yield_ms)


@linux
@pytest.mark.anyio
async def test_managers_share_the_limit_and_never_end_each_others(tmp_path: Path, naps: list[str]) -> None:
    budget = ProcessBudget(3)
    async with UnifiedExecManager(budget=budget) as a, UnifiedExecManager(budget=budget) as b:
        mine = []
        for _ in range(2):
            duration, req = sleeper(naps, tmp_path)
            out = await a.exec_command(req, boundary=None)
            assert out.session_id is not None
            mine.append(duration)
        duration, req = sleeper(naps, tmp_path)
        assert (await b.exec_command(req, boundary=None)).session_id is not None
        assert budget.live == 3
        marker = tmp_path / "spawned"
        with pytest.raises(ProcessLimitError) as info:
            await b.exec_command(request(["touch", str(marker)], tmp_path), boundary=None)
        assert "1 of them are yours" in str(info.value)
        assert not marker.exists() and budget.live == 3  # nothing spawned, nothing counted
        assert all(len(sleepers(d)) == 1 for d in mine)  # a's sessions untouched
        assert await a.terminate_session(a.session_ids()[0])
        out = await b.exec_command(request(["true"], tmp_path, yield_time_ms=5000), boundary=None)
        assert out.exit_code == 0
    assert budget.live == 0 and not wait_dead([p for d in naps for p in sleepers(d)], 10)


@linux
@pytest.mark.anyio
async def test_every_ending_gives_the_slot_back(tmp_path: Path, naps: list[str]) -> None:
    """Exit, kill (terminate), prune, spawn failure, missing cwd, cancelled call, manager
    closed: many cycles of each, and the count is 0 at the end (it never drifts up)."""
    budget = ProcessBudget(4)
    for _cycle in range(5):
        async with UnifiedExecManager(budget=budget, max_sessions=2, warning_sessions=2) as m:
            out = await m.exec_command(request(["true"], tmp_path, yield_time_ms=5000), boundary=None)
            assert out.exit_code == 0  # exited inside the call
            with pytest.raises(CreateProcessError):
                await m.exec_command(request(["/nonexistent/program"], tmp_path), boundary=None)
            with pytest.raises(CreateProcessError):
                await m.exec_command(request(["true"], tmp_path / "missing"), boundary=None)
            with anyio.move_on_after(0.5):  # cancelled while the call waits on a live process
                await m.exec_command(sleeper(naps, tmp_path, yield_ms=30_000)[1], boundary=None)
            for _ in range(3):  # the third prunes the least recently used (per-thread cap 2)
                out = await m.exec_command(sleeper(naps, tmp_path)[1], boundary=None)
                assert out.session_id is not None
            assert await m.terminate_session(m.session_ids()[0])
            # left open: one session, ended by the close
        await anyio.lowlevel.checkpoint()
        assert budget.live == 0, f"the count drifted to {budget.live}"
    assert not wait_dead([p for d in naps for p in sleepers(d)], 10)


@linux
@pytest.mark.anyio
async def test_concurrent_starts_never_overshoot(tmp_path: Path, naps: list[str]) -> None:
    """24 commands started at the same instant from 4 managers sharing a limit of 5: exactly
    5 run, the rest are refused, and at no moment are more than 5 counted."""
    budget = ProcessBudget(5)
    peak = [0]
    ran: list[int] = []
    refused: list[str] = []
    start = anyio.Event()
    async with (
        UnifiedExecManager(budget=budget) as m1,
        UnifiedExecManager(budget=budget) as m2,
        UnifiedExecManager(budget=budget) as m3,
        UnifiedExecManager(budget=budget) as m4,
    ):

        async def one(m: UnifiedExecManager) -> None:
            req = sleeper(naps, tmp_path)[1]
            await start.wait()
            try:
                out = await m.exec_command(req, boundary=None)
            except ProcessLimitError as exc:
                refused.append(str(exc))
            else:
                assert out.session_id is not None
                ran.append(out.session_id)
            peak[0] = max(peak[0], budget.live)

        async with anyio.create_task_group() as tg:
            for i in range(24):
                tg.start_soon(one, (m1, m2, m3, m4)[i % 4])
            await anyio.wait_all_tasks_blocked()
            start.set()
        assert len(ran) == 5 and len(refused) == 19 and peak[0] <= 5
        assert sum(len(sleepers(d)) for d in naps) == 5
    assert budget.live == 0


def test_unified_exports_the_refusal() -> None:
    assert unified.ProcessLimitError is ProcessLimitError


@linux
@pytest.mark.anyio
async def test_one_shot_slots_count_the_threads_sessions_as_its_own(tmp_path: Path, naps: list[str]) -> None:
    """`ThreadSessions.take_slot` (what one-shot `shell`/`shell_command` commands take while
    they run) shares the server's budget with the thread's sessions: the refusal says how
    many of the live processes are the thread's, and a slot given back makes room."""
    from codex_mcp.agent.exec.sessions_host import ThreadSessions

    budget = ProcessBudget(2)
    async with anyio.create_task_group() as tg:
        sessions = ThreadSessions(tg, max_lifetime_s=60, budget=lambda: budget)
        assert ThreadSessions(tg, max_lifetime_s=60).take_slot() is None  # no budget kept
        manager = await sessions.manager()
        out = await manager.exec_command(sleeper(naps, tmp_path)[1], boundary=None)
        assert out.session_id is not None
        one_shot = sessions.take_slot()
        assert one_shot is not None and budget.live == 2
        with pytest.raises(ProcessLimitError) as info:
            sessions.take_slot()
        assert "1 of them are yours" in str(info.value) and budget.live == 2
        one_shot.release()
        again = sessions.take_slot()
        assert again is not None and budget.live == 2
        again.release()
        await sessions.aclose()
    assert budget.live == 0 and not wait_dead([p for d in naps for p in sleepers(d)], 10)
