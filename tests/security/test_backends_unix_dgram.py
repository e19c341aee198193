"""With the network off, a sandboxed command cannot send a datagram to a UNIX socket outside
(a syslog-style daemon: /dev/log, the journal), by any path; socketpair IPC, fd passing and
pipes keep working.  Judged by the listener: it must receive nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_mcp.sandbox.container import ISOLATION_NONE
from tests.security.backends_support import (
    BACKENDS,
    HAVE_LANDLOCK,
    RO,
    USERS,
    WW,
    Place,
    attack,
    needs_linux,
    place,
    py,
    sh,
)

pytestmark = [pytest.mark.e2e, needs_linux, pytest.mark.sandbox, pytest.mark.timeout(180)]

CONFIGS = [
    pytest.param(RO, None, id="read-only"),
    pytest.param(WW, None, id="workspace-write"),
    pytest.param({"mode": "workspace-write", "readable_roots": ["{ws}"]}, None, id="restricted-read"),
]


@contextlib.contextmanager
def listeners(p: Place) -> Iterator[dict[str, socket.socket]]:
    """Datagram listeners outside the sandbox (path and abstract) and a seqpacket one."""
    socks: dict[str, socket.socket] = {}
    try:
        for kind, typ in (("dgram", socket.SOCK_DGRAM), ("seqpacket", socket.SOCK_SEQPACKET)):
            s = socket.socket(socket.AF_UNIX, typ)
            path = p.outside / f"{kind}.sock"
            s.bind(str(path))
            os.chmod(path, 0o777)  # the user may write to it: only the sandbox is in the way
            if typ == socket.SOCK_SEQPACKET:
                s.listen(4)
            s.setblocking(False)
            socks[kind] = s
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        abstract.bind(f"\0codex-mcp-test-{os.getpid()}-{id(p)}")
        abstract.setblocking(False)
        socks["abstract"] = abstract
        yield socks
    finally:
        for s in socks.values():
            s.close()


def received(socks: dict[str, socket.socket]) -> list[str]:
    got = []
    for name, s in socks.items():
        try:
            if name == "seqpacket":
                conn, _ = s.accept()
                conn.close()
            else:
                s.recv(64)
            got.append(name)
        except BlockingIOError:
            pass
    return got


_SENDERS = """
import socket, sys
path, abstract = sys.argv[1], sys.argv[2].replace("@", "\\0")
def attempt(name, fn):
    try:
        fn(); print(name, "sent")
    except OSError as exc:
        print(name, "denied", exc.errno)
def plain():
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"leak", path)
def flags():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    s.sendmsg([b"leak"], [], 0, path)
def pair():
    a, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.sendmsg([b"leak"], [], 0, path)
def pair_stream_with_address():
    a, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.sendmsg([b"leak"], [], 0, path)
def seqpacket_with_address():
    a, _ = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.sendmsg([b"leak"], [], 0, path)
def to_abstract():
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"leak", abstract)
def connect_seqpacket():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[3]); s.send(b"leak")
for f in (plain, flags, pair, pair_stream_with_address, seqpacket_with_address, to_abstract,
          connect_seqpacket):
    attempt(f.__name__, f)
"""

_IPC = """
import array, os, socket
a, b = socket.socketpair()
os.write(a.fileno(), b"ping"); assert os.read(b.fileno(), 4) == b"ping"
r, w = os.pipe()
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w]))])
msg, anc, _, _ = b.recvmsg(1, socket.CMSG_SPACE(4))
fd = array.array("i", anc[0][2])[0]
os.write(fd, b"via-passed-fd"); assert os.read(r, 13) == b"via-passed-fd"
c, d = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
os.write(c.fileno(), b"seq"); assert os.read(d.fileno(), 3) == b"seq"
print("ipc-ok")
"""


def _assert_denied(report: str) -> None:
    """Every sender that aims outside failed (a seqpacket pair ignores the address and
    delivers to its own peer, which is fine)."""
    outcome = dict(line.split(" ", 1) for line in report.splitlines())
    for name in ("plain", "flags", "pair", "pair_stream_with_address", "to_abstract", "connect_seqpacket"):
        assert outcome.get(name, "").startswith("denied"), (name, report)


def _policy(doc: dict[str, object], ws: Path) -> dict[str, object]:
    return {k: ([str(ws)] if v == ["{ws}"] else v) for k, v in doc.items()}


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("policy", "isolation"), CONFIGS)
def test_no_datagram_reaches_an_outside_socket(
    user: str, backend: str, policy: dict[str, object], isolation: str | None
) -> None:
    with place(user) as p, listeners(p) as socks:
        dgram = str(p.outside / "dgram.sock")
        seq = str(p.outside / "seqpacket.sock")
        abstract = "@" + socks["abstract"].getsockname()[1:].decode()
        results = attack(
            user, backend, p,
            [
                py(_SENDERS, dgram, abstract, seq),
                sh(f"logger -u {dgram} leak-via-logger; logger -d -u {dgram} leak-again"),
                py(_IPC),
                sh("echo through-a-pipe | cat"),
            ],
            policy=_policy(policy, p.ws), isolation=isolation,
        )  # fmt: skip
        assert received(socks) == [], results[0].stdout
        _assert_denied(results[0].stdout)
        assert results[2].stdout == "ipc-ok\n", results[2]
        assert results[3].stdout == "through-a-pipe\n"


@pytest.mark.skipif(not HAVE_LANDLOCK, reason="Landlock")
@pytest.mark.parametrize("user", USERS)
def test_no_datagram_from_the_landlock_fallback(user: str) -> None:
    if user == "root":
        pytest.skip("as root the fallback is refused")
    with place(user, git=False) as p, listeners(p) as socks:
        abstract = "@" + socks["abstract"].getsockname()[1:].decode()
        senders = py(_SENDERS, str(p.outside / "dgram.sock"), abstract, str(p.outside / "seqpacket.sock"))
        results = attack(
            user, "landlock", p,
            [senders, py(_IPC)],
            policy=WW, isolation=ISOLATION_NONE,
        )  # fmt: skip
        assert received(socks) == []
        _assert_denied(results[0].stdout)
        assert results[1].stdout == "ipc-ok\n", results[1]
