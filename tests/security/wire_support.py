"""Hostile HTTP peers for the model client's transport, on loopback.

`RawServer` is a TCP (or TLS) listener whose every connection is handed to a script: the
script reads requests (`Peer.read_request`) and writes whatever bytes it likes, keeps the
connection open or closes it with or without a TLS close_notify.  The server records every
connection and every request it parsed, so a test judges an attack from outside: how many
requests the provider saw, on how many connections, with which head bytes.

`Answers` is the usual script: each request takes the next scripted answer (bytes, or a
generator of pieces, ending the connection or keeping it for the next request); it also
quacks enough like `ScriptedModel` (`base_url`, `text`) for `robust_support.spawner`, so the
same hostile bytes can be played to a real server process.

The rest are small builders (response heads and bodies with each framing, the Responses
SSE of an answer), probes (open fds, sockets to a port, peak traced memory) and the model
client driven to an `Outcome`.  Certificates are in `wire_pki_support.py`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.model_wire import responses_events, sse_event

READ_LIMIT = 64 * 1024 * 1024
"""The most a scripted peer reads of one request (the client's requests are far smaller)."""
SERVE_DEADLINE = 120.0
"""An endless script stops after this, so it never outlives a test run."""


@dataclass
class Request:
    """One request as the peer parsed it."""

    method: str
    target: str
    version: str
    fields: list[tuple[str, str]]
    head: bytes
    body: bytes
    connection: int
    """The serial number of the connection it came on (1 for the first accepted)."""

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k.lower() == name.lower()]


