"""A hostile model tries to leave processes running behind the server's back through process
sessions: `setsid` and double-forked daemons, `nohup`, a process that ignores SIGTERM and
SIGHUP, on a terminal and on pipes.  Through the real server, both backends, root and
`tester`.  None of them survives the session's own end, the server exiting (its input
closed) or the server killed with SIGKILL; judged from outside (the kernel's process list).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.execwire_support import after, exec_command, exit_code_in
from tests.security.backends_support import BACKENDS, USERS, kill_all, nap, needs_linux, sleepers, wait_dead
from tests.security.execwire_support import go, server
from tests.support.raw_client import wait_until
from tests.support.scripted_model import ScriptedModel

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(240)]

ESCAPES = (
    "setsid sleep {d} & (setsid sh -c 'sleep {d} & sleep {d}' &); nohup sleep {d} >/dev/null 2>&1 & "
    "(trap '' TERM HUP; exec sleep {d}) & "
)
"""Five `sleep {d}` processes meant to outlive whatever started them."""


def leave_behind(model: ScriptedModel, duration: str) -> None:
    """Two sessions (a terminal and pipes), each leaving five processes behind, both still
    running when the turn ends."""
    escapes = ESCAPES.format(d=duration)
    exec_command(model, f"{escapes} exec sleep {duration}", tty=True, yield_ms=1000)
    exec_command(model, f"{escapes} exec sleep {duration}", yield_ms=1000)
    model.text("left them running")


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_survives_a_killed_server(
    user: str, backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    duration = nap()
    leave_behind(scripted_model, duration)
    try:
        with server(user, scripted_model, tmp_path / "server.log", backend=backend) as (client, _):
            go(client)
            wait_until(lambda: len(sleepers(duration)) == 12, 15, "the sessions' processes")
            os.kill(client.proc.pid, signal.SIGKILL)
            client.proc.wait(10)
            survivors = wait_dead(sleepers(duration), 10)
            assert not survivors, f"{len(survivors)} processes outlived the killed server"
    finally:
        kill_all(sleepers(duration))


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_survives_the_server_exiting(
    user: str, backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    duration = nap()
    leave_behind(scripted_model, duration)
    try:
        with server(user, scripted_model, tmp_path / "server.log", backend=backend) as (client, _):
            go(client)
            wait_until(lambda: len(sleepers(duration)) == 12, 15, "the sessions' processes")
            client.close_stdin()
            assert client.wait_exit(40) == 0
            survivors = wait_dead(sleepers(duration), 5)
            assert not survivors, f"{len(survivors)} processes outlived the server's exit"
    finally:
        kill_all(sleepers(duration))


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_survives_the_session_itself(
    user: str, backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """The session's process exits after starting its daemons (and after the call that
    started it returned): its daemons are ended with it while the server runs on."""
    duration = nap()
    start = exec_command(
        scripted_model, f"{ESCAPES.format(d=duration)} sleep 2; echo leaving", tty=True, yield_ms=500
    )
    ended = after(scripted_model, start, "", yield_ms=10_000)
    scripted_model.text("done")
    try:
        with server(user, scripted_model, tmp_path / "server.log", backend=backend) as (client, _):
            go(client)
            out = scripted_model.call_output(ended)
            assert "leaving" in out and exit_code_in(out) == 0, out
            survivors = wait_dead(sleepers(duration), 10)
            assert not survivors, f"{len(survivors)} processes outlived their session"
    finally:
        kill_all(sleepers(duration))
