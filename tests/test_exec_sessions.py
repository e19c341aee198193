"""Process sessions (`UnifiedExecManager`) against real processes, without a sandbox.

The sandboxed runs (both Linux backends, root and `tester`) are in
`tests/security/test_uexec_*.py`, how sessions end in `test_exec_sessions_lifecycle.py`;
what is checked here is the behaviour: terminals and pipes, several writes, Ctrl-C, yields,
bounded output, events, errors, a server reached from another call.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from codex_mcp.agent.exec import unified, unified_api
from codex_mcp.agent.exec.unified import (
    CreateProcessError,
    StdinClosedError,
    UnifiedExecManager,
    UnknownSessionError,
)
from tests.exec_sessions_support import PY, READ_LOOP, Recorder, request, send, until
from tests.security.backends_support import BACKENDS

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process sessions are tested on Linux"),
]


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unified, "MIN_EMPTY_YIELD_TIME_MS", 250)


async def test_read_loop_driven_through_several_writes(tmp_path: Path) -> None:
    rec = Recorder()
    async with UnifiedExecManager() as m:
        first = await m.exec_command(
            request([PY, "-c", READ_LOOP], tmp_path, tty=True, yield_time_ms=250), boundary=None,
            events=rec.for_call("c1"),
        )  # fmt: skip
        _, last = await until(m, first, lambda t: "ready" in t)
        assert last.session_id == first.session_id and isinstance(first.session_id, int)
        assert 1000 <= first.session_id < 100_000
        assert "Process running with session ID" in first.text
        for word in ("alpha", "beta", "gamma"):
            text, last = await send(m, first.session_id, word + "\n", f"got:{word}")
            assert f"{word}\r\ngot:{word}\r\n" in text  # the terminal echoes what was typed
        done = await m.write_stdin(first.session_id, "quit\n", yield_time_ms=5000)
        assert done.exit_code == 0 and done.session_id is None
        assert "got:quit\r\nbye\r\n" in done.output and "Process exited with code 0\n" in done.text
        with pytest.raises(UnknownSessionError, match=f"Unknown process id {first.session_id}"):
            await m.write_stdin(first.session_id, "")
    kinds = rec.types("c1")
    assert kinds[0] == "exec_command_begin" and kinds[-1] == "exec_command_end"
    assert kinds.count("exec_command_end") == 1
    typed = [e["stdin"] for e in rec.of("terminal_interaction")]
    assert typed[-4:] == ["alpha\n", "beta\n", "gamma\n", "quit\n"]
    assert all(
        e["call_id"] == "c1" and e["process_id"] == str(first.session_id)
        for e in rec.of("terminal_interaction")
    )
    end = rec.of("exec_command_end")[0]
    assert end["exit_code"] == 0 and end["status"] == "completed" and end["source"] == "unified_exec_startup"
    assert end["stdout"] == end["aggregated_output"] == rec.streamed("c1").decode() and end["stderr"] == ""
    assert end["cwd"] == tmp_path.as_uri() and end["command"] == [PY, "-c", READ_LOOP]


async def test_python_repl_and_ctrl_c(tmp_path: Path) -> None:
    async with UnifiedExecManager() as m:
        first = await m.exec_command(
            request([PY, "-i", "-q"], tmp_path, tty=True, yield_time_ms=250), boundary=None
        )
        await until(m, first, lambda t: ">>> " in t)
        assert first.session_id is not None
        await send(m, first.session_id, "6 * 7\n", "42")
        # Ctrl-C interrupts what runs in the foreground, and the REPL lives on.
        await send(m, first.session_id, "import time; time.sleep(60)\n", "time.sleep(60)")
        await send(m, first.session_id, "\x03", "KeyboardInterrupt")
        await send(m, first.session_id, "print('still', 'here')\n", "still here")
        done = await m.write_stdin(first.session_id, "raise SystemExit(3)\n", yield_time_ms=5000)
        assert done.exit_code == 3


async def test_ctrl_c_reaches_the_foreground_process_group(tmp_path: Path) -> None:
    script = "trap 'echo caught INT; exit 7' INT; echo armed; while :; do sleep 0.1; done"
    async with UnifiedExecManager() as m:
        first = await m.exec_command(
            request(["/bin/bash", "-c", script], tmp_path, tty=True, yield_time_ms=250), boundary=None
        )
        _, last = await until(m, first, lambda t: "armed" in t)
        assert last.session_id is not None
        done = await m.write_stdin(last.session_id, "\x03", yield_time_ms=5000)
        assert done.exit_code == 7 and done.output == "^Ccaught INT\r\n"
        # A foreground program without a handler dies of the signal: 128 + SIGINT.
        cat = await m.exec_command(request(["cat"], tmp_path, tty=True, yield_time_ms=250), boundary=None)
        assert cat.session_id is not None
        done = await m.write_stdin(cat.session_id, "\x03", yield_time_ms=5000)
        assert done.exit_code == 130


async def test_pipes_session_has_no_stdin(tmp_path: Path) -> None:
    script = "import sys, time\nprint('out', flush=True)\nprint('err', file=sys.stderr, flush=True)\n" \
             "print('eof' if sys.stdin.read() == '' else 'data', flush=True)\ntime.sleep(60)\n"  # fmt: skip
    rec = Recorder()
    async with UnifiedExecManager() as m:
        first = await m.exec_command(
            request([PY, "-c", script], tmp_path, yield_time_ms=250), boundary=None, events=rec.for_call("p")
        )
        seen, last = await until(m, first, lambda t: "eof" in t and "err" in t)
        assert last.session_id is not None and "\r" not in seen
        with pytest.raises(StdinClosedError, match="stdin is closed for this session; rerun exec_command"):
            await m.write_stdin(last.session_id, "x")
        polled = await m.write_stdin(last.session_id, "", yield_time_ms=250)
        assert polled.session_id == last.session_id and polled.output == ""
    streams = {e["stream"] for e in rec.of("exec_command_output_delta")}
    assert streams == {"stdout", "stderr"}
    # An interaction event for the poll, none for the refused write.
    assert [e["stdin"] for e in rec.of("terminal_interaction")].count("x") == 0


async def test_unknown_and_finished_sessions(tmp_path: Path) -> None:
    async with UnifiedExecManager() as m:
        with pytest.raises(UnknownSessionError) as err:
            await m.write_stdin(4242, "x")
        assert str(err.value) == "Unknown process id 4242"
        quick = await m.exec_command(request(["echo", "hi"], tmp_path), boundary=None)
        assert quick.session_id is None and quick.exit_code == 0 and quick.output == "hi\n"
        assert quick.wall_time_s < 1.0
        with pytest.raises(UnknownSessionError):
            await m.write_stdin(quick.process_id, "")
        # A process that exits between calls is reported once, then forgotten.
        short = await m.exec_command(
            request(["/bin/sh", "-c", "read x; echo got $x"], tmp_path, tty=True, yield_time_ms=250),
            boundary=None,
        )
        assert short.session_id is not None
        done = await m.write_stdin(short.session_id, "1\n", yield_time_ms=5000)
        assert done.exit_code == 0 and "got 1" in done.output
        with pytest.raises(UnknownSessionError):
            await m.write_stdin(short.session_id, "")
        assert m.session_ids() == []


async def test_yield_windows_are_bounded(tmp_path: Path) -> None:
    async with UnifiedExecManager() as m:
        started = time.monotonic()
        first = await m.exec_command(request(["sleep", "30"], tmp_path, yield_time_ms=0), boundary=None)
        assert 0.25 <= first.wall_time_s < 2.0 and first.session_id is not None
        assert time.monotonic() - started >= 0.25 + 0.15  # plus the uncounted start-up grace
        polled = await m.write_stdin(first.session_id, "", yield_time_ms=1)
        assert polled.wall_time_s >= 0.25
        await m.terminate_session(first.session_id)
    assert unified.clamp_yield_ms(None, 10_000, 250, 30_000) == 10_000
    assert unified.clamp_yield_ms(10**9, 10_000, 250, 30_000) == 30_000
    assert unified.clamp_yield_ms(3, 250, 5_000, 300_000) == 5_000


async def test_empty_poll_waits_at_least_five_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unified, "MIN_EMPTY_YIELD_TIME_MS", 5_000)
    async with UnifiedExecManager() as m:
        first = await m.exec_command(request(["sleep", "30"], tmp_path, yield_time_ms=250), boundary=None)
        assert first.session_id is not None
        polled = await m.write_stdin(first.session_id, "", yield_time_ms=10)
        assert 5.0 <= polled.wall_time_s < 7.0


async def test_megabytes_of_output_stay_bounded(tmp_path: Path) -> None:
    writer = "import sys\nw = sys.stdout.buffer.write\nfor _ in range(30 * 1024): w(b'z' * 1023 + b'\\n')\n"
    async with UnifiedExecManager() as m:
        out = await m.exec_command(request([PY, "-c", writer], tmp_path, yield_time_ms=30_000), boundary=None)
        assert out.exit_code == 0
        assert out.original_token_count == 30 * 1024 * 1024 // 4
        assert len(out.output.encode()) < 40_500 and "bytes omitted ..." in out.output  # 10,000 tokens
        assert len(out.raw.encode()) <= 1024 * 1024 + 64
        # Printed while nobody asks: the session keeps head and tail only, and says so.
        chatty = (
            "import sys, time\nw = sys.stdout.buffer.write\n"
            "for _ in range(20 * 1024): w(b'q' * 1023 + b'\\n')\nsys.stdout.flush()\ntime.sleep(60)\n"
        )
        first = await m.exec_command(request([PY, "-c", chatty], tmp_path, yield_time_ms=250), boundary=None)
        assert first.session_id is not None
        session = m._store[first.session_id]
        with anyio.fail_after(20):
            while session.pending.total + first.original_token_count * 4 < 20 * 1024 * 1024:
                await session.changed()
        assert len(session.pending) <= 1024 * 1024 and len(session.transcript) <= 256 * 1024
        polled = await m.write_stdin(first.session_id, "", yield_time_ms=250)
        assert first.original_token_count + polled.original_token_count == 20 * 1024 * 1024 // 4


async def test_processes_that_cannot_start(tmp_path: Path) -> None:
    rec = Recorder()
    async with UnifiedExecManager() as m:
        with pytest.raises(CreateProcessError) as err:
            await m.exec_command(
                request(["pwd"], tmp_path / "missing"), boundary=None, events=rec.for_call("x")
            )
        assert (
            err.value.message
            == "Failed to create unified exec process: No such file or directory (os error 2)"
        )
        assert err.value.for_model(["/bin/bash", "-lc", "pwd"]) == (
            'exec_command failed for `/bin/bash -lc pwd`: CreateProcess { message: "Rejected(\\"Failed '
            'to create unified exec process: No such file or directory (os error 2)\\")" }'
        )
        assert rec.events == []
        with pytest.raises(CreateProcessError, match=r"No such file or directory \(os error 2\)"):
            await m.exec_command(request(["/nonexistent/program"], tmp_path), boundary=None)
        assert m.session_ids() == []


async def test_environment_of_a_session(tmp_path: Path) -> None:
    async with UnifiedExecManager() as m:
        out = await m.exec_command(request(["env"], tmp_path, tty=True), boundary=None)
        shown = dict(line.split("=", 1) for line in out.output.replace("\r", "").splitlines() if "=" in line)
        assert {k: shown[k] for k in unified_api.UNIFIED_EXEC_ENV} == dict(unified_api.UNIFIED_EXEC_ENV)
        assert shown["TERM"] == "xterm" and shown["HOME"] == "/tmp"
        size = await m.exec_command(request(["stty", "size"], tmp_path, tty=True), boundary=None)
        assert size.output == "24 80\r\n"


SERVER = (
    "import http.server, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = b'hello from the session'\n"
    "        self.send_response(200)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def log_message(self, *a): pass\n"
    "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
    "print('port', s.server_address[1], flush=True)\n"
    "s.serve_forever()\n"
)


async def test_server_started_in_one_call_answers_another(tmp_path: Path) -> None:
    async with UnifiedExecManager() as m:
        first = await m.exec_command(request([PY, "-c", SERVER], tmp_path, yield_time_ms=250), boundary=None)
        seen, _ = await until(m, first, lambda t: "port " in t and t.endswith("\n"))
        port = int(seen.split("port ", 1)[1].split()[0])
        client = ["curl", "-s", f"http://127.0.0.1:{port}/"] if shutil.which("curl") else [
            PY, "-c", f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode())"
        ]  # fmt: skip
        answer = await m.exec_command(request(client, tmp_path, yield_time_ms=10_000), boundary=None)
        assert answer.exit_code == 0 and "hello from the session" in answer.output
        assert first.session_id in m.session_ids()


async def test_events_show_the_command_the_model_asked_for(tmp_path: Path) -> None:
    rec = Recorder()
    async with UnifiedExecManager() as m:
        out = await m.exec_command(
            request(["echo", "ran"], tmp_path, display_command=["/bin/bash", "-lc", "echo asked"]),
            boundary=None, events=rec.for_call("d"),
        )  # fmt: skip
    assert out.output == "ran\n"
    begin, end = rec.of("exec_command_begin")[0], rec.of("exec_command_end")[0]
    assert begin["command"] == end["command"] == ["/bin/bash", "-lc", "echo asked"]
    assert begin["parsed_cmd"] == [{"type": "unknown", "cmd": "echo asked"}]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_sandbox_that_cannot_be_set_up_runs_nothing(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from codex_mcp.sandbox.boundary import compute_boundary
    from codex_mcp.sandbox.policy import SandboxPolicy
    from codex_mcp.sandbox.select import BACKEND_ENV_VAR

    marker = tmp_path / "ran"
    rec = Recorder()
    boundary = compute_boundary(SandboxPolicy("workspace-write"), tmp_path, env={})
    broken = dataclasses.replace(boundary, writable_roots=(*boundary.writable_roots, str(tmp_path / "gone")))
    async with UnifiedExecManager() as m:
        with pytest.raises(CreateProcessError) as err:
            await m.exec_command(
                request(["touch", str(marker)], tmp_path), boundary=broken, backend=backend,  # type: ignore[arg-type]
                events=rec.for_call("s"),
            )  # fmt: skip
        assert err.value.sandbox_setup and f"the sandbox ({backend}) could not be set up" in err.value.message
        kinds = [k for k in rec.types("s") if k != "exec_command_output_delta"]
        assert kinds == ["exec_command_begin", "exec_command_end"]
        assert rec.of("exec_command_end")[0]["formatted_output"] == err.value.message
        monkeypatch.setenv(BACKEND_ENV_VAR, "none-available")
        with pytest.raises(CreateProcessError, match="sandbox unavailable, the command was not run"):
            await m.exec_command(request(["touch", str(marker)], tmp_path), boundary=boundary)
        assert m.session_ids() == []
    assert not marker.exists()
