"""Restricted read access (`Boundary.readable_roots`) is enforced by both Linux backends: a
secret outside the readable roots (readable by the user, so only the sandbox is in the way)
never reaches the command's output or a file it can write, by any path; programs still run
(the platform defaults), and the readable roots read normally.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_mcp.sandbox.boundary import compute_boundary
from codex_mcp.sandbox.container import ISOLATION_NONE
from codex_mcp.sandbox.policy import SandboxPolicy
from codex_mcp.sandbox.select import prepare_command
from tests.security.backends_support import (
    BACKENDS,
    HAVE_LANDLOCK,
    USERS,
    Place,
    attack,
    needs_linux,
    place,
    py,
    sh,
)

pytestmark = [pytest.mark.e2e, needs_linux, pytest.mark.sandbox, pytest.mark.timeout(180)]

SECRET = "top-secret-outside-the-readable-roots"


def _setup(p: Place) -> Path:
    secret = p.outside / "secret.txt"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o644)
    p.chown(secret)
    (p.ws / "notes.txt").write_text("inside\n")
    p.chown(p.ws / "notes.txt")
    return secret


_OPENAT = """
import os, sys
root = os.open("/", os.O_PATH)
print(os.read(os.open(sys.argv[1][1:], os.O_RDONLY, dir_fd=root), 200))
"""


def _attacks(p: Place, secret: Path) -> list[list[str]]:
    s = str(secret)
    return [
        ["cat", str(p.ws / "notes.txt")],
        sh(f"cat {s}; head -c 100 {s}; ls {p.outside}; cat {p.outside}/*"),
        sh(f"ln -s {s} {p.ws}/link; cat {p.ws}/link; ln {s} {p.ws}/hard; cat {p.ws}/hard"),
        sh(f"cat /proc/self/root{s}; cat /proc/1/root{s}; cd {p.outside} && cat secret.txt"),
        py(_OPENAT, s),
        sh(f"cp {s} {p.ws}/copy; mv {s} {p.ws}/moved; cat {p.ws}/copy {p.ws}/moved"),
        sh("cat /etc/shadow; ls /root /home; ls /var/tmp"),
    ]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["read-only", "workspace-write"])
def test_secret_outside_the_readable_roots(user: str, backend: str, mode: str) -> None:
    with place(user) as p:
        secret = _setup(p)
        results = attack(
            user, backend, p, _attacks(p, secret), policy={"mode": mode, "readable_roots": [str(p.ws)]}
        )
        assert results[0].stdout == "inside\n", results[0]
        for r in results:
            assert SECRET not in r.output, r
        for name in ("copy", "moved", "hard"):
            path = p.ws / name
            assert not path.exists() or SECRET not in path.read_text(errors="replace")
        assert secret.read_text() == SECRET + "\n"


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_programs_still_run_with_restricted_read(user: str, backend: str) -> None:
    """The platform defaults: shells, coreutils, the system Python, name service, /dev."""
    with place(user) as p:
        results = attack(
            user, backend, p,
            [
                sh("ls /usr/bin >/dev/null && id -un && echo ok > out.txt && cat out.txt"),
                py("import json, os, sys; print(sys.version_info[0], os.cpu_count() is not None)"),
                sh("head -c 4 /dev/urandom | wc -c; date +%Y >/dev/null && echo date-ok"),
            ],
            policy={"mode": "workspace-write", "readable_roots": [str(p.ws)]},
        )  # fmt: skip
        assert results[0].exit_code == 0 and results[0].stdout.split()[-1] == "ok", results[0]
        assert results[1].stdout.split() == ["3", "True"], results[1]
        assert results[2].stdout.split() == ["4", "date-ok"], results[2]


@pytest.mark.skipif(not HAVE_LANDLOCK, reason="Landlock")
@pytest.mark.parametrize("user", USERS)
def test_secret_outside_from_the_landlock_fallback(user: str) -> None:
    if user == "root":
        pytest.skip("as root the fallback is refused")
    with place(user, git=False) as p:
        secret = _setup(p)
        results = attack(
            user, "landlock", p, _attacks(p, secret),
            policy={"mode": "workspace-write", "readable_roots": [str(p.ws)]}, isolation=ISOLATION_NONE,
        )  # fmt: skip
        assert results[0].stdout == "inside\n", results[0]
        for r in results:
            assert SECRET not in r.output, r


@pytest.mark.parametrize("backend", BACKENDS)
def test_restricted_read_is_no_longer_refused(backend: str, tmp_path: Path) -> None:
    """Both Linux backends enforce readable roots, so `prepare_command` accepts them."""
    policy = SandboxPolicy("workspace-write", readable_roots=(str(tmp_path),))
    prepared = prepare_command(
        ["true"], compute_boundary(policy, str(tmp_path)), str(tmp_path), {}, backend=backend
    )  # type: ignore[arg-type]
    prepared.close()
    assert prepared.backend == backend


def test_secret_is_readable_without_the_restriction(tmp_path: Path) -> None:
    """Control: the same read works when the whole filesystem is readable."""
    assert os.access("/bin/cat", os.X_OK)
    with place("root") as p:
        secret = _setup(p)
        results = attack(
            "root", BACKENDS[0].values[0], p, [["cat", str(secret)]], policy={"mode": "read-only"}
        )
        assert SECRET in results[0].stdout
