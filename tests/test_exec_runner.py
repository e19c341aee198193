"""run_exec against real subprocesses."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from codex_mcp.agent.exec import (
    DEFAULT_EXEC_TIMEOUT_MS,
    ExecOutput,
    ExecParams,
    StreamName,
    format_exec_output_for_model,
    format_exec_output_str,
    run_exec,
    truncate_for_model,
)
from codex_mcp.agent.exec import runner as runner_mod

pytestmark = pytest.mark.e2e

PY = sys.executable


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def spawned() -> Iterator[list[int]]:
    """Pids a test made the command start; any still alive at the end get SIGKILL."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, 9)


def _env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def _params(argv: list[str], tmp_path: Path, **kw: object) -> ExecParams:
    return ExecParams(argv=argv, cwd=tmp_path, env=_env(), **kw)  # type: ignore[arg-type]


def _alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


async def _wait_dead(pid: int, limit_s: float = 5.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        await anyio.sleep(0.02)
    return not _alive(pid)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


async def _read_pid(path: Path, limit_s: float = 5.0) -> int:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        text = _read_text(path)
        if text.endswith("\n"):
            return int(text)
        await anyio.sleep(0.01)
    raise AssertionError(f"no pid written to {path}")


@pytest.mark.anyio
async def test_echo(tmp_path: Path) -> None:
    out = await run_exec(_params(["echo", "hello", "world"], tmp_path))
    assert out.exit_code == 0
    assert out.stdout == "hello world\n"
    assert out.stderr == ""
    assert out.aggregated_output == "hello world\n"
    assert not out.timed_out
    assert out.aggregated_total_lines is None
    assert out.spawn_error is None
    assert out.duration_s >= 0


@pytest.mark.anyio
async def test_stderr_and_exit_code(tmp_path: Path) -> None:
    out = await run_exec(_params(["sh", "-c", "echo out; echo err >&2; exit 3"], tmp_path))
    assert (out.exit_code, out.stdout, out.stderr) == (3, "out\n", "err\n")
    # stdout, then stderr
    assert out.aggregated_output == "out\nerr\n"
    assert (out.stdout_total_bytes, out.stderr_total_bytes) == (4, 4)


@pytest.mark.anyio
async def test_cwd_and_stdin_is_devnull(tmp_path: Path) -> None:
    (tmp_path / "marker-file").touch()
    out = await run_exec(_params(["sh", "-c", "ls; cat; echo end"], tmp_path))
    assert out.stdout == "marker-file\nend\n"


@pytest.mark.anyio
async def test_signal_exit_is_128_plus_signal(tmp_path: Path) -> None:
    out = await run_exec(_params(["sh", "-c", "kill -KILL $$"], tmp_path))
    assert out.exit_code == 128 + 9
    out = await run_exec(_params(["sh", "-c", "kill -TERM $$"], tmp_path))
    assert out.exit_code == 128 + 15
    assert not out.timed_out


@pytest.mark.anyio
async def test_env_passed_exactly(tmp_path: Path) -> None:
    env = {"FOO": "bar", "SPACED": "a b  c"}
    out = await run_exec(ExecParams(argv=["/usr/bin/env"], cwd=tmp_path, env=env))
    assert out.exit_code == 0
    assert sorted(out.stdout.splitlines()) == ["FOO=bar", "SPACED=a b  c"]


@pytest.mark.anyio
async def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    out = await run_exec(_params(["printf", "ok\\377\\376\\n"], tmp_path))
    assert out.stdout == "ok\ufffd\ufffd\n"


@pytest.mark.anyio
async def test_missing_program(tmp_path: Path) -> None:
    out = await run_exec(_params(["definitely-not-a-program-xyz", "arg"], tmp_path))
    assert out.exit_code == 127
    assert out.spawn_error == "command not found: definitely-not-a-program-xyz"
    assert out.stderr == out.aggregated_output == "command not found: definitely-not-a-program-xyz\n"
    assert out.stdout == ""


@pytest.mark.anyio
async def test_not_executable(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("echo hi\n")
    script.chmod(0o644)
    out = await run_exec(_params([str(script)], tmp_path))
    assert out.exit_code == 126
    assert out.spawn_error is not None


@pytest.mark.anyio
async def test_missing_cwd(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    out = await run_exec(ExecParams(argv=["echo", "x"], cwd=missing, env=_env()))
    assert out.exit_code == 1
    assert out.spawn_error is not None and str(missing) in out.spawn_error
    assert str(missing) in out.aggregated_output


@pytest.mark.anyio
async def test_timeout_kills_whole_group(tmp_path: Path, spawned: list[int]) -> None:
    pidfile = tmp_path / "bg.pid"
    script = 'sleep 30 & echo $! > "$1"; echo started; wait'
    started = time.monotonic()
    out = await run_exec(_params(["sh", "-c", script, "sh", str(pidfile)], tmp_path, timeout_ms=700))
    elapsed = time.monotonic() - started
    bg = await _read_pid(pidfile)
    spawned.append(bg)
    assert out.timed_out
    assert out.exit_code == 124
    assert out.stdout == "started\n"
    assert elapsed < 5
    assert await _wait_dead(bg), "backgrounded grandchild survived the timeout"
    text = format_exec_output_str(out)
    assert text.startswith("command timed out after ")
    assert text.endswith(" milliseconds\nstarted\n")


@pytest.mark.anyio
async def test_default_timeout_is_ten_seconds() -> None:
    assert DEFAULT_EXEC_TIMEOUT_MS == 10_000
    assert ExecParams(argv=["x"], cwd=Path("."), env={}).timeout_ms is None


@pytest.mark.anyio
async def test_cancellation_kills_group_and_returns_promptly(tmp_path: Path, spawned: list[int]) -> None:
    shpid = tmp_path / "sh.pid"
    bgpid = tmp_path / "bg.pid"
    script = 'echo $$ > "$1"; sleep 30 & echo $! > "$2"; wait'
    params = _params(["sh", "-c", script, "sh", str(shpid), str(bgpid)], tmp_path, timeout_ms=60_000)
    result: list[ExecOutput] = []

    async def call() -> None:
        result.append(await run_exec(params))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        sh = await _read_pid(shpid)
        bg = await _read_pid(bgpid)
        spawned.extend([sh, bg])
        assert _alive(sh) and _alive(bg)
        cancelled_at = time.monotonic()
        tg.cancel_scope.cancel()
    assert time.monotonic() - cancelled_at < 3
    assert result == []  # cancellation propagated instead of a result
    assert await _wait_dead(sh)
    assert await _wait_dead(bg)


@pytest.mark.anyio
async def test_grandchild_holding_pipes_does_not_hang(tmp_path: Path, spawned: list[int]) -> None:
    pidfile = tmp_path / "gc.pid"
    script = '(sleep 30 & echo $! > "$1"); echo done'
    started = time.monotonic()
    out = await run_exec(_params(["sh", "-c", script, "sh", str(pidfile)], tmp_path, io_drain_timeout_ms=200))
    elapsed = time.monotonic() - started
    gc = await _read_pid(pidfile)
    spawned.append(gc)
    assert out.exit_code == 0
    assert not out.timed_out
    assert out.stdout == "done\n"
    assert elapsed < 5
    assert await _wait_dead(gc), "grandchild holding the pipes was not killed"


@pytest.mark.anyio
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the keeper is Linux-only")
async def test_detached_background_process_does_not_outlive_the_command(
    tmp_path: Path, spawned: list[int]
) -> None:
    """A background process that let go of our pipes is still part of what the command
    started: it is killed and reaped before `run_exec` returns."""
    pidfile = tmp_path / "bg.pid"
    script = 'sleep 30 >/dev/null 2>&1 & echo $! > "$1"; echo ok'
    out = await run_exec(_params(["sh", "-c", script, "sh", str(pidfile)], tmp_path))
    bg = await _read_pid(pidfile)
    spawned.append(bg)
    assert out.stdout == "ok\n"
    assert not _alive(bg)


@pytest.mark.anyio
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the keeper is Linux-only")
async def test_setsid_double_fork_daemon_does_not_outlive_the_command(
    tmp_path: Path, spawned: list[int]
) -> None:
    pidfile = tmp_path / "daemon.pid"
    script = (
        '(setsid sh -c \'sleep 30 & echo $! > "$1"\' sh "$1" </dev/null >/dev/null 2>&1 &); '
        'while [ ! -s "$1" ]; do sleep 0.01; done; echo ok'
    )
    out = await run_exec(_params(["sh", "-c", script, "sh", str(pidfile)], tmp_path))
    daemon = await _read_pid(pidfile)
    spawned.append(daemon)
    assert out.stdout == "ok\n"
    assert not _alive(daemon)


@pytest.mark.anyio
async def test_late_output_of_a_background_process_is_kept(tmp_path: Path) -> None:
    """The drain window still collects what a background process writes after the command
    exited (then the process is ended)."""
    # The background subshell writes only once the command itself ($$) is gone.
    script = "(while kill -0 $$ 2>/dev/null; do sleep 0.01; done; echo late) & echo early"
    out = await run_exec(_params(["sh", "-c", script], tmp_path))
    assert out.exit_code == 0
    assert out.stdout == "early\nlate\n"


@pytest.mark.anyio
async def test_streaming_callback_gets_chunks_in_order(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "for i in range(3000):\n"
        "    sys.stdout.write(f'out {i}\\n'); sys.stdout.flush()\n"
        "    if i % 100 == 0: sys.stderr.write(f'err {i}\\n'); sys.stderr.flush()\n"
    )
    chunks: dict[StreamName, list[bytes]] = {"stdout": [], "stderr": []}

    async def on_output(stream: StreamName, chunk: bytes) -> None:
        chunks[stream].append(chunk)

    out = await run_exec(_params([PY, "-c", code], tmp_path), on_output)
    assert out.exit_code == 0
    assert b"".join(chunks["stdout"]).decode() == out.stdout
    assert out.stdout == "".join(f"out {i}\n" for i in range(3000))
    assert b"".join(chunks["stderr"]).decode() == out.stderr
    assert out.stderr == "".join(f"err {i}\n" for i in range(0, 3000, 100))
    assert all(0 < len(c) <= 8192 for c in chunks["stdout"] + chunks["stderr"])


@pytest.mark.anyio
async def test_delta_count_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "MAX_OUTPUT_DELTAS_PER_CALL", 5)
    calls = 0

    async def on_output(stream: StreamName, chunk: bytes) -> None:
        nonlocal calls
        calls += 1

    code = "import sys\nfor i in range(50): sys.stdout.write('x' * 1000 + '\\n'); sys.stdout.flush()"
    out = await run_exec(_params([PY, "-c", code], tmp_path), on_output)
    assert calls == 5
    assert out.stdout == ("x" * 1000 + "\n") * 50  # capture continues past the cap


@pytest.mark.anyio
async def test_large_output_keeps_bounded_buffers(tmp_path: Path) -> None:
    # 50 MiB of stdout in 1 KiB lines, plus a little stderr.
    code = (
        "import sys\n"
        "w = sys.stdout.buffer.write\n"
        "for i in range(51200): w(b'%07d' % i + b'y' * 1016 + b'\\n')\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write('boom\\n')\n"
    )
    deltas = 0

    async def on_output(stream: StreamName, chunk: bytes) -> None:
        nonlocal deltas
        deltas += 1

    out = await run_exec(_params([PY, "-c", code], tmp_path, timeout_ms=30_000), on_output)
    assert out.exit_code == 0
    assert out.stdout_total_bytes == 51200 * 1024
    assert out.stderr == "boom\n"
    assert out.aggregated_total_lines == 51201
    limit = runner_mod.RETAIN_HEAD_BYTES + runner_mod.RETAIN_TAIL_BYTES + 100
    assert len(out.stdout) <= limit
    assert len(out.aggregated_output) <= limit + 10
    assert out.stdout.startswith("0000000" + "y" * 1016 + "\n")
    assert out.stdout.endswith("0051199" + "y" * 1016 + "\n")
    assert "bytes omitted ...]" in out.stdout
    assert deltas <= runner_mod.MAX_OUTPUT_DELTAS_PER_CALL

    formatted = format_exec_output_str(out)
    assert len(formatted.encode()) <= 10 * 1024
    assert formatted.startswith("0000000")
    assert formatted.endswith("boom\n")
    assert "[... omitted 50945 of 51201 lines ...]" in formatted
    assert "bytes omitted" not in formatted
    assert '"exit_code":0' in format_exec_output_for_model(out)


@pytest.mark.anyio
async def test_capped_output_formats_like_complete_output(tmp_path: Path) -> None:
    n = 60_000  # ~1.3 MB, above the retention caps
    code = (
        "import sys\n"
        f"sys.stdout.write(''.join(f'row {{i}} ' + 'é' * (i % 17) + '\\n' for i in range({n})))\n"
        "sys.stdout.write('no newline at end')\n"
    )
    out = await run_exec(_params([PY, "-c", code], tmp_path, timeout_ms=30_000))
    full = "".join(f"row {i} " + "é" * (i % 17) + "\n" for i in range(n)) + "no newline at end"
    assert out.aggregated_total_lines == n + 1
    assert format_exec_output_str(out) == truncate_for_model(full)


@pytest.mark.anyio
async def test_pass_fds(tmp_path: Path) -> None:
    r, w = os.pipe()
    r2, w2 = os.pipe()
    os.set_inheritable(w2, True)  # still must not leak: only pass_fds are kept open
    try:
        code = (
            "import os, sys\n"
            "os.write(int(sys.argv[1]), b'via-fd')\n"
            "try:\n"
            "    os.fstat(int(sys.argv[2])); print('leaked')\n"
            "except OSError:\n"
            "    print('closed')\n"
        )
        out = await run_exec(_params([PY, "-c", code, str(w), str(w2)], tmp_path, pass_fds=(w,)))
        os.close(w)
        w = -1
        assert out.exit_code == 0, out.stderr
        assert out.stdout == "closed\n"
        assert os.read(r, 100) == b"via-fd"
    finally:
        for fd in (r, w, r2, w2):
            if fd >= 0:
                os.close(fd)


@pytest.mark.anyio
async def test_escaped_process_holding_pipes_does_not_hang(tmp_path: Path, spawned: list[int]) -> None:
    """A process that left our process group cannot be killed by us, but must not block us."""
    pidfile = tmp_path / "escaped.pid"
    script = 'setsid sleep 30 & echo $! > "$1"; echo hi'
    started = time.monotonic()
    out = await run_exec(_params(["sh", "-c", script, "sh", str(pidfile)], tmp_path, io_drain_timeout_ms=150))
    escaped = await _read_pid(pidfile)
    spawned.append(escaped)
    assert time.monotonic() - started < 5
    assert out.exit_code == 0
    assert out.stdout == "hi\n"
    if sys.platform.startswith("linux"):
        assert not _alive(escaped), "a setsid process holding our pipes survived the command"


@pytest.mark.anyio
async def test_callback_error_kills_group_and_propagates(tmp_path: Path, spawned: list[int]) -> None:
    pidfile = tmp_path / "sh.pid"

    class Boom(Exception):
        pass

    async def on_output(stream: StreamName, chunk: bytes) -> None:
        raise Boom(chunk)

    script = 'echo $$ > "$1"; echo first; sleep 30'
    with pytest.raises(Boom):
        await run_exec(_params(["sh", "-c", script, "sh", str(pidfile)], tmp_path), on_output)
    sh = await _read_pid(pidfile)
    spawned.append(sh)
    assert await _wait_dead(sh)


@pytest.mark.anyio
async def test_unusable_cwd(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    out = await run_exec(ExecParams(argv=["echo", "x"], cwd=not_a_dir, env=_env()))
    assert out.exit_code == 1
    assert out.spawn_error is not None
    assert out.spawn_error.startswith(f"cannot use working directory {not_a_dir}: ")


@pytest.mark.anyio
async def test_timeout_lets_exit_traps_run_before_the_kill(tmp_path: Path) -> None:
    """SIGTERM first: a command's cleanup (git's index.lock, pyenv's rehash lock) still runs."""
    marker = tmp_path / "cleaned-up"
    script = f"trap 'touch {marker}' EXIT; sleep 30"
    out = await run_exec(
        ExecParams(["bash", "-c", script], tmp_path, {"PATH": os.environ["PATH"]}, timeout_ms=300)
    )
    assert out.timed_out and out.exit_code == 124
    assert marker.exists(), "the EXIT trap did not run: the command was killed without SIGTERM"


@pytest.mark.anyio
async def test_a_command_ignoring_sigterm_is_still_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"trap '' TERM; echo $$ > {pid_file}; while :; do sleep 0.05; done"
    out = await run_exec(
        ExecParams(["bash", "-c", script], tmp_path, {"PATH": os.environ["PATH"]}, timeout_ms=300)
    )
    assert out.timed_out
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.anyio
async def test_many_commands_at_once(tmp_path: Path) -> None:
    """More commands than the fork server has spare keepers, all at the same time."""
    results: dict[int, ExecOutput] = {}

    async def one(i: int) -> None:
        results[i] = await run_exec(
            _params(["sh", "-c", f"echo {i}; echo err{i} >&2; exit {i % 3}"], tmp_path)
        )

    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(one, i)
    for i in range(12):
        assert (results[i].stdout, results[i].stderr, results[i].exit_code) == (f"{i}\n", f"err{i}\n", i % 3)
