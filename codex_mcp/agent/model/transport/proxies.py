"""Which HTTP proxy, if any, a request to the model provider goes through, read from the
server's environment the way urllib (and httpx, which reads it through urllib) reads it.

* `https_proxy` serves https targets, `http_proxy` http targets, `all_proxy` either one
  whose own variable is unset.  Each may be spelled in any case; the lowercase spelling
  wins, and a lowercase one set empty unsets its uppercase twin (urllib's rule).
  `HTTP_PROXY` in upper case is ignored when `REQUEST_METHOD` is set: under CGI a client
  controls that variable through its `Proxy:` header.
* A proxy is `http://` or `https://` (TLS to the proxy itself) `[user:password@]host[:port]`
  (default ports 80 and 443; a value without a scheme is `http://`).  User and password are
  percent-decoded and sent as `Proxy-Authorization: Basic` to that proxy only.  SOCKS
  proxies (`socks4://`, `socks5://`, `socks5h://`) are known but not spoken here
  (`ProxyURL.socks`; see `open_transport`).  Anything else is refused with an error naming
  the variable, never its credentials.
* `no_proxy` is a comma-separated list: `*` (no proxy for anything); a name, which matches
  itself and every name under it, with or without a leading dot (`example.com` and
  `.example.com` both match `example.com` and `api.example.com`, as urllib and curl read it;
  httpx alone reads a leading dot as "subdomains only"); an IP address (IPv6 with or
  without brackets); a CIDR block (`10.0.0.0/8`, as curl reads it; httpx does not); any of
  those with `:port` to match one port only.

The environment is the person's, not the model's; it is still parsed strictly, and a value
we cannot read makes every request that would use it fail with a final error saying which
variable is wrong, rather than silently going direct or through the wrong proxy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from codex_mcp.agent.model.transport.http11 import checked_host, host_port
from codex_mcp.errors import ModelError, ProviderTransportError

SOCKS_SCHEMES = frozenset({"socks4", "socks4a", "socks5", "socks5h"})
_VARIABLES = ("https", "http", "all", "no")


@dataclass(frozen=True)
class ProxyURL:
    """One proxy: where to connect, what to show in messages, what to authenticate with."""

    scheme: str
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)
    """The `Proxy-Authorization` value (`Basic ...`), or None without credentials."""
    variable: str = ""
    """The environment variable it came from, for messages."""

    @property
    def socks(self) -> bool:
        return self.scheme in SOCKS_SCHEMES

    @property
    def netloc(self) -> str:
        return host_port(self.host, self.port)

    @property
    def shown(self) -> str:
        """The proxy as messages name it: credentials replaced by `***`."""
        return f"{self.scheme}://{'***@' if self.authorization else ''}{self.netloc}"

    @property
    def key(self) -> tuple[str, str, int, str | None]:
        """What tells two proxies apart in the pool (never shown)."""
        return (self.scheme, self.host, self.port, self.authorization)


@dataclass(frozen=True)
class _Bypass:
    """One `no_proxy` entry."""

    host: str = ""
    """A name (matched with its subdomains), or empty for an address entry."""
    network: object = None
    """An `ipaddress` network for an address or CIDR entry."""
    port: int | None = None

    def matches(self, host: str, port: int, address: object) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            return address is not None and address in self.network  # type: ignore[operator]
        return host == self.host or host.endswith("." + self.host)


@dataclass
class ProxySettings:
    """The proxies of one environment (see the module docstring)."""

    https: ProxyURL | str | None = None
    """The proxy for https targets, a message saying why the variable cannot be used, or None."""
    http: ProxyURL | str | None = None
    bypass: list[_Bypass] | str = field(default_factory=list)
    """The `no_proxy` entries, or a message saying why they cannot be read."""
    bypass_all: bool = False

    @property
    def any(self) -> bool:
        return self.https is not None or self.http is not None

    def proxy_for(self, scheme: str, host: str, port: int) -> ProxyURL | None:
        """The proxy a request to `scheme://host:port` goes through, None to go direct; a
        final `ModelError` when the variables that decide it cannot be read."""
        chosen = self.https if scheme == "https" else self.http
        if chosen is None or self.bypass_all:
            return None
        if isinstance(self.bypass, str):
            raise ModelError(self.bypass, "other")
        if self.bypass and _bypassed(self.bypass, host, port):
            return None
        if isinstance(chosen, str):
            raise ModelError(chosen, "other")
        return chosen


def proxy_variables(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """`{"https": (name, value), ...}` for the proxy variables urllib would use: the
    lowercase spelling of a name wins; one set empty unsets the name."""
    found: dict[str, tuple[str, str]] = {}
    for name, value in env.items():
        low = name.lower()
        if low.endswith("_proxy") and value:
            found[low[:-6]] = (name, value)
    if "REQUEST_METHOD" in env:
        found.pop("http", None)
    for name, value in env.items():
        if name.endswith("_proxy"):
            if value:
                found[name.lower()[:-6]] = (name, value)
            else:
                found.pop(name.lower()[:-6], None)
    return {k: v for k, v in found.items() if k in _VARIABLES}


def proxy_settings(env: Mapping[str, str]) -> ProxySettings:
    """The proxies `env` configures; a variable that cannot be read becomes a message its
    requests fail with."""
    found = proxy_variables(env)
    settings = ProxySettings()
    fallback = found.get("all")
    for scheme in ("https", "http"):
        entry = found.get(scheme, fallback)
        if entry is None:
            continue
        name, value = entry
        try:
            setattr(settings, scheme, parse_proxy_url(value, name))
        except ProviderTransportError as exc:
            setattr(settings, scheme, str(exc))
    if "no" in found:
        name, value = found["no"]
        try:
            settings.bypass, settings.bypass_all = parse_no_proxy(value, name)
        except ProviderTransportError as exc:
            settings.bypass = str(exc)
    return settings


def masked(value: str) -> str:
    """A proxy variable's value as a message may show it: everything up to its last `@`
    (where credentials would be, however malformed the rest) replaced by `***`."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    shown = f"{scheme}{sep}{rest}"
    return repr(shown[:200])


