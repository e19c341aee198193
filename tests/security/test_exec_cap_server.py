"""A hostile model runs many threads at once, each opening process sessions until refused:
the server-wide cap (`[codex_mcp] exec_server_max_processes`, 12 here) holds across all of
them, judged from outside by counting the server's descendant `sleep` processes in the
kernel's process list while pinging the server.  The refusal reaches the model, nothing is
ended to make room, the count goes back down when processes end (exited, killed,
cancelled calls, the server exiting), and nothing is left behind.

Run as root and as `tester`, on bwrap, on Landlock and without a sandbox.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.execwire_support import exec_args
from tests.security.backends_support import (
    BACKENDS,
    USERS,
    kill_all,
    nap,
    needs_linux,
    place,
    sleepers,
    wait_dead,
)
from tests.security.exec_cap_support import (
    CAP,
    CAP_CONFIG,
    REFUSAL_KEY,
    Watch,
    cap_server,
    codex_args,
    outputs,
    queue_sleepers,
    session_processes,
    sleeps_under,
    start_held_rounds,
    tally,
)
from tests.security.execwire_support import server
from tests.security.harness import assert_alive
from tests.support.raw_client import wait_until
from tests.support.scripted_model import ScriptedModel, Turn, function_call

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(400)]

MODES = [*BACKENDS, pytest.param("none", id="none")]
THREADS, CALLS_PER_THREAD, HELD_PER_THREAD = 3, 8, 5


def _mode(mode: str) -> tuple[str | None, str]:
    """(the backend to force, the call's sandbox) of a test mode."""
    return (None, "danger-full-access") if mode == "none" else (mode, "workspace-write")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("user", USERS)
def test_sessions_from_three_threads_stop_at_the_server_cap(
    user: str, mode: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """Three concurrent `codex` calls, each opening 8 sessions (24 against a cap of 12): at
    no moment do more than 12 run, exactly 12 are opened and 12 refused with a text that
    names the limit, the server answers `ping` throughout, and when it exits nothing is left."""
    m = scripted_model
    duration = nap()
    for _ in range(THREADS):
        queue_sleepers(m, duration, CALLS_PER_THREAD)
    for _ in range(THREADS):
        m.text("done")
    backend, sandbox = _mode(mode)
    try:
        with (
            place(user) as p,
            server(user, m, tmp_path / "server.log", backend=backend, extra=CAP_CONFIG, where=p) as (
                client,
                _,
            ),
        ):
            pid = client.proc.pid
            with Watch(client, duration) as watch:
                ids = [client.call_tool("codex", codex_args(sandbox)) for _ in range(THREADS)]
                for rid in ids:
                    response = client.wait_response(rid, 300)
                    assert not response["result"].get("isError"), response
                wait_until(lambda: len(sleeps_under(pid, duration)) == CAP, 20, f"{CAP} live sessions")
            opened, refused, texts = tally(m)
            print(
                f"{user}/{mode}: peak {watch.peak}/{watch.samples} samples, ping {watch.slowest_ping:.2f} s"
            )
            assert (opened, refused) == (CAP, THREADS * CALLS_PER_THREAD - CAP), outputs(m)
            assert all(f"already runs {CAP} processes" in t and "write_stdin" in t for t in texts), texts[0]
            assert watch.samples > 0 and watch.peak <= CAP, watch.peak
            assert watch.slowest_ping < 5.0, watch.slowest_ping
            assert_alive(client)
            everything = sleeps_under(pid, duration)
            client.close_stdin()  # the server exits: every thread's sessions end with it
            assert client.wait_exit(60) == 0, client.stderr_tail()
            assert not wait_dead(everything, 15), "sessions outlived the server"
    finally:
        kill_all(sleepers(duration))


@pytest.mark.parametrize("backend", BACKENDS)
def test_commands_running_inside_calls_count_and_cancelling_frees_them(
    backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """Commands still running inside their calls (a 30 s window, 5 side by side per thread, 3
    threads: 15 against a cap of 12) count too: at most 12 run.  The client cancels the
    calls: the interrupted turns end those commands, and the count is back to 0 (a fresh
    thread opens 12 sessions, and only the 13th is refused)."""
    m = scripted_model
    held, fresh = nap(), nap()
    for _ in range(THREADS):
        # 5 each: whatever the order, every thread holds at least 2 (the others take at most
        # 10), so no round ends, and no thread asks the model again, before the cancel.
        queue_sleepers(m, held, HELD_PER_THREAD, yield_ms=30_000)
    queue_sleepers(m, fresh, CAP + 1)
    m.text("done")
    try:
        with cap_server(m, tmp_path, backend) as client:
            pid = client.proc.pid
            with Watch(client, held) as watch:
                ids = start_held_rounds(client, m, held, THREADS)
                for rid in ids:
                    client.notify("notifications/cancelled", {"requestId": rid, "reason": "test"})
                wait_until(lambda: not sleeps_under(pid, held), 30, "the cancelled calls' commands ended")
            assert watch.peak <= CAP, watch.peak
            assert_alive(client)
            response = client.wait_response(client.call_tool("codex", codex_args("workspace-write")), 120)
            assert not response["result"].get("isError"), response
            opened, refused, _ = tally(m)
            assert (opened, refused) == (CAP, 1), outputs(m)
            assert len(sleeps_under(pid, fresh)) == CAP
    finally:
        kill_all(sleepers(held) + sleepers(fresh))


def test_many_start_and_end_cycles_leave_no_count(scripted_model: ScriptedModel, tmp_path: Path) -> None:
    """Under a cap of 3: 12 commands that exit inside their calls, 6 that cannot start (no
    such working directory) and 6 programs that do not exist, then 4 sessions: 3 open, the
    4th is refused, so nothing counted before leaked.  Killing those 3 processes from
    outside gives their slots back: a second call opens 3 again."""
    m = scripted_model
    first, second = nap(), nap()
    calls = [function_call("exec_command", exec_args("true", yield_ms=5000)) for _ in range(12)]
    calls += [function_call("exec_command", exec_args("true", workdir="no/such/dir")) for _ in range(6)]
    calls += [
        function_call("exec_command", exec_args("exec /nonexistent/program", yield_ms=5000)) for _ in range(6)
    ]
    m.add(Turn("calls", calls=calls))
    queue_sleepers(m, first, 4)
    m.text("done")
    queue_sleepers(m, second, 3)
    m.text("done")
    try:
        with (
            place("root") as p,
            server("root", m, tmp_path / "server.log", extra="[codex_mcp]\nexec_server_max_processes = 3\n",
                   where=p) as (client, _),
        ):  # fmt: skip
            pid = client.proc.pid
            response = client.wait_response(client.call_tool("codex", codex_args("workspace-write")), 180)
            assert not response["result"].get("isError"), response
            outs = outputs(m)
            assert sum(REFUSAL_KEY in o for o in outs.values()) == 1, outs
            assert sum("Process running" in o for o in outs.values()) == 3
            victims = sleeps_under(pid, first)
            assert len(victims) == 3
            for victim in victims:
                os.kill(victim, signal.SIGKILL)
            # The server tears a session down (its keeper ends) and then gives its slot back,
            # with nothing to wait for in between: once no session process is left, the next
            # call (a model round trip away) finds the slots free.
            wait_until(lambda: not session_processes(pid), 20, "the killed sessions torn down")
            response = client.wait_response(client.call_tool("codex", codex_args("workspace-write")), 120)
            assert not response["result"].get("isError"), response
            outs = outputs(m)
            assert sum(REFUSAL_KEY in o for o in outs.values()) == 1, outs  # no new refusal
            assert len(sleeps_under(pid, second)) == 3
            assert_alive(client)
    finally:
        kill_all(sleepers(first) + sleepers(second))
