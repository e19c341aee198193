"""Red-team variants against the sandbox backends, judged from outside.

* **IPC to outside.**  System V message queues, shared memory and semaphores and POSIX
  message queues live in the IPC namespace, not the filesystem: bubblewrap without
  `--unshare-ipc` (and the Landlock fallback without namespaces) shared the host's, so a
  sandboxed command could `msgsnd` into a queue of another program, read a shared memory
  segment or move a semaphore.  Judged by the objects, read from outside afterwards.
* **The host's /dev in the Landlock container.**  uid 0 without capabilities still owns the
  host's block devices: reading a disk (here a loop device backed by a file outside every
  readable root) gives every file on it.  Judged by the secret not reaching the output.
* **CODEX_HOME** holds the server's credentials (auth.json, tokens in config.toml), its log
  and every session's rollout: invisible to sandboxed commands, and its name (like the
  workspace's and every protected path's) pinned against a rename of an ancestor followed
  by a look-alike.  Judged by the files outside, byte for byte.

Every attack runs on both backends, as root and as `tester`, plus the Landlock fallback
without namespaces where it applies (as `tester`: it refuses root).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.security.backends_support import (
    BACKENDS,
    USERS,
    WW,
    Place,
    attack,
    needs_linux,
    place,
    py,
    sh,
)
from tests.security.redteam_support import SECRET, find_user_key, ipc_victims, loop_device, user_key

pytestmark = [needs_linux, pytest.mark.timeout(180)]

FALLBACK = pytest.param(
    "tester", marks=pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch user"), id="fallback"
)

# Inside the sandbox: touch every IPC object of the outside user it can find by key, id or name.
_IPC_ATTACK = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
key, msq, shm, sem, name = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
found = []
q = libc.msgget(key, 0)
for ident in {q, msq}:
    buf = ctypes.create_string_buffer(b"\x01" + b"\x00" * 7 + b"FROM-THE-SANDBOX")
    if ident >= 0 and libc.msgsnd(ident, buf, 16, 0o4000) == 0:
        found.append("msgsnd")
s = libc.shmget(key, 0, 0)
for ident in {s, shm}:
    if ident >= 0:
        addr = libc.shmat(ident, None, 0o10000)  # SHM_RDONLY
        if addr not in (None, ctypes.c_void_p(-1).value):
            found.append("shm:" + ctypes.string_at(addr, 40).split(b"\0")[0].decode())
class Op(ctypes.Structure):
    _fields_ = [("num", ctypes.c_ushort), ("op", ctypes.c_short), ("flg", ctypes.c_short)]
for ident in {libc.semget(key, 0, 0), sem}:
    if ident >= 0 and libc.semop(ident, ctypes.byref(Op(0, 5, 0o4000)), 1) == 0:
        found.append("semop")
mq = libc.mq_open(name.encode(), os.O_WRONLY | 0o4000)
if mq >= 0 and libc.mq_send(mq, b"FROM-THE-SANDBOX", 16, 0) == 0:
    found.append("mq_send")
print("reached:", found)
"""


def _ipc_attack(user: str, backend: str, isolation: str | None) -> None:
    with place(user, git=isolation is None) as where, ipc_victims(user) as v:
        args = [str(v.key), str(v.msq), str(v.shm), str(v.sem), v.mq_name]
        (result,) = attack(user, backend, where, [py(_IPC_ATTACK, *args)], isolation=isolation)
        assert "reached:" in result.stdout, result
        assert SECRET not in result.output
        seen = v.inspect()
        assert seen == {"msg": -1, "sem": 0, "mq": -1}, (seen, result.output)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("user", USERS)
def test_no_ipc_object_of_the_host_is_reachable(user: str, backend: str) -> None:
    """A message into an outside queue, a read of an outside shared memory segment, a
    semaphore moved, a POSIX message queued: none of them happens."""
    _ipc_attack(user, backend, None)


@pytest.mark.parametrize("user", [FALLBACK])
def test_no_ipc_object_of_the_host_from_the_landlock_fallback(user: str) -> None:
    _ipc_attack(user, "landlock", "none")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("user", USERS)
