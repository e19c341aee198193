"""The real server, as root and as `tester`, under a hostile model: commands die with the
server (kill -9) and with themselves on every backend, the server's environment and process
are out of reach, and the server keeps answering.  Judged from outside: the kernel's process
list, /proc of the server, `ping`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.backends_probe import FAKE_KEY
from tests.security.backends_support import (
    HAVE_BWRAP,
    HAVE_LANDLOCK,
    SYSTEM_PYTHON,
    USERS,
    Place,
    as_user,
    kill_all,
    nap,
    needs_linux,
    place,
    sleepers,
    wait_dead,
)
from tests.security.harness import assert_alive, run_call
from tests.security.tester_runtime import runtime_for
from tests.support.raw_client import RawClient, wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import initialize, server_env, write_config

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(180)]

SANDBOXES = [
    pytest.param("danger-full-access", None, id="none"),
    pytest.param(
        "workspace-write", "bwrap", marks=pytest.mark.skipif(not HAVE_BWRAP, reason="bwrap"), id="bwrap"
    ),
    pytest.param(
        "workspace-write",
        "landlock",
        marks=pytest.mark.skipif(not HAVE_LANDLOCK, reason="Landlock"),
        id="landlock",
    ),
]


@contextlib.contextmanager
def server(
    user: str,
    model: ScriptedModel,
    log: Path,
    *,
    sandbox: str = "workspace-write",
    backend: str | None = None,
) -> Iterator[tuple[RawClient, Place]]:
    """A stdio server running as `user` (its pid is the server itself: setpriv execs)."""
    with place(user) as p:
        home = p.base / "codex-home"
        write_config(home, model, extra=f'sandbox_mode = "{sandbox}"\napproval_policy = "never"\n')
        for path in (home, *home.rglob("*")):
            p.chown(path)
        env = server_env(home)
        env.update(OPENAI_API_KEY=FAKE_KEY, HOME=str(p.base))
        if backend:
            env["CODEX_MCP_SANDBOX_BACKEND"] = backend
        argv = [sys.executable, "-m", "codex_mcp"]
        if user != "root":
            env["PYTHONPATH"] = runtime_for(user).pythonpath
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--",
                    SYSTEM_PYTHON, "-m", "codex_mcp"]  # fmt: skip
        client = RawClient(argv, env=env, cwd=p.ws, log_path=log, policy="decline")
        try:
            initialize(client)
            yield client, p
        finally:
            client.kill()


def _shell(model: ScriptedModel, script: str) -> str:
    call_id = model.shell(["sh", "-c", script], timeout_ms=120_000)
    model.text("done")
    return call_id


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize(("sandbox", "backend"), SANDBOXES)
def test_commands_die_with_a_killed_server(
    user: str, sandbox: str, backend: str | None, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    duration = nap()
    script = (
        f"setsid sleep {duration} & (setsid sh -c 'sleep {duration} & sleep {duration}' &); sleep {duration}"
    )
    _shell(scripted_model, script)
    try:
        with server(user, scripted_model, tmp_path / "server.log", sandbox=sandbox, backend=backend) as (
            client,
            _,
        ):
            client.call_tool("codex", {"prompt": "go"})
            wait_until(lambda: len(sleepers(duration)) >= 4, 30, "the command's processes")
            os.kill(client.proc.pid, signal.SIGKILL)
            client.proc.wait(10)
            survivors = wait_dead(sleepers(duration), timeout=5)
            assert not survivors, f"{len(survivors)} processes of the command outlived the server"
    finally:
        kill_all(sleepers(duration))


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize(("sandbox", "backend"), SANDBOXES)
def test_nothing_survives_a_finished_command(
    user: str, sandbox: str, backend: str | None, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    duration = nap()
    pidfile = "started"
    call_id = _shell(
        scripted_model,
        f"setsid sleep {duration} & (setsid sh -c 'sleep {duration} &' &); "
        f"nohup sleep {duration} >/dev/null 2>&1 & echo x > {pidfile}; echo launched",
    )
    try:
        with server(user, scripted_model, tmp_path / "server.log", sandbox=sandbox, backend=backend) as (
            client,
            p,
        ):
            run_call(client, approval="never", sandbox=None)
            assert "launched" in scripted_model.call_output(call_id)
            assert (p.ws / pidfile).exists()
            assert not wait_dead(sleepers(duration), timeout=5)
            assert_alive(client)
    finally:
        kill_all(sleepers(duration))


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize(("sandbox", "backend"), SANDBOXES[1:])
def test_sandboxed_command_cannot_touch_the_server(
    user: str, sandbox: str, backend: str | None, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """prlimit / renice / SIGSTOP aimed at the server's real pid, and its environment."""
    with server(user, scripted_model, tmp_path / "server.log", sandbox="read-only", backend=backend) as (
        client,
        _,
    ):
        pid = client.proc.pid
        with open(f"/proc/{pid}/limits") as fh:
            limits = fh.read()
        nice = os.getpriority(os.PRIO_PROCESS, pid)
        attack = scripted_model.shell(
            ["sh", "-c", f"prlimit --pid {pid} --nofile=4:4; renice -n 19 -p {pid}; kill -STOP {pid}; "
             f"cat /proc/{pid}/environ /proc/$PPID/environ /proc/1/environ; echo attacked"],
        )  # fmt: skip
        after = scripted_model.shell(["sh", "-c", "echo still-running"])
        scripted_model.text("done")
        result = run_call(client, approval="never", sandbox=None)
        assert not result.get("isError"), result
        assert "attacked" in scripted_model.call_output(attack)
        assert FAKE_KEY not in scripted_model.call_output(attack)
        assert "still-running" in scripted_model.call_output(after)
        with open(f"/proc/{pid}/limits") as fh:
            assert fh.read() == limits
        assert os.getpriority(os.PRIO_PROCESS, pid) == nice
        assert_alive(client)


