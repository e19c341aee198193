"""What the proxy may connect to: settings, host names, patterns and address classes (pure).

The order of the checks is the policy, and it is deliberately the same for every protocol:

1. the host name is normalised once (lower case, no trailing dot, IPv6 brackets off, every
   numeric IPv4 spelling that the C library would accept, such as `2130706433`,
   `0x7f.1` or `127.1`, turned into its dotted form), so a pattern sees one spelling;
2. a **deny** pattern that matches wins over everything: no question, no lookup;
3. an IP literal is judged by its address right away (see 6.), before anyone is asked;
4. an **allow** pattern that matches allows without a question; otherwise the mode decides
   (`allow-list` refuses, `ask` asks the person);
5. only an allowed name is ever resolved: a name the person has not allowed never reaches
   a DNS server (a lookup of `<secret>.attacker.example` would carry data out by itself);
6. every resolved address is checked, and the proxy connects only to an address that
   passed: private, loopback, link-local, carrier-grade NAT, multicast, reserved and
   unspecified addresses (also inside IPv4-mapped, NAT64 and 6to4 IPv6 addresses) are
   refused unless an `allow_local` entry names them, and a deny pattern of addresses
   (CIDR) refuses them too.  The address checked is the address connected to: there is no
   second lookup a rebinding DNS server could answer differently.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

ProxyMode = Literal["off", "ask", "allow-list"]
PROXY_MODES: tuple[ProxyMode, ...] = ("off", "ask", "allow-list")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_IDLE_TIMEOUT_SEC = 300.0
DEFAULT_CONNECT_TIMEOUT_SEC = 15.0
DEFAULT_MAX_QUESTIONS = 16
"""Questions one command may cause; beyond, unknown hosts are refused without asking (a
command cannot flood the person with prompts)."""

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_V4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
# IPv6 prefixes that embed an IPv4 address someone could reach through them.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


class PatternError(ValueError):
    """A host pattern or address in the settings is not valid."""


@dataclass(frozen=True)
class ProxySettings:
    """`[network_proxy]` of config.toml (see `docs/security.md`)."""

    mode: ProxyMode = "off"
    allow: tuple[str, ...] = ()
    """Host patterns reached without a question: `example.com`, `*.example.com` (any
    subdomain, not the name itself), `*` (anything), an IP address or a CIDR block."""
    deny: tuple[str, ...] = ()
    """Host patterns never reached, whatever else says (IP and CIDR entries are also held
    against the resolved addresses)."""
    allow_local: tuple[str, ...] = ()
    """Private, loopback or link-local addresses (or CIDR blocks) that may be connected to
    (so may those an address or CIDR entry of `allow` names); every other non-public address
    is refused."""
    hosts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Fixed answers for names (like /etc/hosts, for the proxy only); still checked."""
    dns_servers: tuple[str, ...] = ()
    """`address[:port]` of the DNS servers the proxy asks; empty: the system's resolver."""
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    idle_timeout_sec: float = DEFAULT_IDLE_TIMEOUT_SEC
    connect_timeout_sec: float = DEFAULT_CONNECT_TIMEOUT_SEC
    max_questions_per_command: int = DEFAULT_MAX_QUESTIONS

    @property
    def enabled(self) -> bool:
        return self.mode != "off"


def numeric_ipv4(text: str) -> str | None:
    """The dotted form of a numeric IPv4 spelling `inet_aton` accepts (`127.1`, `0x7f.0.0.1`,
    `2130706433`), else None."""
    if not _NUMERIC_V4.match(text):
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(text))
    except OSError:
        return None


def normalise_host(raw: str) -> str | None:
    """The one spelling of a host the rules see, or None when it is not a host at all."""
    host = raw.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.lower()
    if not host or len(host) > 253 or not host.isascii():
        return None
    if ":" in host:
        try:
            return str(ipaddress.IPv6Address(host.split("%", 1)[0]))
        except ValueError:
            return None
    host = host.removesuffix(".")
    dotted = numeric_ipv4(host)
    if dotted is not None:
        return dotted
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        return None
    return host


def ip_of(host: str) -> IPAddress | None:
    """The address of a normalised host that is an IP literal."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    return None


def is_public(ip: IPAddress) -> bool:
    """Whether `ip` is an ordinary address of the internet (a unicast global address that
    embeds no non-public IPv4 address)."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return is_public(inner)
    if isinstance(ip, ipaddress.IPv6Address) and ip in _NAT64_LOCAL:
        return False
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class _Pattern:
    """One host pattern of an allow or deny list: a name, a wildcard or an address range."""

    text: str
    network: IPNetwork | None = None

    def matches_host(self, host: str) -> bool:
        if self.network is not None:
            ip = ip_of(host)
            return ip is not None and _in_network(ip, self.network)
        if self.text == "*":
            return True
        if self.text.startswith("*."):
            return host.endswith(self.text[1:]) and ip_of(host) is None
        return host == self.text

    def matches_address(self, ip: IPAddress) -> bool:
        return self.network is not None and _in_network(ip, self.network)


def _in_network(ip: IPAddress, network: IPNetwork) -> bool:
    candidates: list[IPAddress] = [ip]
    inner = embedded_ipv4(ip)
    if inner is not None:
        candidates.append(inner)
    return any(c.version == network.version and c in network for c in candidates)


