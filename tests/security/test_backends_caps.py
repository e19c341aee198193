"""Sandboxed commands hold no capability and cannot use root's powers, on both Linux backends,
with the server as root and as an ordinary user.  Judged from outside wherever an effect can
be seen there: the file outside, its mode and owner, the host's domain name, the victim's
secret never reaching the command's output.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.security.backends_probe import FAKE_KEY
from tests.security.backends_support import (
    BACKENDS,
    SYSTEM_PYTHON,
    TESTER_UID,
    USERS,
    WW,
    WW_NET,
    attack,
    needs_linux,
    place,
    py,
    sh,
    victim,
)

pytestmark = [pytest.mark.e2e, needs_linux, pytest.mark.sandbox, pytest.mark.timeout(180)]

CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def _fields(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_no_capability_in_any_set(user: str, backend: str) -> None:
    """Inside (the issue's check) and from outside: the running command's /proc status."""
    with place(user) as p:
        marker = f"{30 + os.getpid() % 60}.{time.monotonic_ns() % 10**6}"
        probe = subprocess.Popen(  # find the sleeping command from outside while it runs
            [sys.executable, "-c", _OUTSIDE_STATUS, marker], stdout=subprocess.PIPE, text=True
        )
        results = attack(
            user, backend, p,
            [
                ["grep", "-E", "^(Cap[A-Za-z]+|NoNewPrivs|Seccomp):", "/proc/self/status"],
                sh(f"sleep {marker} & wait"),
            ],
            policy=WW, timeout_ms=3000,
        )  # fmt: skip
        outside, _ = probe.communicate(timeout=30)
    inside = _fields(results[0].stdout)
    assert results[0].exit_code == 0, results[0]
    for key in CAP_FIELDS:
        assert int(inside[key], 16) == 0, (key, inside)
    assert inside["NoNewPrivs"] == "1"
    seen = _fields(outside)
    assert seen, f"the command was not found from outside: {outside!r}"
    for key in CAP_FIELDS:
        assert int(seen[key], 16) == 0, (key, seen)


_OUTSIDE_STATUS = """
import os, sys, time
marker = "sleep " + sys.argv[1]
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode().strip()
            if cmd == marker:
                print(open(f"/proc/{pid}/status").read(), end="")
                os.kill(int(pid), 15)
                sys.exit(0)
        except OSError:
            pass
    time.sleep(0.02)
"""


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_remount_root_read_write_then_write_outside(user: str, backend: str) -> None:
    with place(user) as p:
        target = p.outside / "remounted"
        attack(
            user, backend, p,
            [
                sh(f"mount -o remount,rw,bind / ; mount -o remount,rw / ; echo pwned > {target}"),
                sh(f"mount -o remount,rw,bind {p.outside} {p.outside}; echo pwned > {target}"),
                sh(f"mount --bind {p.outside} {p.ws}; echo pwned > {p.ws}/remounted"),
                sh(f"mount -t tmpfs none {p.ws}/.git; umount -l {p.ws}/.git; echo evil > {p.ws}/.git/HEAD"),
            ],
            policy={"mode": "read-only"},
        )  # fmt: skip
        assert not target.exists()
        assert (p.ws / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"


_MKNOD = """
import os, stat, sys
os.mknod(sys.argv[1], stat.S_IFBLK | 0o666, os.makedev(int(sys.argv[2]), int(sys.argv[3])))
"""


def _device_numbers() -> tuple[int, int]:
    dev = os.stat("/var/tmp").st_dev
    return os.major(dev), os.minor(dev)


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_mknod_of_a_device_backed_by_the_disk(user: str, backend: str) -> None:
    major, minor = _device_numbers()
    with place(user) as p:
        results = attack(
            user, backend, p,
            [
                sh(f"mknod {p.ws}/disk b {major} {minor}; ls -l {p.ws}/disk"),
                sh(f"mknod {p.ws}/mem c 1 1; mknod {p.ws}/kmsg c 1 11"),
                py(_MKNOD, str(p.ws / "viapy"), str(major), str(minor)),
            ],
        )  # fmt: skip
        for name in ("disk", "mem", "kmsg", "viapy"):
            path = p.ws / name
            if path.exists():
                mode = path.lstat().st_mode
                assert not (stat.S_ISBLK(mode) or stat.S_ISCHR(mode)), name
        assert all(r.exit_code != 0 for r in results), results


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_server_environment_is_out_of_reach(user: str, backend: str) -> None:
    """$PPID, the server's pid (the probe stands in for it) and a same-user process."""
    with place(user) as p, victim(user) as v:
        pid = v.pid
        results = attack(
            user, backend, p,
            [
                sh("cat /proc/$PPID/environ; cat /proc/{server_pid}/environ; cat /proc/1/environ"),
                sh(f"cat /proc/{pid}/environ; tr '\\0' '\\n' < /proc/{pid}/environ"),
                py(_READ_MEM, "{server_pid}"),
                py(_READ_MEM, str(pid)),
                sh("for f in /proc/[0-9]*/environ; do cat $f; done 2>/dev/null; ls -l /proc/{server_pid}/fd"),
                sh(f"cat /proc/{pid}/root/proc/{pid}/environ; cat /proc/{pid}/task/{pid}/environ"),
            ],
        )  # fmt: skip
        for r in results:
            assert FAKE_KEY not in r.output, r


_READ_MEM = """
import re, sys
pid = sys.argv[1]
try:
    maps = open(f"/proc/{pid}/maps").read()
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps.splitlines():
            if "[stack]" in line:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                mem.seek(lo)
                data = mem.read(hi - lo)
                print(data[-200000:].decode("latin-1"))
except OSError as exc:
    print("denied", exc)
"""


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_owner_powers_over_outside_files(user: str, backend: str) -> None:
    """chmod / chown / utimes / xattrs of a file outside that the user owns: Landlock alone
    does not govern these; the read-only mounts must."""
    with place(user) as p:
        victim_file = p.outside / "victim"
        victim_file.write_text("keep\n")
        p.chown(victim_file)
        victim_file.chmod(0o600)
        os.utime(victim_file, (1_000_000, 1_000_000))
        before = victim_file.stat()
        v = str(victim_file)
        attack(
            user, backend, p,
            [
                sh(f"chmod 4777 {v}; chown 0:0 {v}; chown 1234 {v}; touch {v}; touch -d 2001-01-01 {v}"),
                py(_METADATA, v),
                sh(f"ln {v} {p.ws}/hard; chmod 777 {p.ws}/hard; echo pwned >> {p.ws}/hard"),
            ],
        )  # fmt: skip
        after = victim_file.stat()
        assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid, before.st_gid)
        assert after.st_mtime == before.st_mtime
        assert victim_file.read_text() == "keep\n"
        assert not os.listxattr(victim_file)


