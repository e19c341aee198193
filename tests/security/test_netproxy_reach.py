"""Who can reach the network proxy, and what a proxied command can reach without it.

The adversary is the sandboxed command (and, for reachability, any other process of the
host and another session's sandbox).  Each test runs the proxy and its commands in a probe
that stands in for the server (`netproxy_probe.py`), on both backends, as root and as
`tester`, and is judged from outside: the origin's and the victims' records of who
connected, the host's socket tables, a connection attempt from the host.

Tried / got through (per backend and user): direct TCP to a listed and an unlisted
loopback address, UDP, a host AF_UNIX path socket, an abstract socket, netlink, raw IP
(7 / 0); the proxy's port from the host as root and as `tester`, from another session's
sandbox by the proxy URL and by the port, listeners the server holds (5 / 0); traffic after
the session closed (2 / 0); the channel taken from the bridge and flooded (1 / 0).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.backends_support import BACKENDS, USERS, needs_linux, place
from tests.security.netproxy_support import (
    ORIGIN_IP,
    VICTIM_IP,
    drive,
    hanging,
    http_origin,
    probe_spec,
    victim,
)
from tests.support.raw_client import descendant_pids

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.e2e, pytest.mark.timeout(240)]

ALLOW_ORIGIN = {"mode": "allow-list", "allow": [ORIGIN_IP], "allow_local": [ORIGIN_IP]}


def _exec(script: str, yield_ms: int = 15_000) -> dict[str, object]:
    return {"exec": ["/bin/sh", "-c", script], "yield_ms": yield_ms}


def _py(statement: str) -> str:
    """A shell word running `statement` (after `import socket`) with the system Python."""
    return '/usr/bin/python3 -I -c "import socket; ' + statement.replace('"', '\\"') + '"'


@contextlib.contextmanager
def unix_victim(directory: Path, user: str) -> Iterator[tuple[Path, str, list[bytes]]]:
    """A path socket in the workspace (where a host daemon's socket could be) and an abstract
    one, both listening on the host; yields (the path, the abstract name, what either received).
    The abstract name is this run's own: other tests (and test runs) listen on the host too."""
    path = directory / "daemon.sock"
    abstract = f"codex-netproxy-victim-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    got: list[bytes] = []
    stop = threading.Event()
    listeners = []
    for address in (str(path), "\0" + abstract):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(address)
        sock.listen(8)
        sock.settimeout(0.05)
        listeners.append(sock)
    os.chmod(path, 0o777)

    def serve() -> None:
        while not stop.is_set():
            for sock in listeners:
                try:
                    conn, _ = sock.accept()
                except (TimeoutError, OSError):
                    continue
                got.append(conn.recv(100) or b"<connected>")
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path, abstract, got
    finally:
        stop.set()
        thread.join(10)
        for sock in listeners:
            sock.close()


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_proxied_command_reaches_an_allowed_origin_and_nothing_directly(backend: str, user: str) -> None:
    with place(user, git=False) as where, http_origin() as origin, victim() as secret:
        with unix_victim(where.ws, user) as (daemon, abstract, daemon_got):
            url = f"http://{ORIGIN_IP}:{origin.port}/allowed"
            direct = f"http://{ORIGIN_IP}:{origin.port}/direct"
            target = f"({VICTIM_IP!r}, {secret.port})"
            attacks = [
                f"curl -sS --noproxy '*' --max-time 5 {direct}",
                f"curl -sS --noproxy '*' --max-time 5 http://{VICTIM_IP}:{secret.port}/",
                _py(f"socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', {target})"),
                _py(f"socket.socket(socket.AF_UNIX).connect({str(daemon)!r})"),
                _py(f"socket.socket(socket.AF_UNIX).connect('\\0{abstract}')"),
                _py("socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)"),
                _py("socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)"),
            ]
            steps = [_exec(f"curl -sS --max-time 10 {url}")] + [_exec(a + "; echo exit=$?") for a in attacks]
            report = drive(user, probe_spec(backend, where.ws, steps, settings=ALLOW_ORIGIN), where.base)
        results = report["results"]
        assert results[0]["exit_code"] == 0 and "hello through the proxy" in results[0]["output"], results[0]
        for result in results[1:]:
            assert result["error"] is None and "exit=0" not in result["output"], result
        for result in results[3:]:  # each attempt ran and was stopped by the sandbox, not a typo
            assert "Operation not permitted" in result["output"], result
        for result in results[1:3]:
            assert "Couldn't connect" in result["output"] or "Failed to connect" in result["output"], result
        assert origin.hits == ["/allowed"], "a direct connection reached the origin"
        assert secret.connections == [], "a direct connection reached the victim"
        assert daemon_got == [], "a host socket was reached"
        assert report["reports"][0]["outcome"] == "completed"


def _host_listeners(port: int) -> dict[int, str]:
    """The processes (pid: command line) holding a TCP socket that listens on `port` in the
    host's network namespace (ours)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    holders = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        command = Path(f"/proc/{pid}/cmdline").read_bytes()
                        holders[int(pid)] = command.replace(b"\0", b" ").decode(errors="replace")
    return holders


def _listening_inodes(pid: int) -> set[str]:
    """Inodes of the sockets `pid` holds that listen (TCP, TCPv6, UDP, or AF_UNIX accepting),
    as seen in its own network namespace (the host's)."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match:
                held.add(match.group(1))
    listening = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                listening.add(fields[9])
    for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[3], 16) & 0x10000:  # __SO_ACCEPTCON
            listening.add(fields[6])
    for table in ("udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            listening.add(line.split()[9])
    return held & listening


def _connect_from_host(user: str, port: int) -> str:
    """Try the proxy's port on the host's loopback, as `user`; what happened."""
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    s = socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
        "    s.sendall(b'GET http://x/ HTTP/1.1\\r\\n\\r\\n')\n"
        "    print('connected')\n"
        "except OSError as e:\n"
        "    print('refused', e)\n"
    )
    argv = ["/usr/bin/python3", "-I", "-c", code]
    if user != "root":
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_proxy_is_unreachable_from_outside_its_sandbox(backend: str, user: str) -> None:
    """While a proxied command runs (its bridge listening in its namespace): the host's
    loopback has nothing on that port for root or `tester`, another session's sandbox cannot
    reach it either, and the process serving the proxy holds no listening socket at all."""
    with place(user, git=False) as where, http_origin() as origin:
        settings = {"mode": "ask", "allow_local": [ORIGIN_IP]}
        keep = _exec('echo "$HTTP_PROXY" > proxy.txt; exec sleep 60', yield_ms=1000)
        spec = probe_spec(backend, where.ws, [keep], settings=settings)
        with hanging(user, spec, where.base) as first:
            proxy_url = (where.ws / "proxy.txt").read_text().strip()
            port = int(proxy_url.rsplit(":", 1)[1])
            assert first["results"][0]["session_id"] is not None
            assert _listening_inodes(first["pid"]) == set(), "the proxy listens on the host"
            ours = {first["pid"], *descendant_pids(first["pid"])}
            for who in ("root", "tester"):
                if "refused" not in _connect_from_host(who, port):
                    # Something on the host listens on that port number: another process's
                    # server (parallel tests have many), or else the proxy on the host.
                    holders = _host_listeners(port)
                    assert not holders.keys() & ours, f"{who} reached the proxy's port: {holders}"
            other = where.base / "other"
            other.mkdir()
            if user != "root":
                where.chown(other)
            stolen = f"http://{ORIGIN_IP}:{origin.port}/stolen"
            steal = (
                f"curl -sS --max-time 5 -x {proxy_url} {stolen}; echo exit=$?; "
                f"curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:{port}/; echo exit=$?"
            )
            second = drive(user, probe_spec(backend, other, [_exec(steal)], settings=settings), where.base)
        out = second["results"][0]["output"]
        assert out.count("exit=") == 2 and "exit=0" not in out, out
        assert origin.hits == [], "another sandbox used the first one's proxy"
        assert first["questions"] == [] and second["questions"] == []


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_no_traffic_after_the_session_closes(backend: str, user: str) -> None:
    """A download in progress stops when the session's proxy closes, and a new connection of
    the same, still running command gets nowhere."""
    with place(user, git=False) as where, http_origin() as origin:
        slow = f"http://{ORIGIN_IP}:{origin.port}/slow"
        steps = [
            _exec(
                f"curl -sS --max-time 50 -o slow.bin {slow}; echo first=$? > first.txt; exec sleep 60", 1000
            ),
            {"close": True},
        ]
        spec = probe_spec(backend, where.ws, steps, settings=ALLOW_ORIGIN)
        with hanging(user, spec, where.base):
            assert origin.streams_broken.wait(20), "the download went on after the session closed"
            streamed = origin.streamed
            deadline = time.monotonic() + 20
            while not (where.ws / "first.txt").exists() and time.monotonic() < deadline:
                origin.streams_broken.wait(0.05)  # polled, bounded
            assert (where.ws / "first.txt").read_text().strip() != "first=0"
        assert origin.hits == ["/slow"]
        assert streamed < 3000 * 1024
    # A second command after the close: nothing reaches the origin.
    with place(user, git=False) as where, http_origin() as origin:
        steps = [
            {"close": True},
            _exec(f"curl -sS --max-time 5 http://{ORIGIN_IP}:{origin.port}/late; echo exit=$?"),
        ]
        report = drive(user, probe_spec(backend, where.ws, steps, settings=ALLOW_ORIGIN), where.base)
        assert "exit=0" not in report["results"][1]["output"]
        assert origin.hits == []


STEAL = r"""
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
stolen = []
# Control: a process of the command's own holding a socketpair end is found.
mine, theirs = socket.socketpair()
control = os.fork()
if control == 0:
    mine.close()
    os.read(os.pipe()[0], 1)  # holds its end until killed
    os._exit(0)
theirs.close()
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]:
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        continue
    for fd in range(0, 256):
        got = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd
        if got < 0:
            continue
        try:
            s = socket.socket(fileno=got)
        except OSError:
            os.close(got)
            continue
        if s.family == socket.AF_UNIX:
            stolen.append((pid, fd))
            s.setblocking(False)
            for _ in range(2000):
                try:
                    s.send(b"x")  # no descriptor: not what the bridge sends
                except OSError:
                    break
        s.detach()
        os.close(got)
found = [p for p, _fd in stolen if p == control]
stolen = [entry for entry in stolen if entry[0] != control]
print("control", "found" if found else "missing", "stolen", stolen)
os.kill(control, 9)
"""


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_channel_cannot_be_taken_from_the_bridge(backend: str, user: str) -> None:
    """The command tries `pidfd_getfd` on every process of its sandbox for the channel, and
    floods what it finds with messages that carry no connection.  Whatever it gets, the
    proxy serves no more than before and the server goes on (judged by the origin)."""
    with place(user, git=False) as where, http_origin() as origin:
        url = f"http://{ORIGIN_IP}:{origin.port}"
        steal = {"exec": ["/usr/bin/python3", "-I", "-c", STEAL], "yield_ms": 30_000}
        steps = [_exec(f"curl -sS --max-time 5 {url}/before"), steal]
        report = drive(user, probe_spec(backend, where.ws, steps, settings=ALLOW_ORIGIN), where.base)
        before, stolen = report["results"]
        assert "hello through the proxy" in before["output"]
        assert "control found stolen []" in stolen["output"], stolen
        assert origin.hits == ["/before"]
