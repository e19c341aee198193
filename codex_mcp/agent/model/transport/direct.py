"""`DirectTransport`: requests to a model provider over our own HTTP/1.1 connections.

A connection is opened with anyio (TLS verified against the context of `codex_mcp.tls`,
hostname checked), used for one request at a time, and kept for the next request to the
same origin when the answer ended cleanly and both sides allow it.  An idle connection is
dropped after `KEEPALIVE_S` or when its socket turns readable (the provider closed it or
sent bytes nobody asked for), so a stale one is rarely tried; when one is anyway, the
provider's close before answering surfaces as `ProviderClosedEarly` and the client sends
the request once more.

With `proxies` (from the environment, `proxies.py`), a request whose target the settings
send through a proxy goes there instead: an https target through a CONNECT tunnel
(`tunnel.py`) with TLS to the provider inside it, an http target as an absolute-form request
to the proxy.  The pool keys every connection by the proxy and the origin, so a tunnel (or a
proxy connection) made for one origin never carries another's requests, and the same rules
as above (bounds, keep-alive, the one resend) apply.  `Proxy-Authorization` goes to the
proxy only: on the CONNECT request, or on requests that the proxy itself reads.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import anyio
import anyio.abc

from codex_mcp.agent.model.transport.connection import Connection, describe_exc
from codex_mcp.agent.model.transport.http11 import (
    Framing,
    Headers,
    ResponseHead,
    checked_host,
    encode_request_head,
    host_port,
    keeps_connection,
    request_fields,
    shown_url,
)
from codex_mcp.agent.model.transport.proxies import ProxySettings, ProxyURL
from codex_mcp.agent.model.transport.tunnel import connect_proxy, open_tunnel
from codex_mcp.errors import ModelError, ProviderTransportError

KEEPALIVE_S = 5.0
MAX_IDLE_PER_ORIGIN = 8
MAX_CONNECTIONS = 200
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"
"""Characters a request target may carry as they are; anything else (spaces, line breaks,
non-ASCII) is percent-encoded, so a configured URL can never break the request line."""


@dataclass(frozen=True)
class Target:
    """Where a request goes: the origin to connect to, the Host field and the request target."""

    scheme: str
    host: str
    port: int
    host_header: str
    request_target: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def netloc(self) -> str:
        return host_port(self.host, self.port)

    @property
    def absolute(self) -> str:
        """The absolute form of the request target, for a forward proxy."""
        return f"{self.scheme}://{self.host_header}{self.request_target}"


def parse_target(url: str, params: Mapping[str, str] | None = None) -> Target:
    """Where `url` points and the request target to send, with `params` merged into its
    query (a name in both takes the value from `params`)."""
    display = shown_url(url)[:200]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ProviderTransportError(f"invalid provider URL {display!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ProviderTransportError(f"the provider URL must be http or https, not {display!r}")
    if parts.username is not None or parts.password is not None:
        raise ProviderTransportError(
            "the provider URL carries credentials; put them in an env_key or http_headers instead"
        )
    host = checked_host(parts.hostname or "", "provider")
    default_port = 443 if scheme == "https" else 80
    port = default_port if port is None else port
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    query = parts.query
    if params:
        merged = dict(parse_qsl(query, keep_blank_values=True))
        merged.update(params)
        query = urlencode(list(merged.items()), quote_via=quote)
    target = quote(parts.path or "/", safe=_URL_SAFE)
    if query:
        target += "?" + quote(query, safe=_URL_SAFE)
    return Target(scheme, host, port, host_header, target)


class DirectResponse:
    """A response whose body is read as it arrives; `aclose()` returns the connection to the
    pool when the body was read to its end, else closes it."""

    def __init__(
        self, transport: DirectTransport, conn: Connection, head: ResponseHead, framing: Framing, length: int
    ) -> None:
        self._transport = transport
        self._conn = conn
        self._framing = framing
        self._length = length
        self._keep = keeps_connection(head, framing)
        self._released = False
        self.status_code = head.status
        self.reason_phrase = head.reason
        self.headers: Headers = head.headers

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        async for piece in self._conn.body(self._framing, self._length, self._keep):
            yield piece

    async def aclose(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            await self._transport.release(self._conn)
        finally:
            self._transport.slots.release()


class DirectTransport:
    """Our HTTP/1.1 client for the model provider (see the module docstring)."""

    def __init__(
        self,
        ssl_context: Callable[[], ssl.SSLContext],
        *,
        max_connections: int = MAX_CONNECTIONS,
        max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN,
        keepalive_s: float = KEEPALIVE_S,
        proxies: ProxySettings | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._proxies = proxies if proxies is not None and proxies.any else None
        self._idle: dict[Hashable, list[Connection]] = {}
        self._max_idle = max_idle_per_origin
        self._keepalive = keepalive_s
        self.slots = anyio.Semaphore(max_connections)
        self._closed = False
        self._open: set[Connection] = set()
        """Every connection not yet closed, idle or carrying a response (closed ones are
        pruned as new ones open): `aclose` ends them all, so a closed client leaves no
        socket behind, even under a response still being read."""

    @property
    def proxied(self) -> bool:
        """Whether some requests go through a proxy from the environment."""
        return self._proxies is not None

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]],
        content: bytes,
        params: Mapping[str, str] | None = None,
        connect_timeout: float = 30.0,
    ) -> DirectResponse:
        """Send one request and read its head; the caller reads the body and must
        `aclose()` the response."""
        if self._closed:
            raise ProviderTransportError("the model client is closed")
        target = parse_target(url, params)
        proxy = self._proxy_for(target)
        fields = request_fields(headers)
        request_target = target.request_target
        if proxy is not None and target.scheme == "http":
            # The proxy reads this request itself: the absolute form names the origin, and
            # the credentials are the proxy's (a caller's copy would be a second one).
            request_target = target.absolute
            if proxy.authorization:
                fields = [f for f in fields if f[0].lower() != "proxy-authorization"]
                fields.append(("Proxy-Authorization", proxy.authorization))
        head = encode_request_head(method, request_target, target.host_header, fields, len(content))
        await self.slots.acquire()
        try:
            conn = await self._connection(target, proxy, connect_timeout)
            try:
                await conn.send_request(head, content)
                response_head, framing, length = await conn.read_head()
            except BaseException:
                await conn.aclose()
                raise
        except BaseException:
            self.slots.release()
            raise
        return DirectResponse(self, conn, response_head, framing, length)

    def _proxy_for(self, target: Target) -> ProxyURL | None:
        if self._proxies is None:
            return None
        proxy = self._proxies.proxy_for(target.scheme, target.host, target.port)
        if proxy is not None and proxy.socks:
            raise ModelError(
                f"the proxy in {proxy.variable} ({proxy.shown}) is a SOCKS proxy, which the model "
                "client does not speak here (install httpx with its `socks` extra to use one); "
                "use an HTTP proxy, or exclude this host with no_proxy",
                "other",
            )
        return proxy

    async def _connection(self, target: Target, proxy: ProxyURL | None, connect_timeout: float) -> Connection:
        await self._drop_stale()
        key = (target.origin, None if proxy is None else proxy.key)
        idle = self._idle.get(key)
        if idle:
            return idle.pop()
        conn = await self._connect(target, proxy, key, connect_timeout)
        self._open = {c for c in self._open if not c.closed}
        self._open.add(conn)
        if self._closed:  # closed while we connected
            await conn.aclose()
            raise ProviderTransportError("the model client is closed")
        return conn

    async def _drop_stale(self) -> None:
        """Close idle connections, of every origin, that are too old or that the provider
        closed (or wrote to): a dead connection is not kept open until its origin is
        asked again, which for some never happens."""
        now = time.monotonic()
        stale: list[Connection] = []
        for origin, conns in list(self._idle.items()):  # no await until the lists are settled
            fresh = [c for c in conns if now - c.idle_since <= self._keepalive and c.looks_usable()]
            stale.extend(c for c in conns if not any(c is f for f in fresh))
            if fresh:
                self._idle[origin] = fresh
            else:
                del self._idle[origin]
        for conn in stale:
            await conn.aclose()

    async def _connect(
        self, target: Target, proxy: ProxyURL | None, key: Hashable, connect_timeout: float
    ) -> Connection:
        """A new connection for `key`; `connect_timeout` bounds all of it (TCP, CONNECT, TLS)."""
        with anyio.move_on_after(connect_timeout):
            if proxy is not None:
                return Connection(await self._through(target, proxy), key)
            context = self._ssl_context() if target.scheme == "https" else None
            try:
                stream: anyio.abc.ByteStream
                if context is None:
                    stream = await anyio.connect_tcp(target.host, target.port)
                else:
                    stream = await anyio.connect_tcp(
                        target.host,
                        target.port,
                        ssl_context=context,
                        tls_hostname=target.host,
                        # Tells a close_notify from a bare end of the TCP stream (see
                        # `Connection`); closing never waits for the peer's, as every
                        # close is forceful.
                        tls_standard_compatible=True,
                    )
            except (OSError, anyio.BrokenResourceError, ssl.SSLError) as exc:
                raise ProviderTransportError(
                    f"could not connect to {target.netloc}: {describe_exc(exc)}"
                ) from None
            return Connection(stream, key)
        via = "" if proxy is None else f" through the proxy {proxy.shown}"
        raise ProviderTransportError(
            f"timed out connecting to {target.netloc}{via} after {connect_timeout:g} s"
        )

    async def _through(self, target: Target, proxy: ProxyURL) -> anyio.abc.ByteStream:
        if target.scheme == "https":
            return await open_tunnel(proxy, target.host, target.netloc, self._ssl_context)
        return await connect_proxy(proxy, self._ssl_context)

    async def release(self, conn: Connection) -> None:
        if conn.reusable and not conn.closed and not self._closed:
            idle = self._idle.setdefault(conn.origin, [])
            if len(idle) < self._max_idle:
                conn.mark_idle()
                idle.append(conn)
                return
        await conn.aclose()

    async def aclose(self) -> None:
        self._closed = True
        self._idle = {}
        conns, self._open = self._open, set()
        for conn in conns:
            await conn.aclose()
