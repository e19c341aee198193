"""Helpers of the red-team attack tests (`test_redteam_*`): victims outside the sandbox that
only the outside world can inspect afterwards.

* System V and POSIX IPC objects created by the attacking user outside any sandbox (a message
  queue, a shared memory segment holding a secret, a semaphore, a POSIX message queue); after
  the attack the test reads them from outside.
* A loop device backed by a file outside every readable root (root only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.security.backends_support import SYSTEM_PYTHON, as_user

SECRET = "redteam-outside-secret-7f3a"

# Run by the attacking user outside the sandbox: create the objects and print their ids.
_CREATE = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
key, name, secret = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode()
msq = libc.msgget(key, 0o1600)
shm = libc.shmget(key, 4096, 0o1600)
addr = ctypes.c_void_p(libc.shmat(shm, None, 0)) if shm >= 0 else None
if addr is not None:
    libc.shmat.restype = ctypes.c_void_p
    ctypes.memmove(libc.shmat(shm, None, 0), secret, len(secret))
sem = libc.semget(key, 1, 0o1600)
class Attr(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("maxmsg", ctypes.c_long), ("msgsize", ctypes.c_long),
                ("cur", ctypes.c_long), ("pad", ctypes.c_long * 4)]
attr = Attr(0, 10, 64, 0)
mq = libc.mq_open(name, os.O_RDWR | os.O_CREAT, 0o600, ctypes.byref(attr))
print(msq, shm, sem, mq)
"""

# Run outside after the attack: what reached the objects.
_INSPECT = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
msq, sem, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
buf = ctypes.create_string_buffer(256)
n = libc.msgrcv(msq, buf, 200, 0, 0o4000)  # IPC_NOWAIT
value = libc.semctl(sem, 0, 12)  # GETVAL
mq = libc.mq_open(name, os.O_RDONLY | 0o4000)
mbuf = ctypes.create_string_buffer(128)
m = libc.mq_receive(mq, mbuf, 128, None) if mq >= 0 else -1
print(json.dumps({"msg": n, "sem": value, "mq": m}))
"""


@dataclass
class IpcVictims:
    key: int
    msq: int
    shm: int
    sem: int
    mq_name: str
    user: str

    def inspect(self) -> dict[str, int]:
        import json

        argv = as_user(
            self.user, [SYSTEM_PYTHON, "-I", "-c", _INSPECT, str(self.msq), str(self.sem), self.mq_name]
        )
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
        return dict(json.loads(out.stdout))


@contextlib.contextmanager
def ipc_victims(user: str) -> Iterator[IpcVictims]:
    """IPC objects of `user` outside any sandbox: a message queue, a shared memory segment
    holding `SECRET`, a semaphore (value 0) and a POSIX message queue."""
    key = 0x5EED0000 + (os.getpid() % 0xFFFF)
    mq_name = f"/redteam-{uuid.uuid4().hex[:12]}"
    argv = as_user(user, [SYSTEM_PYTHON, "-I", "-c", _CREATE, str(key), mq_name, SECRET])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    msq, shm, sem, mq = (int(x) for x in out.stdout.split())
    assert min(msq, shm, sem, mq) >= 0, out
    victims = IpcVictims(key, msq, shm, sem, mq_name, user)
    try:
        yield victims
    finally:
        for flag, ident in (("-q", msq), ("-m", shm), ("-s", sem)):
            subprocess.run(["ipcrm", flag, str(ident)], capture_output=True, check=False)
        subprocess.run(
            as_user(
                user,
                [
                    SYSTEM_PYTHON,
                    "-I",
                    "-c",
                    f"import ctypes; ctypes.CDLL(None).mq_unlink({mq_name.encode()!r})",
                ],
            ),
            capture_output=True,
            check=False,
        )


@contextlib.contextmanager
def loop_device(secret_file: Path) -> Iterator[str | None]:
    """A loop device backed by `secret_file` (None when losetup is unavailable here)."""
    losetup = shutil.which("losetup")
    if losetup is None or os.geteuid() != 0:
        yield None
        return
    proc = subprocess.run(
        [losetup, "-f", "--show", "-r", str(secret_file)], capture_output=True, text=True, check=False
    )
    device = proc.stdout.strip()
    if proc.returncode != 0 or not device.startswith("/dev/loop"):
        yield None
        return
    try:
        yield device
    finally:
        subprocess.run([losetup, "-d", device], capture_output=True, check=False)


_KEY = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
op, name = sys.argv[1], sys.argv[2].encode()
if op == "add":  # add_key("user", name, payload, len, KEY_SPEC_USER_KEYRING)
    payload = sys.argv[3].encode()
    print(libc.syscall(248, b"user", name, payload, len(payload), -4))
elif op == "find":  # keyctl(KEYCTL_SEARCH, user keyring, "user", name, 0)
    print(libc.syscall(250, 10, -4, b"user", name, 0))
else:  # keyctl(KEYCTL_REVOKE, id)
    print(libc.syscall(250, 3, int(sys.argv[2]), 0, 0, 0))
"""


@contextlib.contextmanager
def user_key(user: str, name: str, payload: str) -> Iterator[int]:
    """A key of `user`'s kernel user keyring (outside any sandbox), revoked afterwards."""
    out = subprocess.run(as_user(user, [SYSTEM_PYTHON, "-I", "-c", _KEY, "add", name, payload]),
                         capture_output=True, text=True, check=True, timeout=30)  # fmt: skip
    key = int(out.stdout.strip())
    assert key > 0, out
    try:
        yield key
    finally:
        subprocess.run(as_user(user, [SYSTEM_PYTHON, "-I", "-c", _KEY, "revoke", str(key)]),
                       capture_output=True, check=False, timeout=30)  # fmt: skip


def find_user_key(user: str, name: str) -> bool:
    """Whether `user`'s user keyring holds a key `name` (seen from outside any sandbox)."""
    out = subprocess.run(as_user(user, [SYSTEM_PYTHON, "-I", "-c", _KEY, "find", name]),
                         capture_output=True, text=True, check=True, timeout=30)  # fmt: skip
    return int(out.stdout.strip()) > 0
