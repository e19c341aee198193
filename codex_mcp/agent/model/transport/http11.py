"""HTTP/1.1 message syntax for the model client, as pure functions over bytes.

Only what a client of a model provider needs: a request head to write, a response head to
parse, and how the response body is framed.  The provider is not trusted (see
`docs/security.md`): every field it sends is checked against the grammar and bounded here,
so the reading side (`connection.py`) only has to enforce sizes and time.  Anything we
cannot read with certainty is refused with a `ProviderTransportError` rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Literal

from codex_mcp.errors import ModelError, ProviderTransportError

MAX_HEAD_BYTES = 100 * 1024
"""A response head (status line and fields) larger than this is refused."""
MAX_FIELDS = 256
MAX_CHUNK_LINE = 1024
"""A chunk-size line, extensions included."""
MAX_TRAILER_BYTES = 100 * 1024
MAX_CONTENT_LENGTH_DIGITS = 19

OWNED_FIELDS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
"""Fields the transport writes itself; a caller's copy is dropped (a second Content-Length
or a Transfer-Encoding would let a configured header reframe the request)."""

_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TCHAR_BYTES = frozenset(c.encode("ascii")[0] for c in _TCHARS)
_CONTROL_BYTES = bytes(b for b in range(32) if b != 9) + b"\x7f"
"""What a field value may not contain (HTAB aside); found with `bytes.translate`, not a regex:
compiling patterns costs a first call more than these checks ever take."""
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def _is_token(name: str) -> bool:
    return bool(name) and all(c in _TCHARS for c in name)


def _is_token_bytes(name: bytes) -> bool:
    return bool(name) and all(c in _TCHAR_BYTES for c in name)


def _has_control(value: bytes) -> bool:
    return len(value.translate(None, _CONTROL_BYTES)) != len(value)


class Headers(Mapping[str, str]):
    """A response's fields: looked up without regard to case; a field sent more than once
    reads as its values joined by ", " (as HTTP allows for list-valued fields)."""

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str]] = [(name.lower(), value) for name, value in fields]

    def __getitem__(self, name: str) -> str:
        key = name.lower()
        values = [value for field, value in self._fields if field == key]
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(field for field, _ in self._fields))

    def __len__(self) -> int:
        return len(dict.fromkeys(field for field, _ in self._fields))

    def get_list(self, name: str) -> list[str]:
        key = name.lower()
        return [value for field, value in self._fields if field == key]

    def raw(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


def request_fields(fields: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The caller's request fields, checked: a name must be a token, a value printable
    ASCII (surrounding blanks removed).  A field we would have to alter to send is refused
    with a final error naming it, before anything goes on the wire: a line break in a
    configured header must never become a second header or a second request."""
    out: list[tuple[str, str]] = []
    for name, value in fields:
        if not _is_token(name):
            raise ModelError(f"the request header name {name[:64]!r} is not a valid HTTP field name", "other")
        value = value.strip(" \t")
        if not value.isascii() or _has_control(value.encode("ascii")):
            raise ModelError(
                f"the request header `{name}` has characters HTTP cannot carry "
                "(line breaks, control or non-ASCII characters)",
                "other",
            )
        out.append((name, value))
    return out


def encode_request_head(
    method: str, target: str, host: str, fields: Iterable[tuple[str, str]], content_length: int
) -> bytes:
    """The request line and fields.  `fields` come from `request_fields`; a caller's Host
    replaces ours (as an HTTP library would let it), the framing fields are always ours."""
    host_value = host
    lines = [f"{method} {target} HTTP/1.1"]
    rest: list[str] = []
    for name, value in fields:
        key = name.lower()
        if key == "host":
            host_value = value
        elif key not in OWNED_FIELDS:
            rest.append(f"{name}: {value}")
    lines.append(f"Host: {host_value}")
    lines.extend(rest)
    lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:%")
"""A DNS name, an IPv4 address or an IPv6 literal (with a zone id); urlsplit has already
separated user, port, path and brackets."""


def host_port(host: str, port: int) -> str:
    """`host:port`, an IPv6 address in brackets (a URL's authority, a CONNECT target)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def checked_host(host: str, what: str) -> str:
    """`host` (from urlsplit: lowercased, brackets removed) as an ASCII name to connect to,
    or a `ProviderTransportError` naming `what` (the provider, a proxy).  The resolver reads
    a name only up to a NUL (`127.0.0.1<NUL>.example` reaches 127.0.0.1), and the name also
    goes into the Host field and a CONNECT line: only a DNS name or an address literal may
    pass."""
    if not host:
        raise ProviderTransportError(f"the {what} URL has no host")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ProviderTransportError(f"the {what} host {host[:100]!r} is not a valid name") from None
    if not all(c in _HOST_CHARS for c in host):
        raise ProviderTransportError(f"the {what} host {host[:100]!r} is not a valid name")
    return host.lower()


def shown_url(url: str) -> str:
    """`url` as an error message may show it: a user name and password in it (which the
    direct transport refuses and httpx would send) replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if 0 <= found < end:
            end = found
    authority = rest[:end]
    if "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rpartition('@')[2]}{rest[end:]}"


