"""Support for the sandbox-backend attack tests: run attacks as root or as `tester`, on a
chosen backend, through the real `prepare_command` + `run_exec`, and judge from outside.

The commands run in `backends_probe.py`, a process that stands in for the server (it
carries a fake API key and hardens itself like the server).  As `tester` it is started with
the system Python (the tests' interpreter lives under root's 0700 home) and the worktree
plus the venv's site-packages on PYTHONPATH, or a readable copy of them
(`tester_runtime.py`) when they live where `tester` cannot look.

Directories live under /var/tmp, outside every writable root of the policies used here
(workspace-write also allows /tmp), and belong to the user the attack runs as, so that only
the sandbox stands between the attack and the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.sandbox.landlock import probe as landlock_probe
from tests.security.backends_probe import FAKE_KEY
from tests.security.tester_runtime import runtime_for

ROOT_DIR = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("backends_probe.py")
SYSTEM_PYTHON = "/usr/bin/python3"
TESTER = "tester"


def _tester_uid() -> int | None:
    try:
        return pwd.getpwnam(TESTER).pw_uid
    except KeyError:
        return None


TESTER_UID = _tester_uid()
CAN_SWITCH_USER = (
    sys.platform.startswith("linux") and os.geteuid() == 0 and TESTER_UID is not None
    and os.access(SYSTEM_PYTHON, os.X_OK) and shutil.which("runuser") is not None
)  # fmt: skip
HAVE_BWRAP = shutil.which("bwrap") is not None
HAVE_LANDLOCK = sys.platform.startswith("linux") and landlock_probe()[0] >= 1

needs_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox backends")

BACKENDS = [
    pytest.param("bwrap", marks=pytest.mark.skipif(not HAVE_BWRAP, reason="bwrap not installed"), id="bwrap"),
    pytest.param(
        "landlock", marks=pytest.mark.skipif(not HAVE_LANDLOCK, reason="no Landlock"), id="landlock"
    ),
]
USERS = [
    pytest.param("root", marks=pytest.mark.skipif(os.geteuid() != 0, reason="tests run as root"), id="root"),
    pytest.param(
        "tester", marks=pytest.mark.skipif(not CAN_SWITCH_USER, reason="no `tester` user"), id="tester"
    ),
]

WW = {"mode": "workspace-write"}
RO = {"mode": "read-only"}
WW_NET = {"mode": "workspace-write", "network_access": True}
FULL = {"mode": "danger-full-access"}


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def py(code: str, *args: str) -> list[str]:
    return [SYSTEM_PYTHON, "-I", "-c", code, *args]


@dataclass
class Result:
    exit_code: int | None
    stdout: str
    stderr: str
    backend: str
    kind: str
    error: str | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Place:
    """A base dir with `ws` (the session cwd) and `outside`, owned by the attacking user."""

    base: Path
    user: str
    ws: Path = field(init=False)
    outside: Path = field(init=False)

    def __post_init__(self) -> None:
        self.ws = self.base / "ws"
        self.outside = self.base / "outside"

    def chown(self, path: Path) -> None:
        if self.user == TESTER and TESTER_UID is not None:
            os.chown(path, TESTER_UID, TESTER_UID)


@contextlib.contextmanager
def place(user: str, *, git: bool = True) -> Iterator[Place]:
    """`git=False`: no `.git` in the workspace, so workspace-write has no read-only carve-out
    (what the Landlock fallback without namespaces can enforce)."""
    base = Path(tempfile.mkdtemp(prefix="codex-mcp-backends-", dir="/var/tmp"))
    p = Place(base, user)
    try:
        for d in (p.ws, p.outside):
            d.mkdir()
            p.chown(d)
        p.chown(p.base)
        if git:
            (p.ws / ".git").mkdir()
            (p.ws / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
            p.chown(p.ws / ".git")
            p.chown(p.ws / ".git" / "HEAD")
        yield p
    finally:
        shutil.rmtree(base, ignore_errors=True)


def as_user(user: str, argv: Sequence[str]) -> list[str]:
    """`argv` run as `user` (root: unchanged)."""
    if user == "root":
        return list(argv)
    return ["runuser", "-u", user, "--", *argv]


def _probe_env(user: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "LC_ALL": "C.UTF-8",
        "OPENAI_API_KEY": FAKE_KEY,
        "HOME": "/var/tmp",
    }
    if user != "root":
        env["PYTHONPATH"] = runtime_for(user).pythonpath
    return env


def attack(
    user: str,
    backend: str,
    where: Place,
    commands: Sequence[Sequence[str]],
    *,
    policy: dict[str, Any] | None = None,
    isolation: str | None = None,
    cwd: Path | None = None,
    timeout_ms: int = 20_000,
    refusal_expected: bool = False,
    codex_home: Path | None = None,
) -> list[Result]:
    """Run `commands` one after the other in the sandbox, as `user`; one result each.

    Unless `refusal_expected`, every command must actually have run in the sandbox: an attack
    that "failed" because nothing ran proves nothing.
    """
    spec = {
        "backend": backend,
        "cwd": str(cwd or where.ws),
        "policy": policy or WW,
        "isolation": isolation,
        "commands": [list(c) for c in commands],
        "timeout_ms": timeout_ms,
        "codex_home": None if codex_home is None else str(codex_home),
    }
    python = sys.executable if user == "root" else SYSTEM_PYTHON
    probe = PROBE if user == "root" else runtime_for(user).root / "tests" / "security" / PROBE.name
    argv = as_user(user, [python, str(probe), json.dumps(spec)])
    proc = subprocess.run(
        argv, env=_probe_env(user), cwd=str(where.base), capture_output=True, text=True,
        timeout=60 + len(commands) * timeout_ms / 1000, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"probe failed ({proc.returncode}): {proc.stderr[-3000:]}"
    results = [Result(**r) for r in json.loads(proc.stdout)]
    if not refusal_expected:
        for r in results:
            assert r.kind not in ("refused", "setup_error"), f"the sandbox did not run the command: {r}"
    return results


# ---- victims: processes outside the sandbox that attacks aim at ---------------------------------

VICTIM_CODE = "import signal, sys, time\nprint('ready', flush=True)\nwhile True: signal.pause()\n"


@contextlib.contextmanager
def victim(user: str) -> Iterator[subprocess.Popen[str]]:
    """A process of `user` outside any sandbox, with the fake API key in its environment.
    (`setpriv` execs, so the pid is the victim itself.)"""
    argv = [SYSTEM_PYTHON, "-I", "-c", VICTIM_CODE]
    if user != "root":
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv]
    proc = subprocess.Popen(
        argv, env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": FAKE_KEY}, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def status_field(pid: int, name: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} in /proc/{pid}/status")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_dead(pids: Sequence[int], timeout: float = 5.0) -> list[int]:
    """The pids still alive after a bounded wait for all of them to die."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def kill_all(pids: Sequence[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def nap() -> str:
    """A `sleep` duration unique to this call: its processes can be found by command line."""
    return f"{200 + os.getpid() % 97}.{time.monotonic_ns() % 10**9:09d}"


def sleepers(duration: str) -> list[int]:
    """Live `sleep <duration>` processes, anywhere on the machine (host pids)."""
    want = b"sleep\x00" + duration.encode() + b"\x00"
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    if fh.read() == want and alive(int(name)):
                        out.append(int(name))
            except OSError:
                continue
    return out


def read_pids(path: Path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split() if x.isdigit()]
    except FileNotFoundError:
        return []