def test_only_the_usual_device_nodes_are_visible(user: str, backend: str) -> None:
    """No disk, loop device, /dev/kvm, console or kernel log inside the sandbox."""
    with place(user) as where:
        (result,) = attack(user, backend, where, [sh("ls /dev; echo x > /dev/null && echo null-ok")])
    names = set(result.stdout.split())
    assert "null-ok" in names
    assert not names & {"vda", "sda", "nvme0n1", "loop0", "kvm", "kmsg", "mem", "console", "tty0"}, names


@pytest.mark.parametrize("mode", ["read-everything", "restricted-read"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_root_cannot_read_a_disk_behind_the_filesystem(backend: str, mode: str, tmp_path: Path) -> None:
    """As root, a block device holding a secret outside every readable root: not readable."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    image = tmp_path / "disk.img"
    image.write_bytes(SECRET.encode() + b"\0" * (1024 * 1024 - len(SECRET)))
    with loop_device(image) as device, place("root") as where:
        if device is None:
            pytest.skip("no loop device here")
        policy = dict(WW) if mode == "read-everything" else {**WW, "readable_roots": [str(where.ws)]}
        (result,) = attack(
            "root", backend, where, [sh(f"head -c 64 {device}; dd if={device} bs=64 count=1")], policy=policy
        )
    assert SECRET not in result.output, result


def _home(where: Place) -> Path:
    """A CODEX_HOME with credentials, below a writable root of the policy (`where.base`)."""
    home = where.base / "state" / "codex-home"
    home.mkdir(parents=True)
    (home / "auth.json").write_text(json.dumps({"OPENAI_API_KEY": "sk-" + SECRET}))
    (home / "config.toml").write_text('model = "person"\n')
    for path in (home.parent, home, home / "auth.json", home / "config.toml"):
        where.chown(path)
    return home


def _policy(where: Place) -> dict[str, object]:
    return {**WW, "writable_roots": [str(where.base)]}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("user", USERS)
def test_codex_home_is_neither_readable_nor_writable(user: str, backend: str) -> None:
    """auth.json, config.toml, by path, by listing, through a symlink planted in the
    workspace and with `find`: nothing of CODEX_HOME is seen, nothing is written."""
    with place(user) as where:
        home = _home(where)
        script = (
            f"cat {home}/auth.json; ls -la {home}; ln -s {home} link && cat link/auth.json; "
            f"find {where.base} -name auth.json -exec cat {{}} +; echo evil > {home}/config.toml; "
            f"echo done"
        )
        (result,) = attack(user, backend, where, [sh(script)], policy=_policy(where), codex_home=home)
        assert "done" in result.stdout, result
        assert SECRET not in result.output
        assert (home / "config.toml").read_text() == 'model = "person"\n'


@pytest.mark.parametrize("user", [FALLBACK])
def test_codex_home_is_hidden_by_the_landlock_fallback(user: str) -> None:
    """Without namespaces, Landlock's read rules leave CODEX_HOME out (it lies outside the
    writable roots there: inside one, the fallback refuses)."""
    with place(user, git=False) as where:
        home = _home(where)
        script = f"cat {home}/auth.json; cat {home}/config.toml; ls {home.parent}; echo done"
        (result,) = attack(user, "landlock", where, [sh(script)], isolation="none", codex_home=home)
        assert "done" in result.stdout, result
        assert SECRET not in result.output and "person" not in result.output, result
        (refused,) = attack(
            user, "landlock", where, [sh("true")], isolation="none", codex_home=home,
            policy=_policy(where), refusal_expected=True,
        )  # fmt: skip
        assert refused.kind in ("refused", "setup_error"), refused


_EXCHANGE = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1], sys.argv[2]
os.makedirs(b, exist_ok=True)
res = libc.syscall(316, -100, a.encode(), -100, b.encode(), 2)  # renameat2(RENAME_EXCHANGE)
print("exchange", res, ctypes.get_errno())
"""


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("how", ["mv", "exchange", "rmdir-parent"])
def test_an_ancestor_of_codex_home_cannot_be_renamed_away(user: str, backend: str, how: str) -> None:
    """Rename (or atomically exchange) the directory that holds CODEX_HOME, then build a
    look-alike with a config.toml of the command's making: the real one is untouched and
    no look-alike takes its place."""
    with place(user) as where:
        home = _home(where)
        state, moved = home.parent, where.base / "moved"
        if how == "mv":
            first = sh(f"mv {state} {moved}")
        elif how == "exchange":
            first = py(_EXCHANGE, str(state), str(moved))
        else:
            first = sh(f"rm -rf {state}; rmdir {state}")
        build = sh(
            f"mkdir -p {home} && echo 'notify = [\"sh\"]' > {home}/config.toml; cat {home}/config.toml"
        )
        attack(user, backend, where, [first, build], policy=_policy(where), codex_home=home)
        assert (home / "config.toml").read_text() == 'model = "person"\n'
        assert json.loads((home / "auth.json").read_text())["OPENAI_API_KEY"] == "sk-" + SECRET
        assert not moved.exists() or not (moved / "codex-home").exists()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("user", USERS)
def test_the_workspace_cannot_be_swapped_for_a_look_alike(user: str, backend: str) -> None:
    """The workspace lies inside another writable root: renaming its parent and building a
    look-alike with a `.git/config` that runs a program for whoever uses git there next."""
    with place(user) as where:
        nested = where.base / "projects" / "ws"
        nested.mkdir(parents=True)
        (nested / ".git").mkdir()
        (nested / ".git" / "config").write_text("[core]\n")
        for path in (nested.parent, nested, nested / ".git", nested / ".git" / "config"):
            where.chown(path)
        script = (
            f"cd /; mv {nested.parent} {where.base}/old; mkdir -p {nested}/.git && "
            f"printf '[core]\\n\\tfsmonitor = touch {where.outside}/PWNED\\n' > {nested}/.git/config; "
            "echo done"
        )
        (result,) = attack(user, backend, where, [sh(script)], policy=_policy(where), cwd=nested)
        assert "done" in result.stdout
        assert (nested / ".git" / "config").read_text() == "[core]\n"
        assert not (where.base / "old").exists()


# Inside the sandbox: read the user's keyring, and plant a key in it.
_KEYRING_ATTACK = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
kid = libc.syscall(250, 10, -4, b"user", sys.argv[1].encode(), 0)  # KEYCTL_SEARCH
buf = ctypes.create_string_buffer(256)
n = libc.syscall(250, 11, kid, buf, 256) if kid > 0 else -1  # KEYCTL_READ
print("read:", buf.raw[: max(n, 0)])
print("planted:", libc.syscall(248, b"user", sys.argv[2].encode(), b"x", 1, -4))
print("session:", libc.syscall(250, 0, -3, 0, 0, 0))  # KEYCTL_GET_KEYRING_ID of @s
"""


def _keyring_attack(user: str, backend: str, isolation: str | None, policy: dict[str, object]) -> None:
    name, planted = f"redteam-{os.getpid()}", f"redteam-planted-{os.getpid()}"
    with place(user, git=isolation is None) as where, user_key(user, name, SECRET):
        (result,) = attack(user, backend, where, [py(_KEYRING_ATTACK, name, planted)], policy=policy,
                           isolation=isolation)  # fmt: skip
        assert "read:" in result.stdout, result
        assert SECRET not in result.output
        assert not find_user_key(user, planted), "the sandbox planted a key in the user's keyring"


@pytest.mark.parametrize("network", ["off", "on"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("user", USERS)
def test_the_kernel_keyring_is_out_of_reach(user: str, backend: str, network: str) -> None:
    """Keyrings are not namespaced by mounts or PIDs: a command running as the server's user
    (the Landlock container as root) could read the person's keys (Kerberos tickets, tokens)
    and plant its own.  Also with the network on, when the network gate is not needed."""
    _keyring_attack(user, backend, None, WW if network == "off" else {**WW, "network_access": True})


@pytest.mark.parametrize("user", [FALLBACK])
def test_the_kernel_keyring_from_the_landlock_fallback(user: str) -> None:
    _keyring_attack(user, "landlock", "none", WW)
