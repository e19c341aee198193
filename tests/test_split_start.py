"""Start-up in two processes: a forked child answers the handshake, the server takes over.

Judged from outside: what the client reads, which processes exist, how the server exits.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from pathlib import Path

import pytest

from codex_mcp import split_start
from codex_mcp.split_start import _Steps
from tests.support.raw_client import descendant_pids, result_of, text_of, wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, initialize

pytestmark = pytest.mark.timeout(60)

FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}
SPLIT = {"CODEX_MCP_SPLIT_START": "1"}
"""Split whatever the machine's load (the split is opt-in)."""
HANDOVER_BOUND_S = 20.0
"""Far above the warm-up (a few hundred ms), far below a hang."""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_call_sent_at_once_is_served_by_the_process_the_client_started(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    scripted_model.text("first answer")
    client = spawn_server(env=SPLIT)
    client.call("tools/list")
    rid = client.call_tool("codex", {"prompt": "hi", **FULL})
    assert text_of(result_of(client.wait_response(rid))) == "first answer"
    assert "session_configured" in client.event_types(rid)
    wait_until(lambda: not descendant_pids(client.proc.pid), HANDOVER_BOUND_S, "the child to exit")
    assert client.proc.poll() is None


def test_an_idle_client_is_handed_over_without_sending_anything(spawn_server: ServerFactory) -> None:
    client = spawn_server(env=SPLIT)
    assert [t["name"] for t in result_of(client.call("tools/list"))["tools"]] == ["codex", "codex-reply"]
    wait_until(lambda: not descendant_pids(client.proc.pid), HANDOVER_BOUND_S, "the hand-over")
    assert "result" in client.call("ping")
    again = client.call("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {}})
    assert "already" in again["error"]["message"] or "more than once" in again["error"]["message"]


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_the_negotiated_revision_survives_the_hand_over(spawn_server: ServerFactory, version: str) -> None:
    client = spawn_server(init=False, env=SPLIT)
    initialize(client, {}, version=version)
    wait_until(lambda: not descendant_pids(client.proc.pid), HANDOVER_BOUND_S, "the hand-over")
    tools = result_of(client.call("tools/list"))["tools"]
    assert all(("icons" in tool) == (version == "2025-11-25") for tool in tools)


def test_a_line_split_across_the_hand_over_is_read_whole(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    scripted_model.text("whole")
    client = spawn_server(env=SPLIT)
    line = (
        b'{"jsonrpc":"2.0","id":"split","method":"tools/call","params":{"name":"codex",'
        b'"arguments":{"prompt":"x","sandbox":"danger-full-access","approval-policy":"never"}}}\n'
    )
    assert client.proc.stdin is not None
    client.proc.stdin.write(line[:40])
    client.proc.stdin.flush()
    wait_until(lambda: not descendant_pids(client.proc.pid), HANDOVER_BOUND_S, "the hand-over")
    client.proc.stdin.write(line[40:])
    client.proc.stdin.flush()
    assert text_of(result_of(client.wait_response("split"))) == "whole"


def test_a_broken_configuration_is_reported_once_and_exits_2(
    spawn_server: ServerFactory, codex_home: Path
) -> None:
    (codex_home / "config.toml").write_text("model = [unclosed\n")
    client = spawn_server(init=False, env=SPLIT)
    assert client.wait_exit(30) == 2
    assert client.stderr_text().count("error in configuration") == 1, client.stderr_tail()
    assert client.messages == []


def test_the_handshake_child_dies_with_the_server(spawn_server: ServerFactory) -> None:
    """Killed before it took over, the server leaves no child answering its stdin."""
    client = spawn_server(init=False, env=SPLIT)
    wait_until(lambda: bool(descendant_pids(client.proc.pid)), 30, "the handshake child")
    child = descendant_pids(client.proc.pid)[0]
    os.kill(client.proc.pid, signal.SIGKILL)
    client.wait_exit(10)
    wait_until(lambda: not _alive(child), 10, "the orphaned handshake child to die")


def test_a_killed_handshake_child_makes_the_server_exit(spawn_server: ServerFactory) -> None:
    """The server cannot know what the client was told: it exits (non-zero) instead of guessing."""
    client = spawn_server(init=False, env=SPLIT)
    wait_until(lambda: bool(descendant_pids(client.proc.pid)), 30, "the handshake child")
    os.kill(descendant_pids(client.proc.pid)[0], signal.SIGKILL)
    assert client.wait_exit(30) == 1, client.stderr_tail()
    assert "without handing over" in client.stderr_text(), client.stderr_tail()


def test_input_closed_during_the_handshake_exits_0(spawn_server: ServerFactory) -> None:
    client = spawn_server(env=SPLIT)
    client.close_stdin()
    assert client.wait_exit(30) == 0


@pytest.mark.parametrize("setting", [{}, {"CODEX_MCP_SPLIT_START": "0"}], ids=["default", "off"])
def test_one_process_unless_split_start_is_asked_for(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, setting: dict[str, str]
) -> None:
    scripted_model.text("single")
    client = spawn_server(env=setting)
    client.call("tools/list")
    assert descendant_pids(client.proc.pid) == []
    rid = client.call_tool("codex", {"prompt": "hi", **FULL})
    assert text_of(result_of(client.wait_response(rid))) == "single"


def test_the_warm_up_steps_run_once_each_and_can_be_taken_over() -> None:
    """The worker runs steps in order until the server's thread takes over; the step the
    worker is in finishes there, every other step runs once, in the taking thread."""
    ran: list[tuple[int, str]] = []
    in_step_2 = threading.Event()
    release = threading.Event()

    def step(i: int) -> None:
        ran.append((i, threading.current_thread().name))
        if i == 2:
            in_step_2.set()
            assert release.wait(10)

    queue = _Steps([functools.partial(step, i) for i in range(5)])
    worker = threading.Thread(target=queue.run_until_taken, name="worker")
    worker.start()
    assert in_step_2.wait(10)
    queue.take_over()
    queue.run_until_taken()
    release.set()
    worker.join(10)
    assert sorted(i for i, _ in ran) == [0, 1, 2, 3, 4]
    assert {i: name for i, name in ran} == {
        0: "worker",
        1: "worker",
        2: "worker",
        3: threading.current_thread().name,
        4: threading.current_thread().name,
    }


@pytest.mark.parametrize(
    ("setting", "load", "expected"),
    [("1", 9.0, True), ("0", 0.0, False), ("auto", 0.2, True), ("auto", 1.5, False), (None, 0.0, False)],
)
def test_the_split_is_opt_in_and_auto_needs_a_spare_core(
    monkeypatch: pytest.MonkeyPatch, setting: str | None, load: float, expected: bool
) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    env = {} if setting is None else {"CODEX_MCP_SPLIT_START": setting}
    assert split_start.enabled(env) is expected
