"""Reaching a provider through an HTTP proxy: the stream to the proxy, and the CONNECT
tunnel an https target is reached through.

Kept apart from `direct.py` because a tunnel is a small protocol of its own: the proxy is a
peer we did not choose to trust with the conversation (it only ever sees TLS for an https
target), so its answer to CONNECT is read with the same bounds as a provider's head, only a
2xx opens the tunnel, and a byte it sends between its answer and our TLS handshake is
refused: it would be read as the start of the provider's TLS stream.  Messages name the
proxy by `ProxyURL.shown`, never with its credentials.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import anyio
import anyio.abc
from anyio.streams.tls import TLSStream

from codex_mcp.agent.model.transport.connection import Connection, describe_exc
from codex_mcp.agent.model.transport.proxies import ProxyURL
from codex_mcp.errors import ProviderTransportError

_OPEN_ERRORS = (OSError, anyio.BrokenResourceError, anyio.EndOfStream, ssl.SSLError)


async def connect_proxy(proxy: ProxyURL, ssl_context: Callable[[], ssl.SSLContext]) -> anyio.abc.ByteStream:
    """A stream to `proxy`: TCP, with TLS verified for the proxy's name for an `https://` one."""
    try:
        if proxy.scheme == "https":
            return await anyio.connect_tcp(
                proxy.host,
                proxy.port,
                ssl_context=ssl_context(),
                tls_hostname=proxy.host,
                tls_standard_compatible=True,
            )
        return await anyio.connect_tcp(proxy.host, proxy.port)
    except _OPEN_ERRORS as exc:
        raise ProviderTransportError(
            f"could not connect to the proxy {proxy.shown}: {describe_exc(exc)}"
        ) from None


def connect_head(proxy: ProxyURL, netloc: str) -> bytes:
    """The CONNECT request for `netloc` (`host:port`, IPv6 in brackets)."""
    lines = [f"CONNECT {netloc} HTTP/1.1", f"Host: {netloc}"]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


async def open_tunnel(
    proxy: ProxyURL,
    host: str,
    netloc: str,
    ssl_context: Callable[[], ssl.SSLContext],
) -> anyio.abc.ByteStream:
    """A TLS stream to the provider `host` (`netloc` with its port) through a CONNECT tunnel
    of `proxy`, verified for `host`.  Every failure is a `ProviderTransportError` naming the
    proxy; none is a `ProviderClosedEarly`: a tunnel that did not open is not the provider
    closing a connection before answering, and is not retried silently."""
    stream = await connect_proxy(proxy, ssl_context)
    try:
        conn = Connection(stream, None)
        try:
            await conn.send_request(connect_head(proxy, netloc), b"")
            head = await conn.read_one_head()
        except ProviderTransportError as exc:
            text = str(exc).replace("the model provider", "the proxy")
            raise ProviderTransportError(
                f"CONNECT {netloc} through the proxy {proxy.shown} failed: {text}"
            ) from None
        if not 200 <= head.status < 300:
            hint = " (proxy authentication required or refused)" if head.status == 407 else ""
            raise ProviderTransportError(
                f"the proxy {proxy.shown} refused CONNECT {netloc}: {head.status} {head.reason[:100]}{hint}"
            )
        if conn.buffered:
            raise ProviderTransportError(
                f"the proxy {proxy.shown} sent {conn.buffered} bytes after accepting CONNECT {netloc}, "
                "before TLS started: refused (they would be read as the provider's)"
            )
        try:
            return await TLSStream.wrap(
                stream,
                server_side=False,
                hostname=host,
                ssl_context=ssl_context(),
                standard_compatible=True,
            )
        except _OPEN_ERRORS as exc:
            raise ProviderTransportError(
                f"could not connect to {netloc} through the proxy {proxy.shown}: {describe_exc(exc)}"
            ) from None
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
