"""A sandboxed command has no view of, and no power over, the server's processes, and nothing
it starts outlives it.  Both backends, root and `tester`; the Landlock backend also in its
fallback without namespaces (as `tester`: as root that fallback is refused).

Victims: the probe process standing in for the server (`{server_pid}`) and a process of the
same user outside the sandbox.  Judged from outside: the victims' limits, priority, state
and tracer as the kernel reports them, and which of the command's processes are still alive.
"""

from __future__ import annotations

import os

import pytest

from codex_mcp.sandbox.container import ISOLATION_NONE
from tests.security.backends_support import (
    BACKENDS,
    FULL,
    HAVE_LANDLOCK,
    RO,
    USERS,
    WW,
    alive,
    attack,
    kill_all,
    nap,
    needs_linux,
    place,
    py,
    read_pids,
    sh,
    sleepers,
    status_field,
    victim,
    wait_dead,
)

pytestmark = [pytest.mark.e2e, needs_linux, pytest.mark.sandbox, pytest.mark.timeout(240)]

# (backend, isolation override) pairs, by user.  The fallback runs only as `tester`.
MODES = [
    *BACKENDS,
    pytest.param(
        "landlock-fallback",
        marks=pytest.mark.skipif(not HAVE_LANDLOCK, reason="no Landlock"),
        id="landlock-fallback",
    ),
]


def _backend(mode: str, user: str) -> tuple[str, str | None]:
    if mode == "landlock-fallback":
        if user == "root":
            pytest.skip("as root the fallback is refused (see test_fallback_refusals)")
        return "landlock", ISOLATION_NONE
    return mode, None


def _victim_state(pid: int) -> tuple[object, ...]:
    with open(f"/proc/{pid}/limits") as fh:
        limits = fh.read()  # (prlimit() on another user's process needs CAP_SYS_RESOURCE)
    return (
        limits,
        os.getpriority(os.PRIO_PROCESS, pid),
        status_field(pid, "State")[0] in "Tt",  # stopped or traced
        status_field(pid, "TracerPid"),
        os.sched_getaffinity(pid),
    )


_PTRACE = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
for pid in sys.argv[1:]:
    for req in (16, 0x4206):  # PTRACE_ATTACH, PTRACE_SEIZE
        res = libc.ptrace(req, int(pid), 0, 0)
        print(pid, req, "attached" if res == 0 else "denied", ctypes.get_errno())
"""

_PIDFD = """
import os, signal, sys
for pid in sys.argv[1:]:
    try:
        fd = os.pidfd_open(int(pid))
        signal.pidfd_send_signal(fd, signal.SIGSTOP)
        print("signalled", pid)
    except OSError as exc:
        print("denied", pid, exc.errno)
"""


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_no_power_over_the_server_or_its_siblings(user: str, mode: str) -> None:
    backend, isolation = _backend(mode, user)
    with place(user) as p, victim(user) as v:
        server_ref = "{server_pid}"
        before = _victim_state(v.pid)
        targets = f"{server_ref} {v.pid}"
        results = attack(
            user, backend, p,
            [
                sh(f"for t in {targets}; do prlimit --pid $t --nofile=4:4; prlimit --pid $t --nproc=1:1;"
                   " done"),
                sh(f"for t in {targets}; do renice -n 19 -p $t; ionice -c 3 -p $t; taskset -p 1 $t; done"),
                # `kill -1` only as `tester`: as root, a broken sandbox would take the machine down.
                sh(f"for t in {targets}; do kill -STOP $t; kill -TERM $t; done"
                   + ("" if user == "root" else "; kill -STOP -1; kill -TERM -1")),
                py(_PTRACE, server_ref, str(v.pid)),
                py(_PIDFD, server_ref, str(v.pid)),
                sh(f"for t in {targets}; do echo 1000 > /proc/$t/oom_score_adj; done"),
            ],
            policy=RO, isolation=isolation,
        )  # fmt: skip
        assert alive(v.pid), "the victim was killed"
        assert _victim_state(v.pid) == before
        assert "attached" not in results[3].stdout, results[3]
        assert "signalled" not in results[4].stdout, results[4]
        assert _oom_score_adj(v.pid) == 0


def _oom_score_adj(pid: int) -> int:
    with open(f"/proc/{pid}/oom_score_adj") as fh:
        return int(fh.read())


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_server_survives_prlimit_and_renice_attacks(user: str, mode: str) -> None:
    """The issue's attack on the server itself: later commands still run (no EMFILE)."""
    backend, isolation = _backend(mode, user)
    with place(user) as p:
        results = attack(
            user, backend, p,
            [
                sh("prlimit --pid {server_pid} --nofile=4:4; prlimit --pid $PPID --nofile=4:4"),
                sh("renice -n 19 -p {server_pid}; kill -STOP {server_pid}"),
                sh("echo still-working"),
                sh("echo still-working"),
            ],
            policy=RO, isolation=isolation,
        )  # fmt: skip
        assert [r.stdout for r in results[2:]] == ["still-working\n"] * 2, results


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_host_process_list_is_not_visible(user: str, mode: str) -> None:
    backend, isolation = _backend(mode, user)
    with place(user) as p, victim(user) as v:
        results = attack(
            user, backend, p,
            [
                sh("ls /proc; cat /proc/{server_pid}/cmdline"),
                sh(f"ls -d /proc/{v.pid} && cat /proc/{v.pid}/status"),
                sh("ps -e -o pid,args 2>&1"),
            ],
            policy=RO, isolation=isolation,
        )  # fmt: skip
    listing = results[0].stdout.split()
    assert str(v.pid) not in listing and "backends_probe" not in results[0].stdout
    assert "VICTIM_CODE" not in results[1].output and "signal.pause" not in results[1].output
    assert results[1].exit_code != 0
    assert "signal.pause" not in results[2].output and "backends_probe" not in results[2].output