_METADATA = """
import os, sys
path = sys.argv[1]
changes = (lambda: os.chmod(path, 0o777), lambda: os.utime(path), lambda: os.setxattr(path, "user.x", b"1"))
for change in changes:
    try:
        change()
    except OSError:
        pass
"""


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_setuid_binary_gains_nothing(user: str, backend: str) -> None:
    """A setuid-root program (created by the test, outside) runs without privileges."""
    with place(user) as p:
        suid = p.outside / "suid-cat"
        shutil.copy2("/bin/cat", suid)
        os.chown(suid, 0, 0)
        suid.chmod(0o4755)
        secret = p.outside / "root-only"
        secret.write_text("root secret\n")
        secret.chmod(0o600)
        os.chown(secret, 0, 0)
        results = attack(
            user, backend, p,
            [[str(suid), "/proc/self/status"], [str(suid), str(secret)]],
        )  # fmt: skip
        status = _fields(results[0].stdout)
        assert results[0].exit_code == 0, results[0]
        assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
        euid = status["Uid"].split()[1]
        assert euid == ("0" if user == "root" else str(TESTER_UID))
        if user != "root":
            assert "root secret" not in results[1].output


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_namespaces_from_inside_do_not_escape(user: str, backend: str) -> None:
    """unshare (a fresh user namespace with full capabilities in it) and nsenter."""
    with place(user) as p:
        o = p.outside
        attack(
            user, backend, p,
            [
                sh(f"unshare -r -m sh -c 'mount -o remount,rw / ; mount -o remount,rw {o}; echo x > {o}/u1'"),
                sh(f"unshare -U -r sh -c 'echo x > {o}/u2'"),
                sh(f"unshare -r -m sh -c 'umount -l {p.ws}/.git; echo evil > {p.ws}/.git/HEAD'"),
                sh(f"nsenter -t 1 -a sh -c 'echo x > {o}/n1'"),
                sh(f"nsenter -t {{server_pid}} -m sh -c 'echo x > {o}/n2'"),
            ],
        )  # fmt: skip
        assert not list(o.iterdir())
        assert (p.ws / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_raw_sockets_module_loading_and_kernel_settings(user: str, backend: str) -> None:
    """CAP_NET_RAW (even with the network allowed), CAP_SYS_MODULE, and root-writable sysctls."""
    before = Path("/proc/sys/kernel/domainname").read_text()
    with place(user) as p:
        try:
            results = attack(
                user, backend, p,
                [
                    py(_RAW_AND_MODULE),
                    sh("echo pwned-domain > /proc/sys/kernel/domainname"),
                    sh("domainname pwned-domain2; hostname pwned-host"),
                    py(_OPEN_FOR_WRITE),
                ],
                policy=WW_NET,
            )  # fmt: skip
        finally:
            now = Path("/proc/sys/kernel/domainname").read_text()
            if now != before:  # the attack worked: put the machine back before failing
                Path("/proc/sys/kernel/domainname").write_text(before)
    assert now == before
    assert results[0].stdout.split() == ["raw-denied", "packet-denied", "module-denied"], results[0]
    assert "pwned-host" not in Path("/proc/sys/kernel/hostname").read_text()
    # Writing these would hand over the machine (a core_pattern program runs as root) or
    # reboot it, so the attack only opens them: that must already fail.
    assert "opened" not in results[3].stdout, results[3]


_OPEN_FOR_WRITE = """
import os
for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sysrq-trigger",
             "/proc/sys/vm/drop_caches", "/sys/kernel/mm/transparent_hugepage/enabled"):
    try:
        os.close(os.open(path, os.O_WRONLY))
        print("opened", path)
    except OSError as exc:
        print("denied", path, exc.errno)
"""


_RAW_AND_MODULE = """
import ctypes, os, socket
for fam, kind, proto, name in ((socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP, "raw"),
                               (socket.AF_PACKET, socket.SOCK_RAW, 0, "packet")):
    try:
        socket.socket(fam, kind, proto).close(); print(name + "-allowed")
    except OSError:
        print(name + "-denied")
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open("/dev/null", os.O_RDONLY)
nr = {"x86_64": 313, "aarch64": 273}[os.uname().machine]
print("module-denied" if libc.syscall(nr, fd, b"", 0) != 0 else "module-loaded")
"""


def test_place_is_outside_every_writable_root() -> None:
    """The attacks above rely on /var/tmp not being writable under workspace-write."""
    from codex_mcp.sandbox.boundary import compute_boundary
    from codex_mcp.sandbox.policy import SandboxPolicy

    with place("root") as p:
        b = compute_boundary(SandboxPolicy("workspace-write"), str(p.ws), env={})
        assert not b.allows_write(str(p.outside / "x")) and b.allows_write(str(p.ws / "x"))
        assert Path(SYSTEM_PYTHON).exists()
