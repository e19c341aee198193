"""`HttpxTransport`: the model client's requests through httpx, where a proxy is configured.

httpx reads the proxy settings of the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`
and friends, and the system's on macOS and Windows) and tunnels through them; our own
transport does not, so a process with any of those settings keeps using httpx.  Its
errors are translated into ours so the model client sees one vocabulary.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping

import httpx

from codex_mcp.agent.model.transport.direct import parse_target
from codex_mcp.agent.model.transport.http11 import OWNED_FIELDS, request_fields, shown_url
from codex_mcp.errors import ProviderClosedEarly, ProviderTransportError

_FRAMING_FIELDS = OWNED_FIELDS - {"host"}
"""Fields httpx must write itself: it keeps a caller's Content-Length or Transfer-Encoding
over its own (a configured header would reframe the request); a caller's Host it honours,
as our transport does."""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class HttpxResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.reason_phrase = response.reason_phrase
        self.headers: Mapping[str, str] = response.headers

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            raise ProviderTransportError(_describe(exc)) from None

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxTransport:
    """httpx with a connection per request.  httpcore returns a connection to its pool
    without looking at bytes h11 already holds past the response, and reads them as the
    answer to the next request: a provider (or anything on the path) that writes a second
    response after the first would answer a request it has not seen, possibly another
    thread's.  Not keeping connections costs a proxied set-up a connection (and a tunnel)
    per request; requests to a model are long, so that is a small price for exact framing."""

    def __init__(self, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, read=None),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=0),
            trust_env=True,
            verify=ssl_context(),
        )

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]],
        content: bytes,
        params: Mapping[str, str] | None = None,
        connect_timeout: float = 30.0,
    ) -> HttpxResponse:
        fields = [(k, v) for k, v in request_fields(headers) if k.lower() not in _FRAMING_FIELDS]
        # The URL is checked as our transport checks it (scheme, host, port, no user name
        # or password: httpx would send those as Basic credentials), then by httpx itself,
        # which raises its own errors, not transport ones, for what it cannot parse.
        parse_target(url, params)
        try:
            request = self._client.build_request(
                method,
                url,
                content=content,
                headers=fields,
                params=dict(params) if params else None,
                timeout=httpx.Timeout(connect_timeout, read=None),
            )
        except (httpx.InvalidURL, ValueError) as exc:
            raise ProviderTransportError(f"invalid provider URL {shown_url(url)[:200]!r}: {exc}") from None
        try:
            response = await self._client.send(request, stream=True)
        except (httpx.RemoteProtocolError, httpx.WriteError) as exc:
            raise ProviderClosedEarly(_describe(exc)) from None
        except httpx.TransportError as exc:
            raise ProviderTransportError(_describe(exc)) from None
        return HttpxResponse(response)

    async def aclose(self) -> None:
        await self._client.aclose()
