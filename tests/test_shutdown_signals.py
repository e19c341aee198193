"""SIGINT / SIGTERM end the server cleanly, judged from outside: the process exits with the
conventional code, every process it started is gone, and every rollout is intact (each line
whole JSON, an interrupted turn recorded as aborted).

How fast an idle server exits is measured in `bench/bench_shutdown.py`, not asserted here;
the bounds below only say "it exits, it does not hang".
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http_server import HttpServerProcess
from tests.support.raw_client import RawClient, descendant_pids, result_of, wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, server_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}
EXIT_WITHIN = 10.0
"""A bound, not a speed: the server must not hang on its way out."""


def gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def rollout_lines(codex_home: Path) -> list[dict[str, Any]]:
    """Every line of every rollout file, each of which must be a whole JSON object."""
    lines: list[dict[str, Any]] = []
    files = sorted((codex_home / "sessions").glob("*/*/*/rollout-*.jsonl"))
    assert files, "no rollout file was written"
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n"), f"{path.name} ends in a torn line"
        lines.extend(json.loads(line) for line in text.splitlines())
    return lines


def event_types(lines: list[dict[str, Any]]) -> list[str]:
    return [str(line["payload"].get("type")) for line in lines if line.get("type") == "event_msg"]


def running(argv: list[str]) -> list[int]:
    """Host pids of the processes running exactly `argv` (a sandboxed command's own `$$`
    is a number in its PID namespace, so commands are found by what they run)."""
    wanted = ("\0".join(argv) + "\0").encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "cmdline").read_bytes() == wanted and not gone(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def start_long_command(
    client: RawClient, model: ScriptedModel, sandbox: str, command: str
) -> tuple[list[str], list[int]]:
    """A call whose command runs until killed.  Returns (the argv of its long-running
    process, every process the server had started by then)."""
    marker = f"{random.randrange(10**6, 10**7)}.5"  # a sleep no other test runs
    model.shell(command.replace("MARK", marker))
    model.text("never reached")
    client.call_tool("codex", {"prompt": "run it", "sandbox": sandbox, "approval-policy": "never"})
    argv = ["sleep", marker]
    wait_until(lambda: bool(running(argv)), 30, "the command to start")
    return argv, descendant_pids(client.proc.pid)


LONG = "exec sleep MARK"
DEAF = "trap '' TERM INT; sleep MARK; sleep MARK"
"""A command whose shell ignores the polite signals: only SIGKILL ends it."""


SPLIT_START = pytest.mark.parametrize("split", ["0", "1"], ids=["one-process", "split-start"])


@SPLIT_START
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_idle_server_exits_with_the_signals_code(
    spawn_server: ServerFactory, signum: int, split: str
) -> None:
    client = spawn_server(env={"CODEX_MCP_SPLIT_START": split})
    result = client.call("tools/call", {"name": "codex", "arguments": {}})  # into the event loop
    assert result_of(result)["isError"] is True
    started = descendant_pids(client.proc.pid)
    client.proc.send_signal(signum)
    assert client.wait_exit(EXIT_WITHIN) == 128 + signum
    assert all(gone(pid) for pid in started), [p for p in started if not gone(p)]


@SPLIT_START
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_handshake_ends_the_process(
    spawn_server: ServerFactory, signum: int, split: str
) -> None:
    # answered by the synchronous handshake (split: by the forked child while this process
    # warms up); no event loop yet
    client = spawn_server(env={"CODEX_MCP_SPLIT_START": split})
    started = descendant_pids(client.proc.pid)
    client.proc.send_signal(signum)
    assert client.wait_exit(EXIT_WITHIN) == 128 + signum
    wait_until(lambda: all(gone(pid) for pid in started), 5, "the start-up child to end")


@pytest.mark.parametrize("sandbox", ["danger-full-access", "workspace-write"])
def test_busy_server_interrupts_the_turn_reaps_and_keeps_the_rollout(
    spawn_server: ServerFactory,
    scripted_model: ScriptedModel,
    workspace: Path,
    codex_home: Path,
    sandbox: str,
) -> None:
    client = spawn_server()
    argv, started = start_long_command(client, scripted_model, sandbox, LONG)
    client.proc.send_signal(signal.SIGTERM)
    assert client.wait_exit(EXIT_WITHIN) == 128 + signal.SIGTERM
    wait_until(lambda: not running(argv), 5, "the command to be killed")
    assert all(gone(p) for p in started), [p for p in started if not gone(p)]
    kinds = event_types(rollout_lines(codex_home))
    assert kinds[-1] == "turn_aborted", kinds
    assert "task_complete" not in kinds


def test_claude_codes_escalation_kills_a_deaf_command_and_still_records_the_abort(
    spawn_server: ServerFactory, scripted_model: ScriptedModel, workspace: Path, codex_home: Path
) -> None:
    """SIGINT then SIGTERM (what Claude Code sends 100 ms apart) on a command that ignores
    both: the second signal skips the grace, the command is killed, the turn is recorded."""
    client = spawn_server(env={"CODEX_MCP_LOG": "info"})
    argv, started = start_long_command(client, scripted_model, "danger-full-access", DEAF)
    client.proc.send_signal(signal.SIGINT)
    wait_until(lambda: "SIGINT: shutting down" in client.stderr_text(), 10, "the first signal's turn")
    client.proc.send_signal(signal.SIGTERM)
    assert client.wait_exit(EXIT_WITHIN) == 128 + signal.SIGINT, "the first signal names the exit"
    wait_until(lambda: not running(argv), 5, "the deaf command to be killed")
    assert all(gone(p) for p in started)
    assert event_types(rollout_lines(codex_home))[-1] == "turn_aborted"


def test_a_third_signal_exits_at_once_and_the_keepers_still_kill_the_command(
    spawn_server: ServerFactory, scripted_model: ScriptedModel, workspace: Path, codex_home: Path
) -> None:
    client = spawn_server()
    argv, started = start_long_command(client, scripted_model, "danger-full-access", DEAF)
    for _ in range(3):
        client.proc.send_signal(signal.SIGINT)
    assert client.wait_exit(EXIT_WITHIN) == 128 + signal.SIGINT
    wait_until(lambda: not running(argv), 10, "the command to be killed")
    wait_until(lambda: all(gone(p) for p in started), 10, "every process the server started to end")
    rollout_lines(codex_home)  # whatever was written is whole lines


def test_a_process_session_left_running_ends_with_the_server(
    spawn_server: ServerFactory, scripted_model: ScriptedModel
) -> None:
    """A command the model left running in a process session (`exec_command` yields, the turn
    ends, the command goes on): the server is idle, and a stop signal still reaps it."""
    from tests.execwire_support import exec_command

    client = spawn_server()
    marker = f"{random.randrange(10**6, 10**7)}.5"
    exec_command(scripted_model, f"exec sleep {marker}", yield_ms=250)
    scripted_model.text("left it running")
    result = client.call_tool("codex", {"prompt": "start it", **FULL})
    assert result_of(client.wait_response(result, 30))["structuredContent"]["content"] == "left it running"
    argv = ["sleep", marker]
    # It runs after its turn (on a busy machine its shell may exec `sleep` only after the
    # 250 ms window the turn waited).
    wait_until(lambda: bool(running(argv)), 15, "the session's command to run after its turn")
    started = descendant_pids(client.proc.pid)
    client.proc.send_signal(signal.SIGTERM)
    assert client.wait_exit(EXIT_WITHIN) == 128 + signal.SIGTERM
    wait_until(lambda: not running(argv), 5, "the session's command to be killed")
    assert all(gone(p) for p in started), [p for p in started if not gone(p)]


def test_http_server_ends_its_sessions_calls_on_sigterm(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    server = HttpServerProcess(["--http", "127.0.0.1:0"], server_env(codex_home), workspace)
    try:
        url = server.url()
        marker = f"{random.randrange(10**6, 10**7)}.5"
        scripted_model.shell(LONG.replace("MARK", marker))
        scripted_model.text("never reached")
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        with httpx.Client(timeout=30, trust_env=False) as http:
            init = http.post(
                url,
                headers=headers,
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"},
                    },
                },
            )
            session = {**headers, "mcp-session-id": init.headers["mcp-session-id"]}
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "codex",
                    "arguments": {
                        "prompt": "run",
                        "sandbox": "danger-full-access",
                        "approval-policy": "never",
                    },
                },
            }
            with http.stream("POST", url, headers=session, json=call) as response:
                assert response.status_code == 200
                argv = ["sleep", marker]
                wait_until(lambda: bool(running(argv)), 30, "the command to start")
                started = descendant_pids(server.proc.pid)
                server.proc.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + EXIT_WITHIN
                for _ in response.iter_bytes():  # the stream ends with the session
                    assert time.monotonic() < deadline
        assert server.proc.wait(EXIT_WITHIN) == 0, "a daemon stopped on purpose exits 0"
        wait_until(lambda: not running(argv), 5, "the command to be killed")
        assert all(gone(p) for p in started)
        assert event_types(rollout_lines(codex_home))[-1] == "turn_aborted"
    finally:
        server.kill()
        if os.environ.get("SHOW_SERVER_LOG"):
            print(server.stderr())
