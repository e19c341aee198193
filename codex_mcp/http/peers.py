"""Who is on the other end of a connection, as far as quotas are concerned.

A *peer* is an address: an IPv4 address, or the /64 prefix of an IPv6 address (one host
usually holds a whole /64, so counting single v6 addresses would be no limit at all).
Connection caps count per peer.

A *client identity*, for session quotas, is the peer plus, for a connection from this
machine, the user that owns the client's socket (Linux: `/proc/net/tcp`).  Every local
program connects from 127.0.0.1; the owning user is what tells one person's programs from
another's.  Two programs of the same user share an identity, which costs nothing: a program
running as the server's user can already signal or trace the server.

Forwarding headers (`X-Forwarded-For`) are never trusted: behind a reverse proxy, every
client is the proxy.
"""

from __future__ import annotations

import ipaddress
import struct
import sys
from dataclasses import dataclass

IPV6_PREFIX = 64
PROC_TABLES = {4: "/proc/net/tcp", 6: "/proc/net/tcp6"}
MAX_PROC_TABLE = 64 * 1024 * 1024


def peer_key(host: str) -> str:
    """The address a connection cap counts under (see the module docstring)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if address.is_loopback:
            return str(address)
        network = ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False)
        return str(network)
    return str(address)


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


@dataclass(frozen=True)
class Endpoints:
    """Both ends of one TCP connection: (host, port) each."""

    remote: tuple[str, int]
    local: tuple[str, int]


def _proc_forms(host: str, port: int) -> dict[str, str]:
    """`host:port` as each `/proc/net` table prints it (address words in host byte order).

    A v4 address appears as itself in `tcp` and as `::ffff:a.b.c.d` in `tcp6` (a v6 socket
    talking to a v4 peer); a v6 address only in `tcp6`.
    """
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    forms: dict[str, str] = {}
    if isinstance(address, ipaddress.IPv4Address):
        forms[PROC_TABLES[4]] = _hex(address.packed, port)
        address = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
    forms[PROC_TABLES[6]] = _hex(address.packed, port)
    return forms


def _hex(packed: bytes, port: int) -> str:
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{w:08X}" for w in words) + f":{port:04X}"


def socket_owner(ends: Endpoints) -> int | None:
    """The uid owning the client's socket of a loopback connection; None when unknown.

    Blocking (it reads a /proc table): call it from a worker thread.
    """
    if not sys.platform.startswith("linux") or not _is_loopback(ends.remote[0]):
        return None
    try:
        clients = _proc_forms(*ends.remote)
        servers = _proc_forms(*ends.local)
    except ValueError:
        return None
    # The client's socket is the row whose local end is the client and whose remote end is
    # us; the server's own socket (the reverse row) is owned by us and must not match.
    for table, client in clients.items():
        wanted = {(client, server) for server in servers.values()}
        try:
            with open(table, "rb") as handle:
                data = handle.read(MAX_PROC_TABLE)
        except OSError:
            continue
        for line in data.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 7 and (fields[1].decode(), fields[2].decode()) in wanted:
                try:
                    return int(fields[7])
                except ValueError:
                    return None
    return None


def client_identity(ends: Endpoints, owner: int | None) -> str:
    """The key of a session quota: the peer, and the owning user when known."""
    key = peer_key(ends.remote[0])
    return key if owner is None else f"{key} uid {owner}"


def endpoints_of(remote: object, local: object) -> Endpoints | None:
    """From anyio's socket attributes; None for anything that is not an IP socket."""
    if not (isinstance(remote, tuple) and isinstance(local, tuple)):
        return None
    if len(remote) < 2 or len(local) < 2:
        return None
    return Endpoints((str(remote[0]), int(remote[1])), (str(local[0]), int(local[1])))
