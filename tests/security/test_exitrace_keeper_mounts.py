"""The keeper of a Landlock container never shares the container's mount namespace.

A keeper that shared it saw init rearrange the mounts under it: while init replaced /dev by
its private tmpfs, the keeper's own `open("/dev/null")` (letting go of the command's stdio)
found nothing and the keeper died, so init died of its parent-death signal and a command
nothing had asked to kill ended at once with SIGKILL (exit 137, no output).  A keeper that
held that /dev/null open instead made init's read-only remount of /dev fail (EBUSY), and
the command was refused.  Both were rare races under CPU contention; what they need, a
keeper inside the container's mounts, is checked here from outside: the kernel's namespace
links of the command, init and the keeper, and the /proc the keeper sees.

Every container path: the fork server's keeper (as root, and as `tester` with a user
namespace) and the exec'd launcher, which is its own keeper.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_mcp.sandbox.container import ISOLATION_NS
from codex_mcp.sandbox.launcher import launcher_argv, launcher_policy
from tests.security.backends_support import (
    HAVE_LANDLOCK,
    USERS,
    Result,
    attack,
    kill_all,
    nap,
    needs_linux,
    place,
    sleepers,
)
from tests.support.raw_client import wait_until

pytestmark = [
    needs_linux,
    pytest.mark.sandbox,
    pytest.mark.skipif(not HAVE_LANDLOCK, reason="no Landlock"),
    pytest.mark.timeout(120),
]


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        return int(fh.read().rpartition(b")")[2].split()[1])


def _mount_ns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/mnt")


def _assert_keeper_outside(command: int, expected_keeper: int | None = None) -> None:
    """`command` runs under init under a keeper: the keeper keeps its parent's mount
    namespace (the host's here) and sees the host's /proc; init and the command have a
    mount namespace of their own."""
    init = _ppid(command)
    keeper = _ppid(init)
    if expected_keeper is not None:
        assert keeper == expected_keeper, (command, init, keeper)
    outside = _mount_ns(_ppid(keeper))
    assert _mount_ns(init) == _mount_ns(command) != outside, "the command shares its keeper's mounts"
    assert _mount_ns(keeper) == outside, "the keeper shares the container's mount namespace"
    # What the keeper opens and reads after starting init is the host's, never init's work.
    assert os.path.isdir(f"/proc/{keeper}/root/proc/{keeper}"), "the keeper sees the container's /proc"


@contextlib.contextmanager
def _sleeping(duration: str) -> Iterator[int]:
    """Wait for the one `sleep <duration>`; kill whatever is left of it on the way out."""
    try:
        wait_until(lambda: len(sleepers(duration)) == 1, 30, "the sandboxed sleep")
        yield sleepers(duration)[0]
    finally:
        kill_all(sleepers(duration))


@pytest.mark.parametrize("user", USERS)
def test_the_fork_servers_keeper_stays_out_of_the_containers_mounts(user: str) -> None:
    """The probe plays the server (as `user`): fork server, keeper, init, command."""
    duration = nap()
    results: list[Result] = []
    with place(user) as p:
        runner = threading.Thread(
            target=lambda: results.extend(
                attack(user, "landlock", p, [["sleep", duration]], timeout_ms=90_000)
            )
        )
        runner.start()
        try:
            with _sleeping(duration) as command:
                _assert_keeper_outside(command)
        finally:
            runner.join(90)
    assert not runner.is_alive()
    assert [r.exit_code for r in results] == [128 + signal.SIGKILL]  # ours, at the end


def test_the_exec_launcher_stays_out_of_its_containers_mounts(tmp_path: Path) -> None:
    """The launcher run as a program (no fork server) is the keeper itself."""
    duration = nap()
    argv = launcher_argv(launcher_policy([str(tmp_path)], False, isolation=ISOLATION_NS), ["sleep", duration])
    if os.geteuid() != 0:
        pytest.skip("isolation pid+mount needs root")
    proc = subprocess.Popen(argv, cwd=tmp_path, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        with _sleeping(duration) as command:
            _assert_keeper_outside(command, proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
