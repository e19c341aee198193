"""When process sessions end, judged from outside (the kernel's process list).

* An interrupted turn (the client cancels its call) leaves the thread's sessions running, as
  the reference does; the `exec_command` the interrupt cut short, whose session id the model
  never got, is killed.
* A closed thread, an evicted one and the owner leaving its block end every session of the
  thread, `setsid` and `nohup` descendants included (through the embedding API, where
  eviction can be provoked with a small thread limit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from codex_mcp import Codex, load_config
from codex_mcp.agent.config import CallOverrides
from tests.execwire_support import after, exec_command, session_id_in
from tests.security.backends_support import alive, kill_all, nap, sleepers, wait_dead
from tests.security.harness import run_call
from tests.support.model_wire import responses_events, sse_reply
from tests.support.raw_client import result_of, text_of, wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(120)

FULL = {"sandbox": "danger-full-access"}
SPAWNS = "setsid sleep {d} & (setsid sh -c 'sleep {d} &' &); nohup sleep {d} >/dev/null 2>&1 & exec sleep {d}"


def test_an_interrupted_turn_leaves_sessions_running(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    kept, cut = nap(), nap()
    start = exec_command(scripted_model, f"exec sleep {kept}", yield_ms=250)
    scripted_model.text("started")
    # The next turn runs a command the interrupt cuts short, before it answered.
    exec_command(scripted_model, f"exec sleep {cut}", yield_ms=30_000)
    poll = after(scripted_model, start, "", yield_ms=5000)
    scripted_model.text("still there")
    client = spawn_server()
    try:
        first = run_call(client, approval="never", **FULL)
        thread_id = first["structuredContent"]["threadId"]
        # The session outlives its turn; on a busy machine its shell may exec `sleep` only
        # after the 250 ms window the turn waited.
        wait_until(lambda: len(sleepers(kept)) == 1, 15, "the session's command")
        (session_pid,) = sleepers(kept)
        held = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "run it"})
        wait_until(lambda: len(sleepers(cut)) == 1, 15, "the second command")
        (cut_pid,) = sleepers(cut)
        client.notify("notifications/cancelled", {"requestId": held, "reason": "interrupt"})
        assert not wait_dead([cut_pid], 10), "the cut-short command outlived the interrupt"
        assert alive(session_pid), "the session did not survive the interrupt"
        rid = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "poll it"})
        result = result_of(client.wait_response(rid, 60))
        assert text_of(result) == "still there", result
        assert f"Process running with session ID {session_id_in(scripted_model.call_output(start))}" in (
            scripted_model.call_output(poll)
        )
        assert alive(session_pid)
    finally:
        client.kill()
        kill_all(sleepers(kept) + sleepers(cut))


# ---- the embedding API: close, eviction, the owner's exit ---------------------------------------


@pytest.fixture
def home(tmp_path: Path, mock: ScriptedModel) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "mock-model"\nmodel_provider = "mock"\n'
        "[model_providers.mock]\n"
        f'name = "mock"\nbase_url = "{mock.base_url}"\nenv_key = "MOCK_KEY"\nwire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\n"
    )
    return home


ENV = {"MOCK_KEY": "k", "PATH": "/usr/bin:/bin"}


def session_start(mock: ScriptedModel, duration: str) -> None:
    item = {
        "type": "function_call",
        "name": "exec_command",
        "call_id": f"c-{duration}",
        "arguments": json.dumps({"cmd": SPAWNS.format(d=duration), "yield_time_ms": 500}),
    }
    mock.script(
        sse_reply(
            [
                {"type": "response.created", "response": {"id": "r"}},
                {"type": "response.output_item.done", "item": item},
                {"type": "response.completed", "response": {"id": "r"}},
            ]
        ),
        sse_reply(responses_events("started")),
    )


async def gone(duration: str, within: float) -> list[int]:
    """The `sleep <duration>` processes still alive after a bounded wait for all to die,
    waited for in a worker thread: the sessions end in tasks of this event loop."""
    return await anyio.to_thread.run_sync(wait_dead, sleepers(duration), within)


def config(home: Path, tmp_path: Path) -> Any:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    typed = CallOverrides(sandbox_mode="danger-full-access", approval_policy="never")
    return load_config(home, cwd=work, typed=typed, env=ENV)


async def started_thread(codex: Codex, home: Path, tmp_path: Path, mock: ScriptedModel, duration: str) -> Any:
    session_start(mock, duration)
    thread = await codex.start_thread(config(home, tmp_path))
    with anyio.fail_after(30):
        result = await thread.run("start it")
    assert result.final_message == "started", result
    wait_until(lambda: len(sleepers(duration)) == 4, 10, "the session's processes")
    return thread


@pytest.mark.e2e
@pytest.mark.anyio
async def test_closing_a_thread_ends_its_sessions(home: Path, tmp_path: Path, mock: ScriptedModel) -> None:
    mine, other = nap(), nap()
    try:
        async with Codex(env=ENV) as codex:
            thread = await started_thread(codex, home, tmp_path, mock, mine)
            neighbour = await started_thread(codex, home, tmp_path, mock, other)
            with anyio.fail_after(30):
                await thread.close()
            assert not await gone(mine, 5)
            assert len(sleepers(other)) == 4, "another thread's sessions were touched"
            assert neighbour is not None
        # Leaving the owner's block ends the rest.
        assert not wait_dead(sleepers(other), 5)
    finally:
        kill_all(sleepers(mine) + sleepers(other))


@pytest.mark.e2e
@pytest.mark.anyio
async def test_an_evicted_thread_ends_its_sessions(home: Path, tmp_path: Path, mock: ScriptedModel) -> None:
    first, second = nap(), nap()
    try:
        async with Codex(env=ENV, max_idle_threads=1) as codex:
            await started_thread(codex, home, tmp_path, mock, first)
            await started_thread(codex, home, tmp_path, mock, second)  # the first one is evicted
            assert not await gone(first, 10), "an evicted thread's session outlived it"
            assert len(sleepers(second)) == 4
        assert not wait_dead(sleepers(second), 5)
    finally:
        kill_all(sleepers(first) + sleepers(second))