def parse_pattern(text: str) -> _Pattern:
    """A host pattern: a name, `*.suffix`, `*`, an IP address or a CIDR block."""
    raw = text.strip().lower()
    if raw == "*":
        return _Pattern("*")
    try:
        return _Pattern(raw, ipaddress.ip_network(raw.strip("[]"), strict=False))
    except ValueError:
        pass
    if raw.startswith("*."):
        rest = normalise_host(raw[2:])
        if rest is None or ip_of(rest) is not None:
            raise PatternError(f"`{text}` is not a host pattern (expected `*.example.com`)")
        return _Pattern("*." + rest)
    host = normalise_host(raw)
    if host is None:
        raise PatternError(f"`{text}` is not a host name, `*.domain`, `*`, an address or a CIDR block")
    ip = ip_of(host)
    return _Pattern(host, None if ip is None else ipaddress.ip_network(ip))


def parse_network(text: str) -> IPNetwork:
    """An `allow_local` entry: an address or a CIDR block (names are not accepted: what is
    listed there is what may be connected to)."""
    try:
        return ipaddress.ip_network(text.strip().strip("[]"), strict=False)
    except ValueError:
        raise PatternError(f"`{text}` is not an IP address or a CIDR block") from None


def parse_hosts(table: Mapping[str, object]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`hosts = { "name" = "address" | ["address", ...] }`, checked."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for name, value in table.items():
        host = normalise_host(name)
        if host is None or ip_of(host) is not None:
            raise PatternError(f"`{name}` in `hosts` is not a host name")
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise PatternError(f"`hosts.{name}` must be an address or a list of addresses")
        addresses = []
        for item in values:
            try:
                addresses.append(str(ipaddress.ip_address(str(item).strip("[]"))))
            except ValueError:
                raise PatternError(f"`{item}` in `hosts.{name}` is not an IP address") from None
        out.append((host, tuple(addresses)))
    return tuple(out)


@dataclass(frozen=True)
class Rules:
    """The compiled settings: answers about one host or address at a time."""

    mode: ProxyMode
    allow: tuple[_Pattern, ...]
    deny: tuple[_Pattern, ...]
    allow_local: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def from_settings(cls, settings: ProxySettings) -> Rules:
        return cls(
            settings.mode,
            tuple(parse_pattern(p) for p in settings.allow),
            tuple(parse_pattern(p) for p in settings.deny),
            tuple(parse_network(n) for n in settings.allow_local),
        )

    def denied_host(self, host: str) -> str | None:
        """Why `host` is refused by a deny pattern, or None."""
        for pattern in self.deny:
            if pattern.matches_host(host):
                return f"{host} matches the deny pattern `{pattern.text}`"
        return None

    def allowed_host(self, host: str) -> bool:
        return any(pattern.matches_host(host) for pattern in self.allow)

    def refused_address(self, ip: IPAddress) -> str | None:
        """Why the proxy must not connect to `ip`, or None."""
        for pattern in self.deny:
            if pattern.matches_address(ip):
                return f"{ip} matches the deny pattern `{pattern.text}`"
        if is_public(ip):
            return None
        if any(_in_network(ip, network) for network in self.allow_local):
            return None
        if any(pattern.matches_address(ip) for pattern in self.allow):
            return None  # an address or block named in `allow` is listed explicitly too
        return (
            f"{ip} is a private, loopback, link-local or otherwise non-public address, which is "
            "refused unless `allow_local` lists it"
        )


def usable_addresses(rules: Rules, addresses: Iterable[IPAddress]) -> tuple[list[IPAddress], list[str]]:
    """(the addresses that may be connected to, in order; why each other one may not)."""
    ok: list[IPAddress] = []
    why: list[str] = []
    for ip in addresses:
        reason = rules.refused_address(ip)
        if reason is None:
            ok.append(ip)
        else:
            why.append(reason)
    return ok, why


def split_server(text: str, default_port: int = 53) -> tuple[str, int]:
    """`address[:port]` or `[v6]:port` of a DNS server, checked."""
    raw = text.strip()
    host, port = raw, default_port
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        if rest:
            port = int(rest.removeprefix(":"))
    elif raw.count(":") == 1:
        host, _, tail = raw.partition(":")
        port = int(tail)
    ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range")
    return host, port


def check_settings(settings: ProxySettings) -> list[str]:
    """Every problem of `settings` (patterns, addresses, servers, limits), for config errors."""
    problems: list[str] = []
    for entries, parse in ((settings.allow, parse_pattern), (settings.deny, parse_pattern),
                           (settings.allow_local, parse_network)):  # fmt: skip
        for entry in entries:
            try:
                parse(entry)
            except PatternError as exc:
                problems.append(str(exc))
    for server in settings.dns_servers:
        try:
            split_server(server)
        except ValueError:
            problems.append(f"`{server}` in `dns_servers` is not `address[:port]`")
    return problems


def shown_target(protocol: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port} ({protocol})"


__all__: Sequence[str] = (
    "PROXY_MODES",
    "ProxyMode",
    "ProxySettings",
    "Rules",
    "check_settings",
    "is_public",
    "normalise_host",
    "parse_hosts",
    "usable_addresses",
)