@pytest.mark.parametrize("user", USERS)
def test_server_is_not_dumpable(user: str, scripted_model: ScriptedModel, tmp_path: Path) -> None:
    """Same-user processes (an unsandboxed command, anything else) cannot read the server's
    environment or attach to it; the server itself keeps working."""
    with server(user, scripted_model, tmp_path / "server.log", sandbox="danger-full-access") as (client, _):
        pid = client.proc.pid
        call_id = _shell(
            scripted_model, f"cat /proc/{pid}/environ; tr '\\0' '\\n' < /proc/{pid}/environ; echo end"
        )
        run_call(client, approval="never", sandbox=None)
        output = scripted_model.call_output(call_id)
        assert "end" in output
        if user != "root":  # root has CAP_SYS_PTRACE: nothing keeps an unsandboxed root command out
            assert FAKE_KEY not in output
            outside = subprocess.run(
                as_user(user, [SYSTEM_PYTHON, "-I", "-c", _PEEK, str(pid)]),
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert FAKE_KEY not in outside.stdout + outside.stderr
            assert outside.stdout.split() == ["environ-denied", "ptrace-denied"], outside
        assert_alive(client)


_PEEK = """
import ctypes, sys
pid = int(sys.argv[1])
try:
    print(open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
except OSError:
    print("environ-denied")
libc = ctypes.CDLL(None, use_errno=True)
print("ptrace-denied" if libc.ptrace(16, pid, 0, 0) != 0 else "ptrace-attached")
"""


def test_hardening_leaves_the_process_working() -> None:
    """After `harden_process()` the server can still read its own /proc files and spawn."""
    code = (
        "import ctypes, os, subprocess\n"
        "from codex_mcp.cli import harden_process\n"
        "harden_process()\n"
        "libc = ctypes.CDLL(None)\n"
        "assert libc.prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE\n"
        "assert b'HARDEN_CHECK=1' in open('/proc/self/environ', 'rb').read()\n"
        "assert 'VmRSS' in open('/proc/self/status').read() and os.listdir('/proc/self/fd')\n"
        "print(subprocess.run(['echo', 'child-ok'], capture_output=True, text=True).stdout, end='')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "HARDEN_CHECK": "1"}, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "child-ok\n"