def parse_proxy_url(value: str, variable: str) -> ProxyURL:
    """A proxy variable's value, or a `ProviderTransportError` naming `variable` and the
    value with its credentials masked."""
    raw = value.strip()
    text = raw if "://" in raw else "http://" + raw

    def bad(why: str) -> ProviderTransportError:
        return ProviderTransportError(
            f"the proxy in {variable} ({masked(raw)}) cannot be used: {why}; "
            "expected http://[user:password@]host[:port] or https://..."
        )

    if not text.isascii() or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise bad("it contains blanks, control or non-ASCII characters")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc).replace(text, "...")) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") and scheme not in SOCKS_SCHEMES:
        raise bad(f"the scheme {scheme[:20]!r} is not a proxy scheme")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise bad("a proxy URL has no path, query or fragment")
    try:
        host = checked_host(parts.hostname or "", "proxy")
    except ProviderTransportError as exc:
        raise bad(str(exc)) from None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme, 1080)
    if port == 0:
        raise bad("port 0")
    authorization = None
    if parts.username is not None or parts.password is not None:
        import base64

        pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return ProxyURL(scheme, host, port, authorization, variable)


def parse_no_proxy(value: str, variable: str) -> tuple[list[_Bypass], bool]:
    """The entries of a `no_proxy` value, and whether it holds `*`."""
    entries: list[_Bypass] = []
    for item in value.split(","):
        entry = item.strip(" \t").lower()
        if not entry:
            continue
        if entry == "*":
            return [], True
        entries.append(_bypass_entry(entry, variable))
    return entries, False


def _bypass_entry(entry: str, variable: str) -> _Bypass:
    def bad(why: str) -> ProviderTransportError:
        return ProviderTransportError(f"the entry {entry[:100]!r} of {variable} cannot be read: {why}")

    port: int | None = None
    body = entry
    if body.startswith("["):  # [v6] or [v6]:port
        close = body.find("]")
        if close < 0:
            raise bad("an unclosed bracket")
        rest = body[close + 1 :]
        body = body[1:close]
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise bad("expected [address]:port")
            port = int(rest[1:])
    elif body.count(":") == 1:  # name:port or v4:port (a bare v6 address has several)
        body, _, digits = body.partition(":")
        if not digits.isdigit() or not digits.isascii():
            raise bad("the port is not a number")
        port = int(digits)
    if port is not None and not 0 < port < 65536:
        raise bad("the port is out of range")
    if "/" in body or ":" in body or _looks_like_ipv4(body):
        import ipaddress

        try:
            network = ipaddress.ip_network(body, strict=False)
        except ValueError as exc:
            raise bad(str(exc)) from None
        return _Bypass(network=network, port=port)
    name = body.removeprefix("*.").removeprefix(".")
    try:
        name = checked_host(name, "no_proxy")
    except ProviderTransportError as exc:
        raise bad(str(exc)) from None
    if "%" in name or ":" in name:
        raise bad("not a host name")
    return _Bypass(host=name, port=port)


def _looks_like_ipv4(text: str) -> bool:
    return bool(text) and all(c.isdigit() or c == "." for c in text) and text.count(".") == 3


def _bypassed(entries: list[_Bypass], host: str, port: int) -> bool:
    address: object = None
    if any(e.network is not None for e in entries) and (":" in host or _looks_like_ipv4(host)):
        import ipaddress

        try:
            address = ipaddress.ip_address(host.partition("%")[0])
        except ValueError:
            address = None
    return any(e.matches(host, port, address) for e in entries)
