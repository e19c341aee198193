"""What a client asks the proxy for, read off the wire: HTTP CONNECT, plain HTTP with an
absolute URL, or SOCKS5 CONNECT; and the answers the proxy gives.

Only a request that names its destination explicitly is forwarded: an HTTP request in
origin form (`GET / HTTP/1.1`, what a client sends to a server, not to a proxy) is refused,
so the proxy is never an open relay to "wherever the Host header says".  For plain HTTP
the proxy rewrites the head: origin-form target, `Host` from the URL (RFC 9112: a proxy
ignores the client's), no `Proxy-*` or hop-by-hop headers, `Connection: close` (one
request per upstream connection; what follows on the same connection goes to the same,
already allowed destination).  The destination's answer is rewritten the same way
(`ClosingResponseHeads`): its head says `Connection: close`, so a client never sends a
second request on a connection the proxy ends after the first answer.  Heads are bounded
(16 KiB requests, 64 KiB answers, 100 fields).
"""

from __future__ import annotations

import ipaddress
import re
import struct
from dataclasses import dataclass

from codex_mcp.sandbox.netproxy.conn import Conn
from codex_mcp.sandbox.netproxy.rules import normalise_host

MAX_HEAD = 16 * 1024
MAX_FIELDS = 100
MAX_RESPONSE_HEAD = 64 * 1024
MAX_INTERIM_RESPONSES = 16
SOCKS_VERSION = 5
CONNECT_OK = b"HTTP/1.1 200 Connection established\r\n\r\n"

# SOCKS5 reply codes (RFC 1928)
SOCKS_FAILURE = 1
SOCKS_NOT_ALLOWED = 2
SOCKS_HOST_UNREACHABLE = 4
SOCKS_REFUSED = 5
SOCKS_COMMAND_UNSUPPORTED = 7
SOCKS_ADDRESS_UNSUPPORTED = 8

_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate", "te",
     "trailer", "upgrade", "host"}
)  # fmt: skip


@dataclass(frozen=True)
class Request:
    """What a command asked the proxy for: a protocol, a destination and the bytes to send
    it first."""

    protocol: str
    """`http` (a plain request), `https` (CONNECT, the reference's name for it), `socks5_tcp`."""
    host: str
    port: int
    forward: bytes = b""
    """What goes to the destination first: the rewritten head of a plain HTTP request."""

    @property
    def socks(self) -> bool:
        return self.protocol == "socks5_tcp"


class BadRequest(Exception):
    """A request the proxy does not serve: `status` for an HTTP client; `socks_code` for a
    SOCKS5 one (None: the client speaks HTTP; 0: it was answered already)."""

    def __init__(self, message: str, status: int = 400, socks_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.socks_code = socks_code


def http_refusal(status: int, message: str) -> bytes:
    """A complete HTTP answer whose reason phrase and body say why (clients print one or
    the other: curl the code, pip and git the reason)."""
    reason = " ".join(message.replace("\r", " ").replace("\n", " ").split())[:300]
    body = (message.strip() + "\n").encode("utf-8", "replace")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\nX-Codex-Proxy: refused\r\n\r\n"
    )
    return head.encode("latin-1", "replace") + body


class BadResponse(ValueError):
    """An answer head from the destination the proxy cannot pass on safely."""


