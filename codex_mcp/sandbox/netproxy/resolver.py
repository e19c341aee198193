"""Name resolution for the proxy: fixed `hosts` answers, the configured DNS servers, or the
system's resolver, in that order.

Resolution happens once per connection, after the policy allowed the name, and its answer
is what the proxy connects to (after the address checks of `rules`): nothing resolves the
name a second time.  The DNS client here is the smallest that works (one question per UDP
datagram, A then AAAA, answers matched by id and question, bounded in size and time); it
exists so that a person can point the proxy at a resolver of their choosing, and so that a
test can play a rebinding DNS server.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import struct
from collections.abc import Sequence

import anyio

from codex_mcp.sandbox.netproxy.rules import IPAddress, split_server

DNS_TIMEOUT_SEC = 3.0
_TYPE_A = 1
_TYPE_AAAA = 28
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")


class ResolveError(Exception):
    """The name has no usable answer (the message says why)."""


class NotOurs(ValueError):
    """A datagram that does not answer our question (a stray or a forgery)."""


class Resolver:
    def __init__(
        self, hosts: Sequence[tuple[str, Sequence[str]]] = (), dns_servers: Sequence[str] = ()
    ) -> None:
        self._hosts = {name: tuple(ipaddress.ip_address(a) for a in addresses) for name, addresses in hosts}
        self._servers = [split_server(s) for s in dns_servers]

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of `host` (normalised, not an IP literal), in the order given."""
        fixed = self._hosts.get(host)
        if fixed is not None:
            return list(fixed)
        if self._servers:
            return await self._ask_servers(host)
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ResolveError(f"{host} could not be resolved ({exc})") from None
        out: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if ip not in out:
                out.append(ip)
        if not out:
            raise ResolveError(f"{host} has no address")
        return out

    async def _ask_servers(self, host: str) -> list[IPAddress]:
        problems: list[str] = []
        for server, port in self._servers:
            out: list[IPAddress] = []
            for qtype in (_TYPE_A, _TYPE_AAAA):
                try:
                    with anyio.fail_after(DNS_TIMEOUT_SEC):
                        out.extend(await _query(server, port, host, qtype))
                except (OSError, TimeoutError, ValueError) as exc:
                    problems.append(f"{server}:{port}: {exc or type(exc).__name__}")
            if out:
                return out
        raise ResolveError(f"{host} could not be resolved ({'; '.join(problems) or 'no address'})")


def build_query(ident: int, host: str, qtype: int) -> bytes:
    """One recursive question for `host` (an ASCII name the rules accepted)."""
    name = b"".join(bytes([len(label)]) + label.encode("ascii") for label in host.split(".")) + b"\0"
    return _HEADER.pack(ident, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", qtype, 1)


def _skip_name(data: bytes, offset: int) -> int:
    """The offset after the (possibly compressed) name starting at `offset`."""
    for _ in range(128):
        if offset >= len(data):
            raise ValueError("truncated name")
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:
            return offset + 2
        offset += 1 + length
    raise ValueError("name too long")


def parse_answer(data: bytes, ident: int, query: bytes, qtype: int) -> list[IPAddress]:
    """The A or AAAA records of an answer to `query`; ValueError for anything else."""
    if len(data) < _HEADER.size:
        raise NotOurs("short DNS answer")
    got_id, flags, qdcount, ancount, _ns, _ar = _HEADER.unpack_from(data)
    if got_id != ident or not flags & 0x8000 or qdcount != 1:
        raise NotOurs("not an answer to our question")
    question = query[_HEADER.size :]
    if data[_HEADER.size : _HEADER.size + len(question)].lower() != question.lower():
        raise NotOurs("the answer is for another question")
    rcode = flags & 0xF
    if rcode == 3:
        return []  # no such name
    if rcode:
        raise ValueError(f"DNS error code {rcode}")
    offset = _HEADER.size + len(question)
    out: list[IPAddress] = []
    for _ in range(min(ancount, 64)):
        offset = _skip_name(data, offset)
        if offset + _RR.size > len(data):
            raise ValueError("truncated record")
        rtype, _rclass, _ttl, length = _RR.unpack_from(data, offset)
        offset += _RR.size
        rdata = data[offset : offset + length]
        offset += length
        if len(rdata) != length:
            raise ValueError("truncated record")
        if rtype == qtype == _TYPE_A and length == 4:
            out.append(ipaddress.IPv4Address(rdata))
        elif rtype == qtype == _TYPE_AAAA and length == 16:
            out.append(ipaddress.IPv6Address(rdata))
    return out


async def _query(server: str, port: int, host: str, qtype: int) -> list[IPAddress]:
    ident = secrets.randbelow(0x10000)
    query = build_query(ident, host, qtype)
    async with await anyio.create_connected_udp_socket(server, port) as udp:
        await udp.send(query)
        while True:
            data = await udp.receive()
            try:
                return parse_answer(data, ident, query, qtype)
            except NotOurs:
                continue  # keep waiting for ours, bounded by the caller