_DAEMONS = """
import os, sys, time
out, n, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    if os.fork() == 0:  # double fork + setsid: the classic daemon, out of every group we know
        os.setsid()
        if os.fork() == 0:
            with open(out, "a") as fh:
                fh.write(f"{os.getpid()}\\n")
            os.execvp("sleep", ["sleep", duration])
        os._exit(0)
    os.wait()
while len(open(out).read().split()) < n:
    time.sleep(0.01)
"""


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", [*MODES, "none"])
def test_nothing_the_command_started_survives_it(user: str, mode: str) -> None:
    """setsid / double-forked / nohup'd children, judged by the kernel after the command
    returned: none is alive.  Also without a sandbox (danger-full-access)."""
    if mode == "none":
        backend, isolation, policy = "none", None, FULL
    else:
        backend, isolation = _backend(mode, user)
        policy = WW
    duration = nap()
    with place(user, git=False) as p:
        pids_file = p.ws / "pids"
        n = 100
        try:
            results = attack(
                user, backend, p,
                [
                    py(_DAEMONS, str(pids_file), str(n), duration),
                    sh(f"for i in 1 2 3; do setsid sleep {duration} & echo $! >> {pids_file}; done; "
                       f"nohup sleep {duration} >/dev/null 2>&1 & echo $! >> {pids_file}; "
                       f"(setsid -f sleep {duration}; true); echo started"),
                ],
                policy=policy, isolation=isolation,
            )  # fmt: skip
            assert results[0].exit_code == 0, results[0]
            assert results[1].stdout == "started\n", results[1]
            assert len(read_pids(pids_file)) == n + 4
            survivors = wait_dead(sleepers(duration), timeout=5)
            assert not survivors, f"{len(survivors)} processes outlived their command"
        finally:
            kill_all(sleepers(duration))


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", MODES)
def test_timeout_kills_the_whole_tree(user: str, mode: str) -> None:
    backend, isolation = _backend(mode, user)
    duration = nap()
    with place(user) as p:
        try:
            results = attack(
                user, backend, p,
                [sh(f"setsid sleep {duration} & (trap '' TERM; setsid sleep {duration} &); "
                    f"sleep {duration}")],
                policy=RO, isolation=isolation, timeout_ms=1500,
            )  # fmt: skip
            assert results[0].exit_code == 124, results[0]
            assert not wait_dead(sleepers(duration), timeout=5)
        finally:
            kill_all(sleepers(duration))


@pytest.mark.skipif(os.geteuid() != 0 or not HAVE_LANDLOCK, reason="root and Landlock")
def test_fallback_refusals() -> None:
    """Without namespaces the Landlock backend refuses what it cannot keep: read-only
    carve-outs (`.git`), and, as root, anything (chmod of root-owned files is not covered by
    Landlock).  Nothing runs."""
    with place("root") as p:
        marker = p.ws / "ran"
        results = attack(
            "root", "landlock", p,
            [sh(f"touch {marker}")],
            policy=RO, isolation=ISOLATION_NONE, refusal_expected=True,
        )  # fmt: skip
        assert results[0].kind == "refused" and "root" in (results[0].error or "")
        assert not marker.exists()


@pytest.mark.skipif(not HAVE_LANDLOCK, reason="Landlock")
@pytest.mark.parametrize("user", USERS)
def test_fallback_refuses_carve_outs_it_cannot_keep(user: str) -> None:
    if user == "root":
        pytest.skip("as root every fallback command is refused")
    with place(user) as p:  # the workspace has a .git: workspace-write must keep it read-only
        results = attack(user, "landlock", p, [sh(f"echo evil > {p.ws}/.git/HEAD")],
                         policy=WW, isolation=ISOLATION_NONE, refusal_expected=True)  # fmt: skip
        assert results[0].kind == "refused" and ".git" in (results[0].error or "")
        assert (p.ws / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"


@pytest.mark.parametrize("user", USERS)
def test_killing_its_keeper_does_not_free_an_unsandboxed_command(user: str) -> None:
    """An unsandboxed command kills its keeper (its parent) to orphan a daemon: the fork
    server, a subreaper too, inherits the orphan and kills it."""
    duration = nap()
    with place(user, git=False) as p:
        try:
            results = attack(
                user, "none", p,
                [sh(f"setsid sleep {duration} & while ! pgrep -f 'sleep {duration}' >/dev/null; do :; done; "
                    "kill -9 $PPID; echo after")],
                policy=FULL,
            )  # fmt: skip
            assert results[0].exit_code == 137, results[0]
            assert not wait_dead(sleepers(duration), timeout=5)
        finally:
            kill_all(sleepers(duration))
