"""How the model client reaches a provider: `open_transport()` picks one of two transports
with the same small interface (`send` a request, read the response's raw body, `aclose`).

* `DirectTransport` (`direct.py`): our own HTTP/1.1 client on anyio streams, with bounded
  parsing of everything the provider sends.  It is the default: it costs a first call a
  few milliseconds of imports where httpx and its dependencies cost ~30.
* `HttpxTransport` (`via_httpx.py`): httpx, whenever the environment configures a proxy
  (any `*_proxy` variable) or the platform keeps proxy settings outside the environment
  (macOS, Windows): httpx knows how to use them and we do not.

Both raise `ProviderTransportError` / `ProviderClosedEarly` (`codex_mcp.errors`) for
anything that goes wrong below HTTP.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Protocol

from codex_mcp.agent.model.transport.http11 import shown_url


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
    if proxy_configured(env) or sys.platform in ("darwin", "win32"):
        from codex_mcp.agent.model.transport.via_httpx import HttpxTransport

        return HttpxTransport(ssl_context)
    from codex_mcp.agent.model.transport.direct import DirectTransport

    return DirectTransport(ssl_context)


__all__ = ["ProviderResponse", "ProviderTransport", "open_transport", "proxy_configured", "shown_url"]
