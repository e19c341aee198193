"""A small HTTP proxy on loopback, for the model client's proxy support: CONNECT tunnels and
forwarding of absolute-form requests, both on one listener, each connection on its own
thread.

It relays bytes as they are in both directions (a forwarded request has only its request
line rewritten to the origin form and its `Proxy-Authorization` removed), so a hostile
provider's bytes reach the client exactly as the provider wrote them, and the provider sees
one connection per connection the client made to the proxy.  It records what it saw:
connections, every CONNECT head and every forwarded request head, raw.  It can be told to
misbehave on CONNECT (`connect_mode`): refuse with 407, send bytes after its 200, close in
the middle of its answer, answer with a huge head, or never answer; and to require credentials
(`require_auth`, the expected `Proxy-Authorization` value, else a 407).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HEAD_LIMIT = 64 * 1024
IDLE_S = 60.0
ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
CONNECT_MODES = ("ok", "407", "extra", "midhead", "huge", "500", "close", "hang")


@dataclass
class Seen:
    """One head the proxy read: a CONNECT or a forwarded request."""

    connection: int
    method: str
    target: str
    head: bytes
    fields: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.fields if k.lower() == name.lower()]


class HttpProxy:
    """The proxy (see the module docstring); a context manager."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, require_auth: str | None = None) -> None:
        self.tls = tls
        self.require_auth = require_auth
        self.connect_mode = "ok"
        self.lock = threading.Condition()
        self.connections = 0
        self.open_now = 0
        self.connects: list[Seen] = []
        self.forwarded: list[Seen] = []
        self.refused: list[str] = []
        """Why a connection was ended by the proxy (a bad head, an origin switch)."""
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(256)
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        scheme = "https" if self.tls is not None else "http"
        auth = f"{user}:{password}@" if user is not None else ""
        return f"{scheme}://{auth}127.0.0.1:{self.port}"

    def __enter__(self) -> HttpProxy:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        self._sock.close()
        for thread in list(self._threads):
            thread.join(5)

    def wait(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "the condition") -> None:
        with self.lock:
            if not self.lock.wait_for(predicate, timeout):
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    # --- serving ----------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            # Relayed pieces go out as they come, as a real proxy sends them (no Nagle wait
            # for the peer's delayed ACK).
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
                serial = self.connections
                self.open_now += 1
            thread = threading.Thread(target=self._serve, args=(conn, serial), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, serial: int) -> None:
        client: socket.socket = conn
        upstream: socket.socket | None = None
        try:
            if self.tls is not None:
                conn.settimeout(10)
                try:
                    client = self.tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    return
            upstream = self._handle(client, serial)
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
            with self.lock:
                self.open_now -= 1
                self.lock.notify_all()

    def _record(self, where: list[Seen], seen: Seen) -> None:
        with self.lock:
            where.append(seen)
            self.lock.notify_all()

    def _refuse(self, why: str) -> None:
        with self.lock:
            self.refused.append(why)
            self.lock.notify_all()

    def _handle(self, client: socket.socket, serial: int) -> socket.socket | None:
        reader = _Reader(client, self._stop)
        head = reader.head()
        if head is None:
            return None
        seen = _parse(head, serial)
        if seen is None:
            self._refuse("malformed head")
            return None
        if seen.method == "CONNECT":
            self._record(self.connects, seen)
            return self._tunnel(client, reader, seen)
        return self._forward(client, reader, seen)

    def _authorized(self, seen: Seen) -> bool:
        return self.require_auth is None or seen.header("Proxy-Authorization") == [self.require_auth]

    def _tunnel(self, client: socket.socket, reader: _Reader, seen: Seen) -> socket.socket | None:
        mode = self.connect_mode
        if not self._authorized(seen) or mode == "407":
            _send(client, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return None
        if mode == "500":
            _send(client, b"HTTP/1.1 500 Nope\r\nContent-Length: 0\r\n\r\n")
            return None
        if mode == "close":
            return None
        if mode == "hang":  # never answer; wait for the client to give up
            while reader.head() is not None:
                pass
            return None
        if mode == "midhead":
            _send(client, b"HTTP/1.1 200 Connection est")
            return None
        if mode == "huge":
            _send(client, b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * (200 * 1024) + b"\r\n\r\n")
            return None
        host, _, port = seen.target.rpartition(":")
        upstream = _connect(host.strip("[]"), int(port))
        if upstream is None:
            _send(client, b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return None
        if mode == "extra":
            _send(client, ESTABLISHED + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nforge")
        else:
            _send(client, ESTABLISHED)
        if reader.rest:
            _send(upstream, reader.rest)
        _relay(client, upstream, self._stop)
        return upstream

    def _forward(self, client: socket.socket, reader: _Reader, first: Seen) -> socket.socket | None:
        upstream: socket.socket | None = None
        origin = ""
        pump: threading.Thread | None = None
        seen: Seen | None = first
        try:
            while seen is not None:
                scheme, sep, rest = seen.target.partition("://")
                if not sep or scheme != "http":
                    self._refuse(f"not an absolute http target: {seen.target[:80]}")
                    return upstream
                authority, slash, path = rest.partition("/")
                if origin and authority != origin:
                    self._refuse(f"origin switch on one connection: {origin} -> {authority}")
                    return upstream
                self._record(self.forwarded, seen)
                if not self._authorized(seen):
                    _send(client, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                    return upstream
                length = sum(int(v) for v in seen.header("Content-Length") or ["0"])
                body = reader.exactly(length)
                if body is None:
                    return upstream
                if upstream is None:
                    origin = authority
                    upstream = _connect(*_split_authority(authority))
                    if upstream is None:
                        _send(client, b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                        return None
                    pump = threading.Thread(target=_pump, args=(upstream, client, self._stop), daemon=True)
                    pump.start()
                if not _send(upstream, _origin_form(seen, slash + path) + body):
                    return upstream
                head = reader.head()
                seen = _parse(head, seen.connection) if head is not None else None
            return upstream
        finally:
            # The client is gone (or was sent away): its provider connection ends too.
            if upstream is not None:
                with contextlib.suppress(OSError):
                    upstream.shutdown(socket.SHUT_RDWR)
            if pump is not None:
                pump.join(IDLE_S)


class _Reader:
    """Reads heads and bodies from the client, bounded."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        self.rest = b""

    def _more(self) -> bool:
        deadline = time.monotonic() + IDLE_S
        self.sock.settimeout(0.1)
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError):
                return False
            if not data:
                return False
            self.rest += data
            return True
        return False

    def head(self) -> bytes | None:
        while b"\r\n\r\n" not in self.rest:
            if len(self.rest) > HEAD_LIMIT or not self._more():
                return None
        head, _, self.rest = self.rest.partition(b"\r\n\r\n")
        return head + b"\r\n\r\n"

    def exactly(self, size: int) -> bytes | None:
        while len(self.rest) < size:
            if not self._more():
                return None
        data, self.rest = self.rest[:size], self.rest[size:]
        return data


def _parse(head: bytes, serial: int) -> Seen | None:
    lines = head.rstrip(b"\r\n").split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3:
        return None
    fields = []
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        fields.append((name, value.strip()))
    return Seen(serial, parts[0], parts[1], head, fields)


def _split_authority(authority: str) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        return host, int(rest[1:] or 80)
    host, sep, port = authority.rpartition(":")
    return (host, int(port)) if sep else (authority, 80)


def _origin_form(seen: Seen, path: str) -> bytes:
    lines = [f"{seen.method} {path or '/'} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in seen.fields if k.lower() != "proxy-authorization"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _connect(host: str, port: int) -> socket.socket | None:
    try:
        sock = socket.create_connection((host, port), timeout=10)
    except OSError:
        return None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
        return True
    except (OSError, ssl.SSLError):
        return False


def _pump(src: socket.socket, dst: socket.socket, stop: threading.Event) -> None:
    """Copy `src` to `dst` until `src` ends; then end `dst` too (the other side learns the
    connection is over exactly when it would without the proxy)."""
    src.settimeout(0.1)
    idle_until = time.monotonic() + IDLE_S
    while not stop.is_set() and time.monotonic() < idle_until:
        try:
            data = src.recv(65536)
        except (TimeoutError, ssl.SSLWantReadError):
            continue
        except (OSError, ssl.SSLError):
            break
        if not data or not _send(dst, data):
            break
        idle_until = time.monotonic() + IDLE_S
    with contextlib.suppress(OSError):
        socket.socket.shutdown(dst, socket.SHUT_RDWR)


def _relay(client: socket.socket, upstream: socket.socket, stop: threading.Event) -> None:
    """Both directions of a tunnel on this one thread (a TLS socket must not be read and
    written from two threads at once), until either side ends; then both end."""
    socks = [client, upstream]
    for sock in socks:
        sock.settimeout(0.1)
    idle_until = time.monotonic() + IDLE_S
    while not stop.is_set() and time.monotonic() < idle_until:
        ready: list[socket.socket] = [s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending()]
        if not ready:
            ready = select.select(socks, [], [], 0.1)[0]
        for sock in ready:
            other = upstream if sock is client else client
            try:
                data = sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError):
                data = b""
            if not data or not _send(other, data):
                for end in socks:
                    with contextlib.suppress(OSError):
                        socket.socket.shutdown(end, socket.SHUT_RDWR)
                return
            idle_until = time.monotonic() + IDLE_S