class ClosingResponseHeads:
    """Rewrites the heads at the start of a plain HTTP answer on its way to the client.

    Interim (1xx) heads pass unchanged; the final head loses `Connection`, `Keep-Alive`,
    `Proxy-Connection` and the fields `Connection` names, and gains `Connection: close`.
    Without it a server that ignores our `Connection: close` answers "keep-alive", the
    client sends its next request on the same connection, and loses the race with the
    close the proxy makes after the first answer.  After the final head every byte passes
    as is (a `101` is passed on as is too: what follows is no longer HTTP)."""

    def __init__(self) -> None:
        self.done = False
        self._buffer = bytearray()
        self._interim = 0

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """What to send the client for `data`; `BadResponse` for an answer we cannot pass on."""
        if self.done:
            return bytes(data)
        self._buffer += data
        out = bytearray()
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_RESPONSE_HEAD:
                    raise BadResponse(f"the answer head is over {MAX_RESPONSE_HEAD} bytes")
                return bytes(out)
            if end + 4 > MAX_RESPONSE_HEAD:
                raise BadResponse(f"the answer head is over {MAX_RESPONSE_HEAD} bytes")
            head = bytes(self._buffer[: end + 4])
            del self._buffer[: end + 4]
            rewritten, final = self._head(head)
            out += rewritten
            if final:
                self.done = True
                break
        out += self._buffer
        self._buffer.clear()
        return bytes(out)

    def end(self) -> bytes:
        """At the destination's end before a final head: BadResponse when it closed within
        a head; nothing when it closed between heads (the client sees the same end)."""
        if self._buffer:
            raise BadResponse("the destination closed in the middle of its answer head")
        return b""

    def refusal(self, why: str) -> bytes:
        return http_refusal(502, f"The destination's answer was not passed on: {why}")

    def _head(self, head: bytes) -> tuple[bytes, bool]:
        """The head to send on, and whether it was the final one."""
        lines = head[:-4].split(b"\r\n")
        match = _STATUS_LINE.match(lines[0])
        if match is None:
            raise BadResponse("the answer does not start with an HTTP/1.x status line")
        status = int(match.group(1))
        if status == 101:
            return head, True
        if status < 200:
            self._interim += 1
            if self._interim > MAX_INTERIM_RESPONSES:
                raise BadResponse(f"more than {MAX_INTERIM_RESPONSES} interim answers")
            return head, False
        try:
            fields = _fields(head[:-4].decode("latin-1").split("\r\n")[1:])
        except BadRequest as exc:
            raise BadResponse(f"the answer head is malformed: {exc}") from None
        listed = [value for name, value in fields if name.lower() == "connection"]
        named = {token.strip().lower() for value in listed for token in value.split(",")}
        out = [lines[0].decode("latin-1")]
        for name, value in fields:
            lower = name.lower()
            if lower in ("connection", "keep-alive", "proxy-connection") or lower in named:
                continue
            out.append(f"{name}: {value}")
        out.append("Connection: close")
        return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1"), True


def socks_reply(code: int) -> bytes:
    return struct.pack("!BBBB4sH", SOCKS_VERSION, code, 0, 1, b"\0\0\0\0", 0)


async def read_request(conn: Conn) -> Request:
    """The client's request; `BadRequest` when it is not one the proxy serves, EOFError when
    the client went away first."""
    if not await conn.fill(1):
        raise EOFError
    if conn.pending[0] == SOCKS_VERSION:
        return await _read_socks(conn)
    return await _read_http(conn)


async def _read_http(conn: Conn) -> Request:
    while True:
        end = conn.pending.find(b"\r\n\r\n")
        if end >= 0:
            head = conn.take(end + 4)
            break
        if len(conn.pending) > MAX_HEAD:
            raise BadRequest(f"the request head is over {MAX_HEAD} bytes", 431)
        data = await conn.recv()
        if not data:
            raise EOFError
        conn.pending += data
    if len(head) > MAX_HEAD:
        raise BadRequest(f"the request head is over {MAX_HEAD} bytes", 431)
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.match(parts[0]) or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest("malformed request line")
    method, target, version = parts
    fields = _fields(lines[1:])
    if method == "CONNECT":
        host, port = _authority(target, None)
        return Request("https", host, port)
    lowered = target[:8].lower()
    if lowered.startswith("https://"):
        raise BadRequest("an https:// URL is fetched through CONNECT (HTTPS_PROXY), not as a plain request")
    if not lowered.startswith("http://"):
        raise BadRequest(
            "not a proxy request: the target must be an absolute http:// URL (or use CONNECT)", 400
        )
    rest = target[7:]
    cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, path = rest[:cut], rest[cut:]
    host, port = _authority(authority, 80)
    path = path.split("#", 1)[0] or "/"
    if not path.startswith("/"):
        path = "/" + path
    listed = [value for name, value in fields if name.lower() == "connection"]
    connection_tokens = {token.strip().lower() for value in listed for token in value.split(",")}
    out = [f"{method} {path} {version}", f"Host: {authority}"]
    for name, value in fields:
        lower = name.lower()
        if lower in _HOP_BY_HOP or lower in connection_tokens:
            continue
        out.append(f"{name}: {value}")
    out.append("Connection: close")
    forward = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
    return Request("http", host, port, forward)


