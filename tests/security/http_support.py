"""A hostile network peer against `codex-mcp-server --http`, judged from outside.

The server runs as a real process, optionally under a file-descriptor limit and an
address-space limit (so a regression that buffers what it should not cannot eat the
machine).  Attacks use raw sockets, so they can do what no polite client does: never send,
send slowly, send too much, never read.  Judgement comes from outside the process: it is
still running, a *fresh* authenticated connection still gets a session and a `ping` answer
within a bound, and its peak resident memory (`VmHWM`) stayed under a stated bound.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.http_server import HttpServerProcess
from tests.support.server import server_env

TOKEN = "hostile-peer-test-token-7f3a9c1e5b"
PROTOCOL = "2025-06-18"
ALIVE_TIMEOUT = 5.0
MIB = 1024 * 1024
AS_LIMIT = 2048 * MIB
"""Address space for a server under attack: several times what it needs (threads reserve
stacks and malloc arenas), far below what a buffering regression would want."""


@dataclass
class Target:
    server: HttpServerProcess
    url: str
    token: str | None
    port: int = field(init=False)

    def __post_init__(self) -> None:
        self.port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    @property
    def pid(self) -> int:
        return self.server.proc.pid

    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"} if self.token else {}

    def running(self) -> bool:
        return self.server.proc.poll() is None


Spawn = Callable[..., Target]


@contextlib.contextmanager
def target_factory(codex_home: Path, workspace: Path) -> Iterator[Spawn]:
    """`spawn(*args, token=TOKEN, host="127.0.0.1", nofile=None, address_space=AS_LIMIT)`."""
    servers: list[HttpServerProcess] = []

    def spawn(
        *args: str,
        token: str | None = TOKEN,
        host: str = "127.0.0.1",
        nofile: int | None = None,
        address_space: int | None = AS_LIMIT,
    ) -> Target:
        rlimits: dict[int, tuple[int, int]] = {}
        if nofile is not None:
            rlimits[resource.RLIMIT_NOFILE] = (nofile, nofile)
        if address_space is not None:
            rlimits[resource.RLIMIT_AS] = (address_space, address_space)
        extra = ["--http-token", token] if token else []
        server = HttpServerProcess(
            ["--http", f"{host}:0", "--log-level", "info", *extra, *args],
            server_env(codex_home),
            workspace,
            rlimits,
        )
        servers.append(server)
        url = server.url().replace("0.0.0.0", "127.0.0.1")
        return Target(server, url, token)

    try:
        yield spawn
    finally:
        for server in servers:
            server.kill()
            text = server.stderr()
            if text.strip():
                print(f"--- server stderr ---\n{text[-6000:]}")


# -- judging from outside ------------------------------------------------------------------


def _status_kib(pid: int, field_name: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    assert match, text
    return int(match.group(1))


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM)."""
    return _status_kib(pid, "VmHWM") / 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def client(source: str | None = None, timeout: float = ALIVE_TIMEOUT) -> httpx.Client:
    """A fresh client (its own connections), optionally from another loopback address."""
    transport = httpx.HTTPTransport(local_address=source) if source else None
    return httpx.Client(timeout=timeout, trust_env=False, transport=transport)


def headers(target: Target, session: str | None = None) -> dict[str, str]:
    out = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": PROTOCOL,
        **target.auth(),
    }
    if session is not None:
        out["mcp-session-id"] = session
    return out


def initialize(http: httpx.Client, target: Target) -> httpx.Response:
    message = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "hostile-peer-tests", "version": "0"},
        },
    }
    return http.post(target.url, content=json.dumps(message), headers=headers(target))


def open_session(target: Target, source: str | None = None) -> str:
    """A new session (initialize + initialized); returns its id."""
    with client(source) as http:
        response = initialize(http, target)
        assert response.status_code == 200, (response.status_code, response.text)
        session = response.headers["mcp-session-id"]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        posted = http.post(target.url, content=json.dumps(note), headers=headers(target, session))
        assert posted.status_code == 202, posted.text
        return session


def ping(target: Target, session: str, source: str | None = None, timeout: float = ALIVE_TIMEOUT) -> int:
    """`ping` in an existing session over a fresh connection; the HTTP status (200 = alive)."""
    with client(source, timeout) as http:
        message = {"jsonrpc": "2.0", "id": "alive", "method": "ping"}
        response = http.post(target.url, content=json.dumps(message), headers=headers(target, session))
        if response.status_code == 200:
            assert response.json() == {"jsonrpc": "2.0", "id": "alive", "result": {}}
        return response.status_code


def end_session(target: Target, session: str) -> None:
    with client() as http:
        http.delete(target.url, headers=headers(target, session))


def assert_serving(target: Target, source: str | None = None, timeout: float = ALIVE_TIMEOUT) -> float:
    """The process runs, and a fresh connection gets a new session answering `ping`, all
    within `timeout`; returns the seconds it took."""
    assert target.running(), f"the server exited:\n{target.server.stderr()[-4000:]}"
    started = time.monotonic()
    session = open_session(target, source)
    assert ping(target, session, source, timeout) == 200
    elapsed = time.monotonic() - started
    assert elapsed < timeout, f"serving took {elapsed:.1f} s"
    end_session(target, session)
    return elapsed


# -- raw sockets -------------------------------------------------------------------------------


def need_fds(count: int) -> None:
    """Raise this process's descriptor limit to hold `count` more sockets (or skip)."""
    import pytest

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 256
    if soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} file descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def connect(target: Target, source: str | None = None, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if source is not None:
        sock.bind((source, 0))
    sock.connect(("127.0.0.1", target.port))
    return sock


def request_head(
    target: Target,
    method: str = "POST",
    extra: dict[str, str] | None = None,
    *,
    authorized: bool = False,
    path: str = "/mcp",
) -> bytes:
    fields = {
        "host": f"127.0.0.1:{target.port}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        **(target.auth() if authorized else {}),
        **(extra or {}),
    }
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class ResponseReader:
    """Responses with Content-Length bodies, one after another, from one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def next(self, timeout: float = 10.0) -> RawResponse | None:
        """The next response; None when the server closed (or reset) without one."""
        self.sock.settimeout(timeout)
        try:
            while b"\r\n\r\n" not in self.buffer:
                if not self._fill():
                    return None
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            length = int(fields.get("content-length", "0"))
            while len(self.buffer) < length:
                if not self._fill():
                    break
            body, self.buffer = self.buffer[:length], self.buffer[length:]
            return RawResponse(status, fields, body)
        except (ConnectionResetError, BrokenPipeError):
            return None


def read_response(sock: socket.socket, timeout: float = 10.0) -> RawResponse | None:
    """One response with a Content-Length body; None when the server closed without one."""
    return ResponseReader(sock).next(timeout)


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """True when the server closes the connection (EOF or reset) within `timeout`; anything
    it sends first (an error response) is read and ignored."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    """Send, ignoring a server that already gave up on us; False when it did."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        return False
    return True


def json_bytes(message: Any) -> bytes:
    return json.dumps(message).encode()
