"""Red-team variants of escaping the teardown: processes that hide from the keeper in ways
the isolation tests do not try: a command that makes itself a child subreaper (so that its
orphans stop at it, not at the keeper) and exits first; a nested user + PID namespace with a
daemon inside; `clone(CLONE_PARENT)` making a sibling of the command; a process that ignores
every catchable signal.  Judged by the kernel after the command returned: none is alive.
"""

from __future__ import annotations

import pytest

from tests.security.backends_support import (
    USERS,
    attack,
    kill_all,
    nap,
    needs_linux,
    place,
    py,
    sh,
    sleepers,
    wait_dead,
)
from tests.security.test_backends_isolation import MODES, WW, _backend

pytestmark = [needs_linux, pytest.mark.timeout(180)]

_SUBREAPER = r"""
import ctypes, os, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        os.execvp("sleep", ["sleep", sys.argv[1]])
    os._exit(0)
time.sleep(0.2)
print("subreaper exits")
"""

_CLONE_PARENT = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
# clone(CLONE_PARENT | SIGCHLD) with a NULL stack: the child is a sibling of this process.
pid = libc.syscall(56, 0x00008000 | 17, 0, 0, 0, 0)
if pid == 0:
    os.setsid()
    os.execvp("sleep", ["sleep", sys.argv[1]])
print("sibling", pid)
"""

_DEAF = r"""
import os, signal, sys
if os.fork() == 0:
    os.setsid()
    for s in range(1, 65):
        try:
            signal.signal(s, signal.SIG_IGN)
        except (OSError, ValueError, RuntimeError):
            pass
    os.execvp("sleep", ["sleep", sys.argv[1]])
print("deaf started")
"""


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("mode", [*MODES, "none"])
@pytest.mark.parametrize("how", ["subreaper", "clone-parent", "deaf", "nested-namespace"])
def test_hidden_processes_do_not_outlive_the_command(user: str, mode: str, how: str) -> None:
    if mode == "none":
        backend, isolation, policy = "none", None, {"mode": "danger-full-access"}
    else:
        backend, isolation = _backend(mode, user)
        policy = WW
    duration = nap()
    command = {
        "subreaper": py(_SUBREAPER, duration),
        "clone-parent": py(_CLONE_PARENT, duration),
        "deaf": py(_DEAF, duration),
        "nested-namespace": sh(
            f"unshare --user --map-root-user --pid --fork --kill-child=SIGKILL true 2>/dev/null; "
            f"(unshare --user --map-root-user --pid --fork setsid sleep {duration} & ) 2>/dev/null; "
            f"setsid sleep {duration} & echo started"
        ),
    }[how]
    with place(user, git=False) as p:
        try:
            (result,) = attack(user, backend, p, [command], policy=policy, isolation=isolation)
            assert result.exit_code == 0, result
            assert not wait_dead(sleepers(duration), timeout=5), "a process outlived its command"
        finally:
            kill_all(sleepers(duration))