class ResponseHead:
    """A parsed status line and its fields."""

    __slots__ = ("headers", "minor_version", "reason", "status")

    def __init__(self, minor_version: int, status: int, reason: str, headers: Headers) -> None:
        self.minor_version = minor_version
        self.status = status
        self.reason = reason
        self.headers = headers


def find_head_end(buf: bytes | bytearray, start: int) -> int:
    """The index just past the blank line that ends a head, searching from `start` (-1 when
    not there yet).  Lines may end in CRLF or a bare LF."""
    pos = max(start, 0)
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return -1
        after = nl + 1
        if buf[after : after + 1] == b"\n":
            return after + 1
        if buf[after : after + 2] == b"\r\n":
            return after + 2
        pos = after


def parse_head(data: bytes) -> ResponseHead:
    """A response head (without its final blank line) into its parts, or a
    `ProviderTransportError` naming what is wrong."""
    lines = data.split(b"\n")
    status_line = _strip_cr(lines[0])
    minor, status, reason = _status_line(status_line)
    fields: list[tuple[str, str]] = []
    for raw in lines[1:]:
        line = _strip_cr(raw)
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            raise ProviderTransportError("the model provider sent a folded header line")
        name, sep, value = line.partition(b":")
        if not sep or not _is_token_bytes(name):
            raise ProviderTransportError(f"the model provider sent a malformed header line: {line[:80]!r}")
        value = value.strip(b" \t")
        if _has_control(value):
            raise ProviderTransportError(
                f"the model provider sent control characters in the header `{name.decode('ascii')}`"
            )
        fields.append((name.decode("ascii"), value.decode("latin-1")))
        if len(fields) > MAX_FIELDS:
            raise ProviderTransportError(f"the model provider sent more than {MAX_FIELDS} header fields")
    return ResponseHead(minor, status, reason, Headers(fields))


def _status_line(line: bytes) -> tuple[int, int, str]:
    """`HTTP/1.x NNN reason` into (x, NNN, reason)."""
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if (
        version not in (b"HTTP/1.1", b"HTTP/1.0")
        or len(code) != 3
        or not code.isdigit()
        or code[:1] == b"0"
        or _has_control(reason)
    ):
        raise ProviderTransportError(
            f"the model provider's answer is not an HTTP/1.1 response: {line[:80]!r}"
        )
    return int(version[-1:]), int(code), reason.decode("latin-1")


Framing = Literal["none", "length", "chunked", "close"]


def body_framing(head: ResponseHead) -> tuple[Framing, int]:
    """How the body after `head` ends: no body, a length, chunks, or the connection's close
    (with the length for "length").  Conflicting or unknown framings are refused: a reader
    that guessed could take the next response for this one's body."""
    if head.status in (204, 304) or 100 <= head.status < 200:
        return "none", 0
    codings = head.headers.get_list("transfer-encoding")
    if codings:
        names = [c.lower() for c in _list_items(codings) if c]
        if names == ["chunked"]:
            return "chunked", 0
        raise ProviderTransportError(
            f"the model provider used a transfer-encoding we do not read: {', '.join(names)[:80]!r}"
        )
    lengths = set(_list_items(head.headers.get_list("content-length")))
    if lengths:
        if len(lengths) != 1:
            raise ProviderTransportError("the model provider sent conflicting Content-Length values")
        (length,) = lengths
        if not length.isdigit() or not length.isascii() or len(length) > MAX_CONTENT_LENGTH_DIGITS:
            raise ProviderTransportError(
                f"the model provider sent an invalid Content-Length: {length[:40]!r}"
            )
        return "length", int(length)
    return "close", 0


def keeps_connection(head: ResponseHead, framing: Framing) -> bool:
    """Whether the connection may carry another request once this body is read."""
    if framing == "close" or head.minor_version == 0:
        return False
    if head.headers.get_list("transfer-encoding") and head.headers.get_list("content-length"):
        # Framed two ways: we read the chunks, as HTTP says, but a peer on the path may
        # have read the length; nothing more is read from a connection that ambiguous.
        return False
    tokens = {t.lower() for t in _list_items(head.headers.get_list("connection"))}
    return "close" not in tokens


def parse_chunk_size(line: bytes) -> int:
    """The size on a chunk-size line (extensions ignored), or a `ProviderTransportError`."""
    size = _strip_cr(line.removesuffix(b"\n")).split(b";", 1)[0].strip(b" \t")
    if not size or len(size) > 16 or not all(c in _HEX_DIGITS for c in size):
        raise ProviderTransportError(f"the model provider sent an invalid chunk size: {size[:40]!r}")
    return int(size, 16)


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


def _list_items(values: Iterable[str]) -> list[str]:
    """The items of comma-separated field values, with only HTTP's blanks (SP, HTAB) around
    them removed: `str.strip()` would also drop latin-1 bytes such as 0xA0 and 0x85, and
    read `chunked` followed by byte 0xA0 as `chunked` where another reader sees an unknown
    coding."""
    return [item.strip(" \t") for value in values for item in value.split(",")]
