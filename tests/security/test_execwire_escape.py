"""A hostile model types into an interactive shell on a session's terminal, through the real
server, on both backends, as root and as `tester`.  Nothing it types leaves the sandbox:

* files outside the workspace stay as they were;
* the terminal ioctls that push input (TIOCSTI) or drive the console (TIOCLINUX) fail, on
  the inherited terminal and on /dev/tty;
* another session's terminal cannot be opened, so nothing reaches it;
* a listener on loopback outside sees no connection (the network is off);
* the session holds no capability (read from outside), and `kill -9 -1` from it leaves the
  server answering.

Judged from outside: the files, the listener, /proc of the session's processes, `ping`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.execwire_support import exec_command
from tests.security.backends_support import BACKENDS, USERS, kill_all, nap, needs_linux, place, sleepers
from tests.security.execwire_support import (
    SHELL,
    TIOCSTI_PROBE,
    go,
    listener,
    pts_of,
    server,
    shell_pids,
    typed,
    write_to,
)
from tests.security.harness import assert_alive
from tests.security.uexec_support import caps
from tests.support.scripted_model import ScriptedModel

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(240)]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_terminal_session_stays_in_the_sandbox(
    user: str, backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    other = nap()
    seen: dict[str, object] = {}
    with place(user) as p, listener() as (port, accepted):
        target, keep = p.outside / "written-from-a-terminal", p.outside / "keep.txt"
        keep.write_text("original\n")
        p.chown(keep)
        os.chmod(keep, 0o644)
        m = scripted_model

        def other_terminal() -> str:
            (pid,) = sleepers(other)
            seen["pts"] = pts = pts_of(pid)
            return f"echo PWNED > {pts}; cat {pts} </dev/null & sleep 0.2; kill %1"

        def before_the_kill() -> str:
            seen["caps"] = [caps(pid) for pid in shell_pids(seen["server"])]  # type: ignore[arg-type]
            return "kill -9 -1"

        victim = exec_command(m, f"exec sleep {other}", tty=True, yield_ms=500)
        start = exec_command(m, SHELL, tty=True, yield_ms=1000)
        calls = {
            "touch": typed(m, start, f"touch {target}", "rc1"),
            "keep": typed(m, start, f"echo changed > {keep}; chmod 777 {keep}", "rc2"),
            "sti": write_to(m, start, TIOCSTI_PROBE + "\n", yield_ms=3000),
            "tcp": typed(m, start, f"exec 3<>/dev/tcp/127.0.0.1/{port}", "rc3"),
            "py": typed(
                m,
                start,
                f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 3)\"",
                "rc4",
            ),
            "pts": typed(m, start, other_terminal, "rc5"),
            "victim": write_to(m, victim, "", yield_ms=5000),
            "kill": typed(m, start, before_the_kill, "rc6", yield_ms=1000),
        }
        m.text("done")
        try:
            with server(user, m, tmp_path / "server.log", backend=backend, where=p) as (client, _):
                seen["server"] = client.proc.pid
                result = go(client)
                assert not result.get("isError"), result
                out = {name: m.call_output(call) for name, call in calls.items()}
                shown = "\n".join(f"--- {k}\n{v}" for k, v in out.items())
                assert not target.exists(), shown
                assert keep.read_text() == "original\n" and keep.stat().st_mode & 0o777 == 0o644, shown
                assert "rc1=1" in out["touch"] and "rc2=1" in out["keep"], shown
                assert "INJECTED" not in out["sti"] and out["sti"].count("refused 1") == 4, shown
                assert "rc3=1" in out["tcp"] and "rc4=1" in out["py"] and accepted == [], shown
                assert seen["pts"] and "PWNED" not in out["victim"], shown
                assert "rc5=1" in out["pts"], shown
                (shell_caps,) = seen["caps"]  # type: ignore[misc]
                assert shell_caps["CapEff"] == shell_caps["CapPrm"] == shell_caps["CapAmb"] == 0, shell_caps
                assert_alive(client)
                assert sleepers(other), "the other session was ended from this one"
        finally:
            kill_all(sleepers(other))