def _fields(lines: list[str]) -> list[tuple[str, str]]:
    if len(lines) > MAX_FIELDS:
        raise BadRequest(f"more than {MAX_FIELDS} header fields", 431)
    out: list[tuple[str, str]] = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.match(name):
            raise BadRequest("malformed header field")
        value = value.strip()
        if "\n" in value or "\r" in value or "\0" in value:
            raise BadRequest("malformed header field")
        out.append((name, value))
    return out


def _authority(text: str, default_port: int | None) -> tuple[str, int]:
    """(normalised host, port) of `host[:port]` / `[v6]:port`; no user information."""
    if "@" in text or not text:
        raise BadRequest("the target must be host:port, without user information")
    if text.startswith("["):
        inner, sep, tail = text[1:].partition("]")
        host_text, port_text = inner, tail.removeprefix(":") if sep else None
        if not sep or (tail and not tail.startswith(":")):
            raise BadRequest("malformed IPv6 target")
    elif text.count(":") == 1:
        host_text, _, port_text = text.partition(":")
    elif ":" in text:
        raise BadRequest("an IPv6 target must be written in brackets")
    else:
        host_text, port_text = text, None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise BadRequest(f"bad port {port_text!r}")
        port = int(port_text)
    elif default_port is not None:
        port = default_port
    else:
        raise BadRequest("CONNECT needs host:port")
    host = normalise_host(host_text)
    if host is None:
        raise BadRequest(f"{host_text!r} is not a host name or address")
    return host, port


async def _read_socks(conn: Conn) -> Request:
    if not await conn.fill(2):
        raise EOFError
    count = conn.pending[1]
    if not await conn.fill(2 + count):
        raise EOFError
    methods = conn.take(2 + count)[2:]
    if 0 not in methods:
        await conn.send_all(bytes([SOCKS_VERSION, 0xFF]))
        raise BadRequest("SOCKS5 without authentication is the only method offered", socks_code=0)
    await conn.send_all(bytes([SOCKS_VERSION, 0]))
    if not await conn.fill(4):
        raise EOFError
    version, command, _reserved, kind = conn.take(4)
    if version != SOCKS_VERSION:
        raise BadRequest("not SOCKS5", socks_code=SOCKS_FAILURE)
    if kind == 1:
        size = 4
    elif kind == 4:
        size = 16
    elif kind == 3:
        if not await conn.fill(1):
            raise EOFError
        size = conn.take(1)[0]
    else:
        raise BadRequest("unsupported SOCKS5 address type", socks_code=SOCKS_ADDRESS_UNSUPPORTED)
    if not await conn.fill(size + 2):
        raise EOFError
    raw = conn.take(size)
    (port,) = struct.unpack("!H", conn.take(2))
    if command != 1:
        raise BadRequest("only SOCKS5 CONNECT is offered", socks_code=SOCKS_COMMAND_UNSUPPORTED)
    text = raw.decode("ascii", "replace") if kind == 3 else str(ipaddress.ip_address(raw))
    host = normalise_host(text)
    if host is None or port == 0:
        raise BadRequest(f"{text!r}:{port} is not a host and port", socks_code=SOCKS_ADDRESS_UNSUPPORTED)
    return Request("socks5_tcp", host, port)
