"""One turn at a time per thread across processes: the rollout lock, and a thread continued
by whoever holds it next.

Two `Codex` instances on one CODEX_HOME stand for two server processes (they share nothing
but the files; the lock is per open file, so it excludes them exactly as it excludes two
processes, which `test_a_lock_held_by_another_process_*` shows with a real one).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp import Codex, ThreadBusy
from codex_mcp.agent.rollout import RolloutRecorder
from codex_mcp.agent.rollout_lock import RolloutLock
from tests.support.model_turns import text_turn
from tests.support.scripted_model import ScriptedModel
from tests.support.server import write_config

pytestmark = pytest.mark.anyio

ENV = {"MOCK_API_KEY": "k", "PATH": "/usr/bin:/bin"}
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def rollout(tmp_path: Path) -> Path:
    path = tmp_path / "rollout-x.jsonl"
    RolloutRecorder.create(path).record("session_meta", {"id": "x"})
    return path


def test_two_holders_exclude_each_other_even_in_one_process(tmp_path: Path) -> None:
    path = rollout(tmp_path)
    first, second = RolloutLock(path), RolloutLock(path)
    assert first.try_acquire()
    assert not second.try_acquire()
    with pytest.raises(ThreadBusy) as busy:
        second.acquire("thread-1")
    assert "thread-1" in str(busy.value) and "one turn at a time" in str(busy.value)
    first.release()
    assert second.try_acquire()
    second.release()


def test_a_lock_held_by_another_process_refuses_us_and_dies_with_it(tmp_path: Path) -> None:
    path = rollout(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert not RolloutLock(path).try_acquire()
    finally:
        holder.kill()  # a crash: nothing unlocks on purpose
        holder.wait()
    lock = RolloutLock(path)
    assert lock.try_acquire(), "the kernel released the dead holder's lock"
    lock.release()


def test_a_rollout_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "rollout-link.jsonl"
    link.symlink_to(rollout(tmp_path))
    from codex_mcp.errors import RolloutError

    with pytest.raises(RolloutError):
        RolloutLock(link).try_acquire()


def test_the_recorder_notices_lines_appended_elsewhere_and_resyncs(tmp_path: Path) -> None:
    path = tmp_path / "rollout-y.jsonl"
    recorder = RolloutRecorder.create(path)
    recorder.record("session_meta", {"id": "y"})
    assert not recorder.changed_elsewhere()
    with open(path, "a", encoding="utf-8") as other:
        other.write('{"timestamp": "t", "type": "response_item", "payload": {"half": ')  # torn
    assert recorder.changed_elsewhere()
    recorder.resync()
    assert not recorder.changed_elsewhere()
    recorder.record("event_msg", {"type": "x"})
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["payload"] == {"type": "x"}, "our line is whole, after the torn one"


# -- two agents on one CODEX_HOME -----------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, scripted_model: ScriptedModel) -> Path:
    home = tmp_path / "home"
    write_config(home, scripted_model)
    return home


async def run_turn(thread: Any, prompt: str) -> Any:
    with anyio.fail_after(20):
        return await thread.run(prompt)


async def test_a_thread_continues_in_whichever_agent_runs_its_next_turn(
    home: Path, tmp_path: Path, scripted_model: ScriptedModel
) -> None:
    scripted_model.text("one")
    scripted_model.text("two")
    scripted_model.text("three")
    async with (
        Codex(codex_home=home, cwd=tmp_path, env=ENV) as a,
        Codex(codex_home=home, cwd=tmp_path, env=ENV) as b,
    ):
        thread = await a.start_thread(sandbox="read-only")
        assert (await run_turn(thread, "first from a")).final_message == "one"
        resumed = await b.resume_thread(thread.thread_id)
        assert (await run_turn(resumed, "second from b")).final_message == "two"
        # `a` still has the thread in memory, from before b's turn: its next turn takes it up.
        assert (await run_turn(thread, "third from a")).final_message == "three"
    third = scripted_model.wait_requests(3)[2]
    texts = str(third.items())
    assert "second from b" in texts and "two" in texts, "a's model saw b's turn"
    lines = [json.loads(line) for line in thread.rollout_path.read_text().splitlines()]
    users = [
        line["payload"]["message"]
        for line in lines
        if line["type"] == "event_msg" and line["payload"].get("type") == "user_message"
    ]
    assert users == ["first from a", "second from b", "third from a"]


async def test_a_turn_running_in_one_agent_refuses_the_others_resume_and_turn(
    home: Path, tmp_path: Path, scripted_model: ScriptedModel
) -> None:
    scripted_model.text("warm")
    gate = scripted_model.hold(then=text_turn("a's long answer"))
    scripted_model.text("b after all")
    async with (
        Codex(codex_home=home, cwd=tmp_path, env=ENV) as a,
        Codex(codex_home=home, cwd=tmp_path, env=ENV) as b,
    ):
        thread = await a.start_thread(sandbox="read-only")
        await run_turn(thread, "warm up")
        b_thread = await b.resume_thread(thread.thread_id)  # b knows the thread, idle
        async with anyio.create_task_group() as group:
            results: list[Any] = []

            async def long_turn() -> None:
                results.append(await run_turn(thread, "long one in a"))

            group.start_soon(long_turn)
            await anyio.to_thread.run_sync(gate.wait_arrived)
            assert await resume_in_a_new_agent(home, tmp_path, thread.thread_id) == "busy"
            refused = await run_turn(b_thread, "b meanwhile")
            assert refused.status == "failed" and "one turn at a time" in (refused.error or "")
            gate.release()
        assert results[0].final_message == "a's long answer"
        assert (await run_turn(b_thread, "b after a")).final_message == "b after all"
    lines = [json.loads(line) for line in thread.rollout_path.read_text().splitlines()]
    kinds = [
        line["payload"].get("message")
        for line in lines
        if line["type"] == "event_msg" and line["payload"].get("type") == "user_message"
    ]
    assert kinds == ["warm up", "long one in a", "b after a"], "the refused turn wrote nothing"


async def resume_in_a_new_agent(home: Path, tmp_path: Path, thread_id: str) -> str:
    """A third agent that has never seen the thread tries to resume it."""
    async with Codex(codex_home=home, cwd=tmp_path, env=ENV) as c:
        try:
            await c.resume_thread(thread_id)
        except ThreadBusy:
            return "busy"
    return "resumed"
