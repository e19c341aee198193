"""Who may talk to the HTTP endpoint: the listen address, Host/Origin checks, the bearer token.

A server on 127.0.0.1 is reachable by every web page the user opens: a page on
`evil.example` can make its own name resolve to 127.0.0.1 (DNS rebinding) and then send
requests that the browser considers same-origin.  Such requests carry the attacker's name
in `Host` (always) and in `Origin` (on POSTs), so a loopback server only accepts loopback
names in `Host`, and any server only accepts an `Origin` it knows.  Requests without an
`Origin` come from non-browser clients and are fine.

Binding anything but loopback exposes the agent (which runs commands) to the network, so
it is refused without a bearer token; with one, every request must present it.  The token
is compared as SHA-256 digests with `hmac.compare_digest`, so the time taken reveals
neither how much of a guess was right nor the token's length.

These checks look at the request head only; the endpoint runs them before reading a body.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TOKEN_ENV = "CODEX_MCP_HTTP_TOKEN"
DEFAULT_HOST = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class AddressError(ValueError):
    pass


def parse_listen_address(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` (host 127.0.0.1) or `[IPv6]:PORT`; port 0 picks a free port."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        raise AddressError(f"expected HOST:PORT or :PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise AddressError(f"write an IPv6 address in brackets, e.g. [::1]:8080 (got {text!r})")
    host = host or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise AddressError(f"invalid port {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise AddressError(f"port {port} is out of range")
    return host, port


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback addresses: nothing off this machine can connect."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _split_host_port(value: str) -> str:
    """The host part of a `Host` header value (`name`, `name:port`, `[v6]:port`)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in lower case, or None for something that is not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = url_host(parts.hostname.lower())
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused, as the HTTP response that says so."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def token_matches(presented: str, expected_digest: bytes) -> bool:
    """Constant-time in the content and length of both tokens (fixed-size digests)."""
    return hmac.compare_digest(_digest(presented), expected_digest)


@dataclass(frozen=True)
class AccessPolicy:
    """Who may talk to the HTTP transport: the Host and Origin checks and the bearer
    token."""

    loopback: bool
    """The server listens on loopback only: `Host` must then be a loopback name."""
    token: str | None = None
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    """Extra origins (normalized) besides http(s)://localhost|127.0.0.1|[::1] on any port."""
    _token_digest: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.token is not None:
            object.__setattr__(self, "_token_digest", _digest(self.token))

    def origin_allowed(self, origin: str) -> bool:
        normalized = normalize_origin(origin)
        if normalized is None:
            return False
        if normalized in self.allowed_origins:
            return True
        host = urlsplit(normalized).hostname or ""
        return host in LOOPBACK_NAMES

    def host_allowed(self, host_header: str | None) -> bool:
        if not self.loopback:
            return True  # reachable by any name; the token protects it
        if host_header is None:
            return True  # HTTP/1.0 clients; browsers always send Host
        host = _split_host_port(host_header)
        if host in LOOPBACK_NAMES:
            return True
        return any(urlsplit(o).hostname == host for o in self.allowed_origins)

    def check(self, headers: dict[str, str], preflight: bool = False) -> Refusal | None:
        """The refusal owed for a request, or None when it may proceed.  A CORS preflight
        (OPTIONS) never carries credentials, so it is not asked for the token."""
        if not self.host_allowed(headers.get("host")):
            return Refusal(403, "Forbidden: Host header is not a loopback name")
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin):
            return Refusal(403, f"Forbidden: Origin {origin!r} is not allowed")
        if self._token_digest is not None and not preflight:
            scheme, _, presented = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token_matches(presented.strip(), self._token_digest):
                return Refusal(
                    401, "Unauthorized: a valid bearer token is required", (("www-authenticate", "Bearer"),)
                )
        return None


def parse_allowed_origins(values: list[str]) -> frozenset[str]:
    """Comma-separated origins from the command line; raises ValueError for a bad one."""
    out = set()
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue
            normalized = normalize_origin(item)
            if normalized is None:
                raise ValueError(f"not an origin (scheme://host[:port]): {item.strip()!r}")
            out.add(normalized)
    return frozenset(out)
