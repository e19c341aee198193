"""A process session lives inside the sandbox for its whole life, terminal included.

The adversary is what the model types into a long-lived session: an interactive shell on a
private terminal, driven through several `write_stdin` calls.  Both backends, root and
`tester`; the Landlock backend also in its fallback without namespaces (as `tester`).
Judged from outside: the files outside, the session's capabilities as the kernel reports
them, the probe standing in for the server still running, and its fork server the same
process as before the attack.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from codex_mcp.sandbox.container import ISOLATION_NONE
from tests.security.backends_support import (
    BACKENDS,
    HAVE_LANDLOCK,
    USERS,
    WW,
    WW_NET,
    alive,
    attack,
    nap,
    needs_linux,
    place,
    sh,
    sleepers,
)
from tests.security.uexec_support import caps, drive, exec_step, hanging, until_step, write_step

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(240)]

MODES = [
    *BACKENDS,
    pytest.param(
        "landlock-fallback",
        marks=pytest.mark.skipif(not HAVE_LANDLOCK, reason="no Landlock"),
        id="landlock-fallback",
    ),
]
SHELL = ["/bin/bash", "--noprofile", "--norc", "-i"]


def _backend(mode: str, user: str) -> tuple[str, str | None]:
    if mode == "landlock-fallback":
        if user == "root":
            pytest.skip("as root the fallback is refused")
        return "landlock", ISOLATION_NONE
    return mode, None


def typed(index: int, line: str, marker: str) -> list[dict[str, object]]:
    """Type `line` into the shell of step `index`, then wait for `marker`."""
    return [write_step(index, f"{line}; echo {marker}=$?\n"), until_step(index, f"{marker}=")]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_terminal_session_stays_in_the_sandbox(mode: str, user: str) -> None:
    backend, isolation = _backend(mode, user)
    duration = nap()
    with place(user, git=isolation is None) as p:
        target = p.outside / "written-from-a-terminal"
        keep = p.outside / "keep.txt"
        keep.write_text("original\n")
        p.chown(keep)
        os.chmod(keep, 0o644)
        steps = [
            exec_step(["true"]),  # the fork server runs from here on (unless bwrap runs everything)
            {"forkserver": True},
            exec_step(SHELL, tty=True, yield_ms=500),
            *typed(2, f"touch {target}", "rc1"),
            *typed(2, f"python3 -c \"open('{target}', 'w').write('x')\"", "rc2"),
            *typed(2, f"echo changed > {keep}", "rc3"),
            *typed(2, f"chmod 777 {keep}", "rc3b"),
            *typed(2, "echo via-tty > /dev/tty", "rc4"),
            # Ctrl-C reaches the program in the foreground of the session's terminal.
            write_step(
                2, 'python3 -c \'import time; print("sleep" + "ing", flush=True); time.sleep(100)\'\n'
            ),
            until_step(2, "sleeping"),
            write_step(2, "\x03"),
            until_step(2, "KeyboardInterrupt"),
            *typed(2, "kill -9 {server_pid}; kill -STOP {server_pid}", "rc5"),
            *typed(2, "kill -9 -1", "rc6"),  # at most the session itself
            {"forkserver": True},
            exec_step(["sleep", duration], tty=True, yield_ms=300),
        ]
        with hanging(user, backend, p, steps, policy=WW, isolation=isolation) as (probe, results):
            errors = [r["error"] for r in results if r["error"]]
            assert not errors, errors
            shell = "".join(str(r["output"]) for r in results)
            assert not target.exists(), shell
            assert keep.read_text() == "original\n", shell
            if isolation is None:  # without namespaces, chmod of one's own files is out of scope
                assert keep.stat().st_mode & 0o777 == 0o644, shell
            assert "rc1=1" in shell and "rc2=1" in shell and "rc3=1" in shell, shell
            assert "via-tty" in shell and "rc4=0" in shell, shell  # /dev/tty: the session's own terminal
            assert "KeyboardInterrupt" in shell, shell
            # The probe (the server) survived `kill` of its pid and `kill -9 -1` (it printed the
            # results and still runs), and its fork server is the one from before the attack.
            assert alive(probe)
            before, after = results[1]["pid"], results[-2]["pid"]
            if backend == "landlock":
                assert before is not None and before == after and alive(before), (before, after)
            # Capabilities of a session process, as the kernel reports them from outside.
            (pid,) = sleepers(duration)
            sets = caps(pid)
            assert sets["CapEff"] == sets["CapPrm"] == sets["CapAmb"] == 0, sets
            if user == "root" or isolation is None:
                assert sets["CapBnd"] == 0, sets


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_a_server_in_one_session_answers_another(mode: str, user: str) -> None:
    backend, isolation = _backend(mode, user)
    server = (
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'hello from a session')\n"
        "    def log_message(self, *a): pass\n"
        "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
        "open('port', 'w').write(str(s.server_address[1]))\n"
        "print('listening', flush=True)\n"
        "s.serve_forever()\n"
    )
    client = "import urllib.request; print(urllib.request.urlopen(f'http://127.0.0.1:{open(\"port\").read()}/').read())"
    with place(user, git=isolation is None) as p:
        steps = [
            exec_step(["python3", "-c", server], yield_ms=300),
            until_step(0, "listening"),
            exec_step(["python3", "-c", client], yield_ms=20_000),
        ]
        results = drive(user, backend, p, steps, policy=WW_NET, isolation=isolation)
        assert results[2]["exit_code"] == 0 and "hello from a session" in results[2]["output"], results


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_a_session_without_network_reaches_no_listener_outside(mode: str, user: str) -> None:
    backend, isolation = _backend(mode, user)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with place(user, git=isolation is None) as p:
            connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), 3); print('connected')"
            steps = [
                exec_step(SHELL, tty=True, yield_ms=500),
                *typed(0, f'python3 -c "{connect}"', "rc1"),
                *typed(0, f"exec 3<>/dev/tcp/127.0.0.1/{port}", "rc2"),
            ]
            results = drive(user, backend, p, steps, policy=WW, isolation=isolation)
            shell = "".join(r["output"] for r in results)
            assert "rc1=1" in shell and "rc2=1" in shell, shell
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    assert accepted == []


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_one_shot_commands_have_no_terminal(mode: str, user: str) -> None:
    """`/dev/tty` is allowed only as the opener's own controlling terminal: a one-shot command
    has none, so it cannot open it (and with it, no terminal of anyone else)."""
    backend, isolation = _backend(mode, user)
    with place(user, git=isolation is None) as p:
        (result,) = attack(
            user, backend, p, [sh("echo x > /dev/tty; echo rc=$?")], policy=WW, isolation=isolation
        )
        assert "rc=1" in result.output or "rc=2" in result.output, result
        assert "No such device or address" in result.output, result
