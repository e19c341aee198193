"""Local stand-ins for the internet, for the network proxy's tests (loopback only).

* `http_origin` / `https_origin`: an origin on 127.0.0.2 (plain, or TLS with a self-signed
  certificate made by `tls_material`) that records every request it serves;
* `victim`: a listener that must never be reached (127.0.0.3 by default); it records every
  connection, which is how a test judges from outside that an attack failed;
* `RebindingDns`: a DNS server on loopback whose A answers for one name alternate between
  a listed address and an unlisted one (a rebinding attacker);
* `build_wheel` / `simple_index`: a real wheel and a PEP 503 index for `pip download`;
* `proxy_table`: the `[network_proxy]` table of config.toml.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import io
import json
import socket
import ssl
import struct
import subprocess
import threading
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ORIGIN_IP = "127.0.0.2"
VICTIM_IP = "127.0.0.3"
BODY = b"hello through the proxy\n"


@dataclass
class Origin:
    ip: str
    port: int
    hits: list[str] = field(default_factory=list)
    """Request paths served, in order."""
    hosts: list[str] = field(default_factory=list)
    """The Host header of each request."""
    streams_broken: threading.Event = field(default_factory=threading.Event)
    """Set when a client of `/slow` went away in the middle of the stream."""
    streamed: int = 0

    def url(self, name: str, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{name}:{self.port}{path}"


def _handler(origin: Origin, files: Mapping[str, bytes]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            origin.hits.append(self.path)
            origin.hosts.append(self.headers.get("Host", ""))
            if self.path == "/slow":
                self._slow()
                return
            body = files.get(self.path.split("?", 1)[0], BODY if not files else None)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            kind = "text/html" if self.path.endswith("/") else "application/octet-stream"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _slow(self) -> None:
            """1 KiB every 20 ms for up to a minute (a download in progress)."""
            self.send_response(200)
            self.send_header("Content-Length", str(3000 * 1024))
            self.end_headers()
            paced = threading.Event()
            try:
                for _ in range(3000):
                    self.wfile.write(b"x" * 1024)
                    self.wfile.flush()
                    origin.streamed += 1024
                    paced.wait(0.02)  # the origin's pace, not a synchronisation
            except OSError:
                origin.streams_broken.set()

    return Handler


@contextlib.contextmanager
def http_origin(
    ip: str = ORIGIN_IP, files: Mapping[str, bytes] | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[Origin]:
    """A threaded HTTP(S) server on `ip` (any free port); `files` by path, else BODY everywhere."""
    origin = Origin(ip, 0)
    server = http.server.ThreadingHTTPServer((ip, 0), _handler(origin, files or {}))
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    origin.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def tls_material(
    directory: Path, names: Sequence[str] = ("origin.test",), ip: str = ORIGIN_IP
) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for `names` and `ip`; the certificate is
    also what a client in the sandbox trusts (`curl --cacert`)."""
    cert, key = directory / "origin.pem", directory / "origin.key"
    alt = ",".join([*(f"DNS:{n}" for n in names), f"IP:{ip}"])
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={names[0]}",
         "-addext", f"subjectAltName={alt}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    cert.chmod(0o644)
    return cert, key


@dataclass
class Victim:
    ip: str
    port: int
    connections: list[tuple[str, int]] = field(default_factory=list)


@contextlib.contextmanager
def victim(ip: str = VICTIM_IP, port: int = 0) -> Iterator[Victim]:
    """A listener nothing may reach; every accepted connection is recorded (and closed)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((ip, port))
    sock.listen(64)
    sock.settimeout(0.05)
    record = Victim(ip, sock.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = sock.accept()
            except (TimeoutError, OSError):
                continue
            record.connections.append(peer)
            with contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\nsecret\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        stop.set()
        thread.join(10)
        sock.close()


class RebindingDns:
    """Answers A questions for `name` with `first`, `second`, `first`, ... (one per question);
    AAAA questions get no answer; other names NXDOMAIN."""

    def __init__(self, name: str, first: str, second: str) -> None:
        self.name = name.lower()
        self.answers = [first, second]
        self.asked: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> RebindingDns:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sock.close()

    def _serve(self) -> None:
        a_count = 0
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except (TimeoutError, OSError):
                continue
            ident, _flags, _qd, _an, _ns, _ar = struct.unpack_from("!HHHHHH", data)
            labels, offset = [], 12
            while data[offset]:
                length = data[offset]
                labels.append(data[offset + 1 : offset + 1 + length].decode())
                offset += 1 + length
            question = data[12 : offset + 5]
            qtype = struct.unpack_from("!H", data, offset + 1)[0]
            name = ".".join(labels).lower()
            self.asked.append(f"{name}/{qtype}")
            answers = b""
            count = 0
            rcode = 0 if name == self.name else 3
            if name == self.name and qtype == 1:
                address = self.answers[a_count % 2]
                a_count += 1
                answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + socket.inet_aton(address)
                count = 1
            header = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, count, 0, 0)
            self.sock.sendto(header + question + answers, peer)


def build_wheel(directory: Path, name: str = "netproxy_demo", version: str = "1.0") -> Path:
    """A minimal, valid pure-Python wheel."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / f"{name}-{version}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    path.write_bytes(buffer.getvalue())
    return path


