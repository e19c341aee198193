"""Nothing a process session started outlives the session, its manager or the server.

The adversary starts processes meant to survive: `setsid` daemons, double forks, `nohup`,
in terminal and pipe sessions.  Both backends, root and `tester`, the Landlock fallback
without namespaces as `tester`.  Judged from outside, by finding the `sleep` processes by
their unique duration while the probe standing in for the server is still running (or
after it was killed with SIGKILL).
"""

from __future__ import annotations

import os
import signal

import pytest

from tests.security.backends_support import USERS, WW, alive, nap, needs_linux, place, sleepers, wait_dead
from tests.security.test_uexec_containment import MODES, _backend
from tests.security.uexec_support import exec_step, hanging, until_step

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(240)]


def _survivors(*durations: str) -> list[int]:
    return [pid for d in durations for pid in sleepers(d)]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_sessions_die_with_the_server_killed_by_sigkill(mode: str, user: str) -> None:
    backend, isolation = _backend(mode, user)
    a, b, c = nap(), nap(), nap()
    steps = [
        exec_step(["/bin/bash", "-c", f"setsid sleep {a} & sleep {a}"], tty=True, yield_ms=500),
        exec_step(["/bin/sh", "-c", f"( (sleep {b} &) & ); sleep {b}"], yield_ms=500),
        exec_step(
            ["/bin/sh", "-c", f"nohup sleep {c} >/dev/null 2>&1 & setsid -f sleep {c}; sleep {c}"],
            tty=True,
            yield_ms=500,
        ),
    ]
    with (
        place(user, git=isolation is None) as p,
        hanging(user, backend, p, steps, policy=WW, isolation=isolation) as (probe, results),
    ):
        assert all(r["session_id"] is not None for r in results), results
        before = _survivors(a, b, c)
        assert len(before) >= 7, before  # each sleep, the detached ones included
        os.kill(probe, signal.SIGKILL)
        assert wait_dead(before, 10) == []
        assert _survivors(a, b, c) == []


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_sessions_end_with_their_process_their_lifetime_and_the_manager(mode: str, user: str) -> None:
    backend, isolation = _backend(mode, user)
    d, e, f, g = nap(), nap(), nap(), nap()
    steps = [
        # The session's process exits at once; what it left behind must go with it.
        exec_step(
            ["/bin/bash", "-c", f"setsid sleep {d} & ( (sleep {d} &) & ); echo started"],
            tty=True,
            yield_ms=1000,
        ),
        # Outlives the lifetime limit (3 s here): ended, with everything it started.
        exec_step(["/bin/sh", "-c", f"setsid sleep {e} & echo bg=$!; sleep {e}"], yield_ms=300),
        until_step(1, "never printed", within=30),
        # Still running when the manager is closed.
        exec_step(["/bin/bash", "-c", f"setsid sleep {f} & echo bg=$!; sleep {f}"], tty=True, yield_ms=300),
        exec_step(
            ["/bin/sh", "-c", f"nohup sleep {g} >/dev/null 2>&1 & echo bg=$!; sleep {g}"], yield_ms=300
        ),
        {"close": True},
    ]
    kw = {"policy": WW, "isolation": isolation, "max_lifetime_s": 3.0}
    with place(user, git=isolation is None) as p, hanging(user, backend, p, steps, **kw) as (probe, res):
        assert res[0]["exit_code"] == 0 and "started" in res[0]["output"], res
        assert res[2]["exit_code"] == 143 and "exec_session_max_lifetime_sec" in res[2]["output"], res
        # Each left a process in the background before it ended (the `bg=` line), and all is gone.
        assert all("bg=" in res[i]["output"] for i in (1, 3, 4)), res
        assert res[3]["session_id"] is not None and res[4]["session_id"] is not None, res
        assert wait_dead(_survivors(d, e, f, g), 10) == []
        assert alive(probe)  # the probe is still running: it was the sessions that ended
