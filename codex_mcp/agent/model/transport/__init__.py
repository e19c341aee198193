"""How the model client reaches a provider: `open_transport()` picks one of two transports
with the same small interface (`send` a request, read the response's raw body, `aclose`).

* `DirectTransport` (`direct.py`): our own HTTP/1.1 client on anyio streams, with bounded
  parsing of everything the provider sends, a keep-alive pool per origin, and one silent
  resend only when the provider closed before a single byte of its answer.  It is the
  default, on Linux also behind an HTTP proxy from the environment (`proxies.py` reads
  `https_proxy`, `http_proxy`, `all_proxy` and `no_proxy` as urllib does; `tunnel.py` opens
  the CONNECT tunnel an https target is reached through).  It costs a first call a few
  milliseconds of imports where httpx and its dependencies cost ~30.
* `HttpxTransport` (`via_httpx.py`): httpx, only on macOS and Windows (whose proxy settings
  live outside the environment, where httpx finds them and we do not), and for a SOCKS
  proxy when httpx's SOCKS support (`socksio`) is installed.  It keeps no connection (see
  its docstring), so there every request pays a new connection, tunnel and handshake.

A SOCKS proxy without `socksio`, or a proxy variable we cannot read, makes the requests it
applies to fail with a final error naming the variable (never its credentials).

Both raise `ProviderTransportError` / `ProviderClosedEarly` (`codex_mcp.errors`) for
anything that goes wrong below HTTP.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from codex_mcp.agent.model.transport.http11 import shown_url

if TYPE_CHECKING:
    from codex_mcp.agent.model.transport.proxies import ProxySettings


class ProviderResponse(Protocol):
    status_code: int

    @property
    def headers(self) -> Mapping[str, str]: ...

    def aiter_raw(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class ProviderTransport(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]],
        content: bytes,
        params: Mapping[str, str] | None = None,
        connect_timeout: float = 30.0,
    ) -> ProviderResponse: ...

    async def aclose(self) -> None: ...


def proxy_configured(env: Mapping[str, str]) -> bool:
    """Whether `env` names a proxy in the variables httpx (through urllib) honours:
    `<scheme>_proxy` in any case, with a value."""
    for name, value in env.items():
        low = name.lower()
        if low.endswith("_proxy") and low != "no_proxy" and value.strip():
            return True
    return False


def open_transport(env: Mapping[str, str], ssl_context: Callable[[], ssl.SSLContext]) -> ProviderTransport:
    """The transport for a process with environment `env` (see the module docstring);
    `ssl_context` is asked for the TLS context when the first https connection needs it."""
    if sys.platform in ("darwin", "win32"):
        return _httpx(ssl_context)
    from codex_mcp.agent.model.transport.direct import DirectTransport

    if not proxy_configured(env):
        return DirectTransport(ssl_context)
    from codex_mcp.agent.model.transport.proxies import proxy_settings

    settings = proxy_settings(env)
    if _wants_socks(settings):
        import importlib.util

        if importlib.util.find_spec("socksio") is not None:
            return _httpx(ssl_context)
    return DirectTransport(ssl_context, proxies=settings)


def _wants_socks(settings: ProxySettings) -> bool:
    return any(getattr(p, "socks", False) for p in (settings.https, settings.http))


def _httpx(ssl_context: Callable[[], ssl.SSLContext]) -> ProviderTransport:
    from codex_mcp.agent.model.transport.via_httpx import HttpxTransport

    return HttpxTransport(ssl_context)


__all__ = ["ProviderResponse", "ProviderTransport", "open_transport", "proxy_configured", "shown_url"]