class Peer:
    """One accepted connection, from the provider's side."""

    def __init__(self, sock: socket.socket, serial: int, server: RawServer) -> None:
        self.sock = sock
        self.serial = serial
        self.server = server
        self._buf = b""

    @property
    def stopping(self) -> bool:
        return self.server.stop_event.is_set() or time.monotonic() > self.server.deadline

    def _recv(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536)
        except (TimeoutError, ssl.SSLWantReadError):
            raise
        except (OSError, ssl.SSLError):
            return b""

    def read_request(self, timeout: float = 30.0) -> Request | None:
        """The next request on this connection, or None when the client closed it."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._buf:
            if time.monotonic() > deadline or self.stopping:
                return None
            try:
                data = self._recv(0.1)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            if not data:
                return None
            self._buf += data
        head, _, rest = self._buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        method, target, version = lines[0].decode("latin-1").split(" ", 2)
        fields = []
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            fields.append((name, value.strip()))
        length = sum(int(v) for k, v in fields if k.lower() == "content-length")
        assert length <= READ_LIMIT
        while len(rest) < length:
            if time.monotonic() > deadline or self.stopping:
                return None
            try:
                data = self._recv(0.1)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            if not data:
                return None
            rest += data
        self._buf = rest[length:]
        request = Request(method, target, version, fields, head + b"\r\n\r\n", rest[:length], self.serial)
        with self.server.lock:
            self.server.requests.append(request)
            self.server.lock.notify_all()
        return request

    def send(self, data: bytes) -> bool:
        """False when the client is gone."""
        try:
            self.sock.sendall(data)
            return True
        except (OSError, ssl.SSLError):
            return False

    def send_all(self, pieces: bytes | Iterable[bytes], pace: float = 0.0) -> bool:
        """Write `pieces` (each `pace` seconds apart) until they end, the client goes away or
        the server stops; False if it did not get to the end."""
        if isinstance(pieces, bytes):
            return self.send(pieces)
        for piece in pieces:
            if self.stopping or not self.send(piece):
                return False
            if pace:
                self.server.stop_event.wait(pace)
        return True

    def wait_hangup(self, timeout: float) -> bool:
        """Whether the client closed its side within `timeout` seconds (bytes it sends
        meanwhile are kept for `read_request`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            try:
                data = self._recv(0.05)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            if not data:
                return True
            self._buf += data
        return False

    def close(self) -> None:
        """An orderly close (with close_notify first on TLS)."""
        if isinstance(self.sock, ssl.SSLSocket):
            with contextlib.suppress(OSError, ssl.SSLError, ValueError):
                self.sock.settimeout(1.0)
                self.sock.unwrap()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def cut(self) -> None:
        """End the TCP connection with a FIN and nothing else: on TLS, no close_notify (a
        truncation, as an on-path attacker can cause)."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        socket.socket.close(self.sock)

    def reset(self) -> None:
        """End the connection with a RST."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        socket.socket.close(self.sock)


Script = Callable[[Peer], None]


class RawServer:
    """A loopback listener running `script(peer)` for each connection on its own thread."""

    def __init__(
        self,
        script: Script,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        path: str = "/v1",
    ) -> None:
        self.script = script
        self.tls = tls
        self.host = host
        self.path = path
        self.lock = threading.Condition()
        self.requests: list[Request] = []
        self.connections = 0
        self.open_now = 0
        self.max_open = 0
        self.handshake_errors: list[str] = []
        self.received: list[bytes] = []
        """For a plain listener with `record_raw`: every byte each connection sent, whatever it was."""
        self.stop_event = threading.Event()
        self.deadline = time.monotonic() + SERVE_DEADLINE
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(512)
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}{self.path}"

    def __enter__(self) -> RawServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        self._acceptor.join(5)
        self._sock.close()
        for thread in list(self._threads):
            thread.join(5)

    def _accept_loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with self.lock:
                self.connections += 1
                serial = self.connections
            thread = threading.Thread(target=self._serve, args=(conn, serial), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, serial: int) -> None:
        with self.lock:
            self.open_now += 1
            self.max_open = max(self.max_open, self.open_now)
            self.lock.notify_all()
        try:
            sock: socket.socket = conn
            if self.tls is not None:
                conn.settimeout(10)
                try:
                    sock = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError) as exc:
                    with self.lock:
                        self.handshake_errors.append(f"{type(exc).__name__}: {exc}")
                        self.lock.notify_all()
                    conn.close()
                    return
            peer = Peer(sock, serial, self)
            try:
                self.script(peer)
            finally:
                with contextlib.suppress(OSError):
                    sock.close()
        finally:
            with self.lock:
                self.open_now -= 1
                self.lock.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "the condition") -> None:
        with self.lock:
            if not self.lock.wait_for(predicate, timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class Answer:
    """One scripted answer: `data` (bytes, or a function yielding pieces written one at a
    time, `pace` seconds apart), then `end`: "keep" the connection for the next request,
    "close" it (close_notify on TLS), "cut" it (a bare FIN), "reset" it, or "hold" it open
    until the client goes away or the test ends."""

    data: bytes | Callable[[], Iterable[bytes]] = b""
    end: str = "keep"
    pace: float = 0.0
    read_request: bool = True
    """False: answer as soon as the connection opens, before reading a request."""


class Answers:
    """A script that answers each request with the next queued `Answer` (a 599 once they run
    out); also the `model` of `robust_support.spawner` (`base_url`, `text`)."""

    def __init__(self) -> None:
        self.queue: deque[Answer] = deque()
        self.lock = threading.Lock()
        self.server: RawServer | None = None
        self.hung_up = threading.Event()
        """Set when a `hold` answer saw the client go away."""

    def script(self, *answers: Answer) -> None:
        with self.lock:
            self.queue.extend(answers)

    def text(self, text: str) -> None:
        """A plain Responses answer, the connection kept (what the spawner's warm-up
        call expects)."""
        self.script(Answer(respond(sse_body(text))))

    def _next(self) -> Answer:
        with self.lock:
            if self.queue:
                return self.queue.popleft()
        return Answer(respond(b"no scripted answer", status=599), end="close")

    def __call__(self, peer: Peer) -> None:
        while not peer.stopping:
            with self.lock:
                first = self.queue[0] if self.queue else None
            if (first is None or first.read_request) and peer.read_request() is None:
                return
            answer = self._next()
            pieces = answer.data() if callable(answer.data) else answer.data
            if not peer.send_all(pieces, answer.pace):
                return
            if answer.end == "keep":
                continue
            if answer.end == "hold":
                if peer.wait_hangup(SERVE_DEADLINE):
                    self.hung_up.set()
                return
            {"close": peer.close, "cut": peer.cut, "reset": peer.reset}[answer.end]()
            return

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return self.server.base_url


@contextlib.contextmanager
def answering(*answers: Answer, tls: ssl.SSLContext | None = None) -> Iterator[tuple[RawServer, Answers]]:
    script = Answers()
    script.script(*answers)
    with RawServer(script, tls=tls) as server:
        script.server = server
        yield server, script


# --- responses --------------------------------------------------------------------------


def sse_body(text: str = "Hello") -> bytes:
    """A complete Responses stream answering `text`."""
    return b"".join(sse_event(e) for e in responses_events(text))


def respond(
    body: bytes,
    *,
    status: int = 200,
    framing: str = "length",
    headers: Sequence[tuple[str, str]] = (),
    reason: str = "OK",
) -> bytes:
    """A whole response: `framing` "length" (Content-Length), "chunked" (one chunk), or
    "close" (neither; the body ends with the connection)."""
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in headers]
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
        payload = (f"{len(body):x}\r\n".encode() + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    else:
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def ok_head(*extra: str) -> bytes:
    return ("\r\n".join(["HTTP/1.1 200 OK", "Content-Type: text/event-stream", *extra]) + "\r\n\r\n").encode(
        "latin-1"
    )


# --- probes -------------------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def tcp_fds_to(port: int) -> int:
    """This process's TCP sockets connected to loopback `port` (from /proc/net/tcp)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                remote_port = int(parts[2].rsplit(":", 1)[1], 16)
                if remote_port == port:
                    inodes.add(parts[9])
    mine = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/self/fd/{fd}")
            if link.startswith("socket:[") and link[8:-1] in inodes:
                mine += 1
    return mine


@contextlib.contextmanager
def traced_peak() -> Iterator[list[int]]:
    """The peak bytes Python allocated inside the block (`[peak]` once it ends)."""
    result: list[int] = []
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield result
    finally:
        result.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def answer_text(events: Iterable[Any]) -> str:
    from codex_mcp.agent.model.types import OutputTextDelta

    return "".join(e.delta for e in events if isinstance(e, OutputTextDelta))


# --- driving the model client ---------------------------------------------------------------


def client_for(url: str, http: Any, *, idle_ms: int = 5000, **provider: Any) -> Any:
    """A model client at `url` over `http`, with no request retries (the one silent resend
    of a request the provider never answered stays) and a short idle bound."""
    from tests.support.model_wire import make_client

    provider.setdefault("request_max_retries", 0)
    provider.setdefault("stream_max_retries", 0)
    return make_client(url, http=http, stream_idle_timeout_ms=idle_ms, **provider)


@dataclass
class Outcome:
    ok: bool
    text: str
    """The answer when `ok`, else the error's message."""
    elapsed: float
    retryable: bool = False


async def outcome(client: Any, prompt: Any = None, bound: float = 60.0) -> Outcome:
    """One request through `client`, judged by what the caller gets: an answer that ended
    with `Completed`, or a `ModelError` (anything else propagates and fails the test)."""
    import anyio

    from codex_mcp.agent.model.types import Completed, ModelError
    from tests.support.model_wire import collect

    start = time.monotonic()
    try:
        with anyio.fail_after(bound):
            events = await collect(client, prompt)
    except ModelError as exc:
        return Outcome(False, str(exc), time.monotonic() - start, exc.retryable)
    assert events and isinstance(events[-1], Completed), events[-3:]
    return Outcome(True, answer_text(events), time.monotonic() - start)
