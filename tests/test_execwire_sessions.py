"""Process sessions through the real server: the model starts a command with `exec_command`
and drives it with `write_stdin` across calls and turns; what it gets back is judged in the
requests it receives, what is left running from outside (the kernel's process list).

No sandbox here (danger-full-access): the sandboxed variants, both backends, root and an
ordinary user, are the attack tests in `tests/security/test_execwire_*.py`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.execwire_support import after, exec_command, exit_code_in, session_id_in
from tests.security.backends_support import kill_all, nap, sleepers, wait_dead
from tests.security.harness import run_call
from tests.support.raw_client import RawClient, result_of, text_of, wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(120)

FULL = {"sandbox": "danger-full-access"}
WALL = re.compile(r"Wall time: (\d+\.\d+) seconds")


def wall(output: str) -> float:
    found = WALL.search(output)
    assert found, output
    return float(found.group(1))


def reply(client: RawClient, thread_id: str, prompt: str = "next") -> dict[str, Any]:
    rid = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": prompt})
    return result_of(client.wait_response(rid, 90))


def test_python_repl_driven_across_calls(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    start = exec_command(scripted_model, "python3 -q -i", tty=True, yield_ms=1000)
    first = after(scripted_model, start, "6 * 7\n", yield_ms=1000)
    second = after(scripted_model, start, "print('abc' * 2)\n", yield_ms=1000)
    done = after(scripted_model, start, "exit()\n", yield_ms=2000)
    scripted_model.text("done")
    client = spawn_server()
    result = run_call(client, approval="never", **FULL)
    assert not result.get("isError"), result
    opened = scripted_model.call_output(start)
    assert opened.startswith("Chunk ID: ") and "Process running with session ID" in opened, opened
    assert "42" in scripted_model.call_output(first)
    assert "abcabc" in scripted_model.call_output(second)
    assert exit_code_in(scripted_model.call_output(done)) == 0


def test_ctrl_c_reaches_the_program_in_the_terminal(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    program = 'python3 -c \'import time; print("sleep" + "ing", flush=True); time.sleep(100)\''
    start = exec_command(scripted_model, program, tty=True, yield_ms=2000)
    interrupt = after(scripted_model, start, "\u0003", yield_ms=3000)
    scripted_model.text("done")
    client = spawn_server()
    run_call(client, approval="never", **FULL)
    assert "sleeping" in scripted_model.call_output(start)
    out = scripted_model.call_output(interrupt)
    assert "KeyboardInterrupt" in out and exit_code_in(out) is not None, out


def test_pipes_without_a_terminal_can_be_polled_but_not_typed_into(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    script = "echo out-1; echo err-1 >&2; read -t 1 x; echo read=$?; sleep 0.3; echo out-2; exec sleep 100"
    start = exec_command(scripted_model, script, yield_ms=250)
    typed = after(scripted_model, start, "hello\n")
    polled = after(scripted_model, start, "", yield_ms=5000)
    scripted_model.text("done")
    client = spawn_server()
    run_call(client, approval="never", **FULL)
    first = scripted_model.call_output(start)
    later = scripted_model.call_output(polled)
    # stdout and stderr, read together.  In the first window or in the poll: that window is
    # 250 ms, which a start may take on a busy machine.
    assert "out-1" in first + later and "err-1" in first + later, (first, later)
    assert scripted_model.call_output(typed) == (
        "write_stdin failed: stdin is closed for this session; rerun exec_command with tty=true to keep "
        "stdin open"
    )
    # stdin is /dev/null: `read` sees end of file at once (status 1), not a timeout (> 128).
    assert "read=1" in first + later and "out-2" in first + later, (first, later)
    assert "Process running with session ID" in later


def test_yield_windows_are_clamped(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    start = exec_command(scripted_model, "cat", tty=True, yield_ms=0)
    typed = after(scripted_model, start, "x\n", yield_ms=1)
    polled = after(scripted_model, start, "", yield_ms=0)
    scripted_model.text("done")
    client = spawn_server()
    run_call(client, approval="never", **FULL)
    assert wall(scripted_model.call_output(start)) >= 0.25  # exec_command: at least 250 ms
    assert wall(scripted_model.call_output(typed)) >= 0.25  # a write: at least 250 ms
    assert wall(scripted_model.call_output(polled)) >= 5.0  # an empty poll: at least 5 s


def test_long_output_is_cut_keeping_head_and_tail(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    program = "python3 -c \"print('HEAD'); print('x' * 5_000_000); print('TAIL')\""
    whole = exec_command(scripted_model, program, yield_ms=20_000)
    small = exec_command(scripted_model, program, yield_ms=20_000, max_output_tokens=100)
    scripted_model.text("done")
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "go", "approval-policy": "never", **FULL})
    result = result_of(client.wait_response(rid, 90))
    assert not result.get("isError"), result
    out = scripted_model.call_output(whole)
    assert exit_code_in(out) == 0
    assert out.count("HEAD") == 1 and "TAIL" in out and "truncated" in out, out[:500]
    original = int(re.search(r"Original token count: (\d+)", out).group(1))  # type: ignore[union-attr]
    assert original >= 1_250_000
    assert len(out.encode()) <= 10_000 * 4 * 12 // 10 + 200  # the family's budget plus 20%
    cut = scripted_model.call_output(small)
    assert "HEAD" in cut and "TAIL" in cut and len(cut.encode()) < 1_000, cut
    # What the client is told is bounded too: the end event's transcript, the deltas.
    ends = [e["msg"] for e in client.events_for(rid) if e["msg"]["type"] == "exec_command_end"]
    assert len(ends) == 2 and all(len(e["aggregated_output"]) <= 300 * 1024 for e in ends)


def test_session_cap_ends_the_least_recently_used_and_warns_the_model(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    duration = nap()
    calls = [exec_command(scripted_model, f"exec sleep {duration}", yield_ms=250) for _ in range(66)]
    scripted_model.text("done")
    client = spawn_server()
    try:
        result = run_call(client, approval="never", timeout=180, **FULL)
        assert not result.get("isError"), result
        ids = [session_id_in(scripted_model.call_output(c)) for c in calls]
        assert len(set(ids)) == 66
        last = scripted_model.requests[-1]
        warnings = [t for t in last.user_texts() if t.startswith("Warning: ")]
        cap = [w for w in warnings if "maximum number of unified exec processes" in w]
        assert len(cap) == 66 - 60 + 1, warnings  # from the 60th open session on
        pruned = [w for w in warnings if "was ended" in w]
        assert len(pruned) == 2 and f"Process {ids[0]} " in pruned[0] and f"Process {ids[1]} " in pruned[1]
        # From outside: exactly 64 of the processes live on after the turn.
        wait_until(lambda: len(sleepers(duration)) == 64, 10, "64 live sessions")
    finally:
        client.kill()
        kill_all(sleepers(duration))


def test_a_server_started_in_one_turn_answers_curl_in_the_next(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    server = (
        'python3 -c "import http.server as h, socketserver as s\n'
        "class H(h.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'hello from turn one')\n"
        "    def log_message(self, *a): pass\n"
        "srv = s.TCPServer(('127.0.0.1', 0), H)\n"
        "open('port', 'w').write(str(srv.server_address[1]))\n"
        "print('listening', flush=True)\n"
        'srv.serve_forever()"'
    )
    start = exec_command(scripted_model, server, yield_ms=3000)
    scripted_model.text("started")
    fetch = exec_command(scripted_model, 'curl -s "http://127.0.0.1:$(cat port)/"', yield_ms=10_000)
    poll = after(scripted_model, start, "", yield_ms=5000)
    scripted_model.text("fetched")
    client = spawn_server()
    first = run_call(client, approval="never", **FULL)
    assert "listening" in scripted_model.call_output(start)
    second = reply(client, first["structuredContent"]["threadId"])
    assert text_of(second) == "fetched"
    out = scripted_model.call_output(fetch)
    assert exit_code_in(out) == 0 and "hello from turn one" in out, out
    assert "Process running with session ID" in scripted_model.call_output(poll)


def test_shell_command_when_sessions_are_off(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    config = codex_home / "config.toml"
    config.write_text(config.read_text() + "\n[features]\nunified_exec = false\n")
    call = scripted_model.function("shell_command", {"command": "echo hi; exit 3"})
    stray = scripted_model.function("exec_command", {"cmd": "echo not offered"})
    scripted_model.text("done")
    client = spawn_server()
    run_call(client, approval="never", **FULL)
    tools = scripted_model.requests[0].tool_names()
    assert "shell_command" in tools and "exec_command" not in tools and "write_stdin" not in tools
    assert re.fullmatch(
        r"Exit code: 3\nWall time: [\d.]+ seconds\nOutput:\nhi\n", scripted_model.call_output(call)
    )
    # A call of a tool that was not offered is still served by its handler (the model may
    # have been trained on it); the sandbox and approvals apply to it all the same.
    assert "not offered" in scripted_model.call_output(stray)


def test_output_of_a_session_between_calls_is_kept_for_the_next_call(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    start = exec_command(scripted_model, "sleep 0.5; echo late; exec sleep 100", yield_ms=250)
    poll = after(scripted_model, start, "", yield_ms=5000)
    scripted_model.text("done")
    client = spawn_server()
    run_call(client, approval="never", **FULL)
    assert "late" not in scripted_model.call_output(start)
    assert "late" in scripted_model.call_output(poll)


def test_nothing_left_running_after_the_server_exits(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    duration = nap()
    exec_command(scripted_model, f"setsid sleep {duration} & nohup sleep {duration} & sleep {duration}")
    scripted_model.text("done")
    client = spawn_server()
    try:
        run_call(client, approval="never", **FULL)
        assert len(sleepers(duration)) == 3
        client.close_stdin()
        assert client.wait_exit(30) == 0
        assert not wait_dead(sleepers(duration), 5)
    finally:
        kill_all(sleepers(duration))