def simple_index(wheel: Path, project: str = "netproxy-demo") -> dict[str, bytes]:
    """The files of a PEP 503 index serving `wheel` (paths as the origin serves them)."""
    data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    page = f'<html><body><a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>'
    return {
        "/simple/": f'<html><body><a href="{project}/">{project}</a></body></html>'.encode(),
        f"/simple/{project}/": page.encode(),
        f"/files/{wheel.name}": data,
    }


def proxy_table(
    mode: str = "ask",
    *,
    allow: Sequence[str] = (),
    deny: Sequence[str] = (),
    allow_local: Sequence[str] = (ORIGIN_IP,),
    hosts: Mapping[str, str] | None = None,
    dns_servers: Sequence[str] = (),
    extra: str = "",
) -> str:
    """The `[network_proxy]` table (and, with `hosts`, its `hosts` sub-table)."""
    lines = [
        "[network_proxy]",
        f"mode = {json.dumps(mode)}",
        f"allow = {json.dumps(list(allow))}",
        f"deny = {json.dumps(list(deny))}",
        f"allow_local = {json.dumps(list(allow_local))}",
        f"dns_servers = {json.dumps(list(dns_servers))}",
    ]
    if extra:
        lines.append(extra)
    if hosts:
        lines.append("[network_proxy.hosts]")
        lines += [f"{json.dumps(name)} = {json.dumps(ip)}" for name, ip in hosts.items()]
    return "\n".join(lines) + "\n"


# ---- the probe: the proxy and its commands as root or `tester`, on one backend ----------------

PROBE = Path(__file__).with_name("netproxy_probe.py")


def probe_spec(
    backend: str,
    cwd: Path,
    steps: list[dict[str, Any]],
    *,
    settings: Mapping[str, Any],
    answers: Sequence[str] = (),
    policy: Mapping[str, Any] | None = None,
    hang: bool = False,
) -> dict[str, Any]:
    return {"backend": backend, "cwd": str(cwd), "policy": dict(policy or {"mode": "workspace-write"}),
            "settings": dict(settings), "answers": list(answers), "steps": steps, "hang": hang}  # fmt: skip


def _probe_argv(user: str, spec: dict[str, Any]) -> list[str]:
    import sys

    from tests.security.backends_support import SYSTEM_PYTHON, as_user
    from tests.security.tester_runtime import runtime_for

    python = sys.executable if user == "root" else SYSTEM_PYTHON
    probe = PROBE if user == "root" else runtime_for(user).root / "tests" / "security" / PROBE.name
    return as_user(user, [python, str(probe), json.dumps(spec)])


def _probe_env(user: str) -> dict[str, str]:
    from tests.security.backends_support import _probe_env as base_env

    return base_env(user)


def drive(user: str, spec: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """Run the probe to its end; its report."""
    proc = subprocess.run(
        _probe_argv(user, spec), env=_probe_env(user), cwd=str(cwd), capture_output=True, text=True,
        timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, (
        f"probe failed ({proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    )
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return report


@contextlib.contextmanager
def hanging(user: str, spec: dict[str, Any], cwd: Path) -> Iterator[dict[str, Any]]:
    """Run the probe's steps and keep it (and its commands) alive while the caller looks from
    outside; yields its report.  Killed on the way out."""
    import os
    import signal

    spec = {**spec, "hang": True}
    proc = subprocess.Popen(
        _probe_argv(user, spec), env=_probe_env(user), cwd=str(cwd), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(30)
            raise AssertionError(f"probe failed ({proc.returncode}): {proc.stderr.read()[-3000:]}")
        yield json.loads(line)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


# ---- the real server: questions, events, call outputs -----------------------------------------


class Person:
    """Answers the server's network questions (and records them); other questions are
    approved.  `decision` None: network questions stay unanswered (the test answers them)."""

    def __init__(self, decision: str | None = "approved") -> None:
        self.decision = decision
        self.asked: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, msg: dict[str, Any]) -> Any:
        params = msg.get("params") or {}
        if params.get("codex_elicitation") != "network-approval":
            return {"action": "accept", "content": {"decision": "approved"}}
        with self.lock:
            self.asked.append(msg)
        if self.decision is None:
            return None
        return {"action": "accept", "content": {"decision": self.decision}}

    def contexts(self) -> list[dict[str, Any]]:
        return [m["params"]["codex_network_approval_context"] for m in self.asked]


def network_events(client: Any, kind: str | None = None) -> list[dict[str, Any]]:
    """The `network_*` events the client received, in order (of one kind if given)."""
    out = []
    for note in client.notifications("codex/event"):
        msg = note["params"]["msg"]
        if msg["type"].startswith("network_") and (kind is None or msg["type"] == kind):
            out.append(msg)
    return out


def wait_until(condition: Any, timeout: float, what: str) -> None:
    """Poll `condition()` (every 20 ms) until it holds; fail naming `what` after `timeout`."""
    import time

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        pause.wait(0.02)


def established_in_sandbox(marker: str) -> int:
    """TCP connections established in the network namespace of a process whose command line
    holds `marker` (read from outside, as root): a proxied command's connections to its
    bridge appear twice (its end and the accepted end the server holds)."""
    import os

    ours = os.readlink("/proc/self/ns/net")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if marker.encode() not in cmdline or b"curl" not in cmdline:
                continue
            if os.readlink(f"/proc/{pid}/ns/net") == ours:
                continue  # bwrap itself, outside the sandbox
            lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
        except OSError:
            continue
        return sum(1 for line in lines if line.split()[3] == "01")
    return 0
