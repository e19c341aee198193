"""The Streamable HTTP transport (MCP 2025-06-18): each message we send is one POST.

A request's POST answers with either one JSON message or an SSE stream that may carry the
server's own requests (an elicitation during a tool call) before the response; each POST
runs in its own task so the answers we owe the server (POSTed too) are never stuck behind
the stream that asked for them.  Notifications and our answers are POSTed inline, which
keeps `notifications/initialized` ahead of the first request.  The `Mcp-Session-Id` the
server assigns is sent back on every later POST and ended with a DELETE on close.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup

from codex_mcp.agent.mcp_client.config import HttpTransportConfig
from codex_mcp.agent.mcp_client.transport import MAX_FRAME_BYTES, Deliver, Oversized, TaskSet
from codex_mcp.agent.model.sse import iter_sse
from codex_mcp.jsonrpc import INTERNAL_ERROR, Response, classify, parse_message

log = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
PROTOCOL_HEADER = "mcp-protocol-version"
CLOSE_TIMEOUT_SEC = 2.0


def http_headers(config: HttpTransportConfig, env: Mapping[str, str]) -> dict[str, str]:
    """Static headers, headers from the environment, and the bearer token; ValueError when unset."""
    headers = dict(config.http_headers)
    for header, var in config.env_http_headers.items():
        value = env.get(var)
        if value:
            headers[header] = value
    if config.bearer_token_env_var:
        token = env.get(config.bearer_token_env_var)
        if not token:
            raise ValueError(
                f"environment variable {config.bearer_token_env_var} (bearer_token_env_var) is not set"
            )
        headers["Authorization"] = f"Bearer {token}"
    return headers


class HttpTransport:
    def __init__(
        self, name: str, config: HttpTransportConfig, base_env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self._url = config.url
        self._headers = http_headers(config, os.environ if base_env is None else base_env)
        self._session_id: str | None = None
        self._protocol: str | None = None
        self._http: httpx.AsyncClient | None = None
        self._tg: TaskGroup | None = None
        self._deliver: Deliver | None = None
        self._tasks = TaskSet()
        self._last_error = ""

    async def start(self, task_group: TaskGroup, deliver: Deliver) -> None:
        self._tg = task_group
        self._deliver = deliver
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), trust_env=True)

    def _request_headers(self) -> dict[str, str]:
        headers = {
            **self._headers,
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        if self._session_id:
            headers["Mcp-Session-Id"] = self._session_id
        if self._protocol:
            headers["MCP-Protocol-Version"] = self._protocol
        return headers

    async def send(self, message: dict[str, Any]) -> None:
        if self._http is None or self._tg is None:
            raise anyio.ClosedResourceError
        if "method" in message and "id" in message:
            self._tasks.spawn(self._tg, lambda: self._post_request(message))
            return
        response = await self._http.post(self._url, json=message, headers=self._request_headers())
        await response.aclose()
        if response.status_code >= 400:
            raise OSError(f"HTTP {response.status_code} for {message.get('method', 'a response')}")

    async def _post_request(self, message: dict[str, Any]) -> None:
        assert self._http is not None and self._deliver is not None
        deliver, request_id = self._deliver, message["id"]
        error: str | None = None
        try:
            async with self._http.stream(
                "POST", self._url, json=message, headers=self._request_headers()
            ) as response:
                session = response.headers.get(SESSION_HEADER)
                if session:
                    self._session_id = session
                if response.status_code >= 400:
                    detail = (await response.aread())[:300].decode("utf-8", "replace")
                    error = f"HTTP {response.status_code}: {detail}"
                elif "text/event-stream" in response.headers.get("content-type", ""):
                    async for event in iter_sse(response.aiter_bytes()):
                        if event.event == "message" and event.data.strip():
                            await self._deliver_text(event.data)
                    error = "the server ended the event stream without an answer"
                else:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > MAX_FRAME_BYTES:
                            await deliver(Oversized(size))
                            return
                    raw = b"".join(chunks)
                    if raw.strip():
                        await self._deliver_text(raw)
                    else:
                        error = f"HTTP {response.status_code} without a body"
        except httpx.HTTPError as exc:
            error = f"HTTP request to {self._url} failed: {exc!r}"
            self._last_error = error
        if error is not None:
            # Ignored by the session when the real answer already arrived.
            await deliver(Response(request_id, error={"code": INTERNAL_ERROR, "message": error}))

    async def _deliver_text(self, text: str | bytes) -> None:
        assert self._deliver is not None
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        stripped = text.lstrip()
        if stripped.startswith("["):  # a batch: deliver its members one by one
            try:
                batch = json.loads(stripped)
            except ValueError:
                batch = None
            if isinstance(batch, list):
                for member in batch:
                    await self._deliver(classify(member))
                return
        message = parse_message(text)
        if isinstance(message, Response) and isinstance(message.result, dict):
            version = message.result.get("protocolVersion")
            if isinstance(version, str) and "serverInfo" in message.result:
                self._protocol = version  # the negotiated version goes on every later POST
        await self._deliver(message)

    def exit_details(self) -> str:
        return self._last_error

    async def aclose(self) -> None:
        self._tasks.cancel()
        http, self._http = self._http, None
        if http is None:
            return
        with anyio.CancelScope(shield=True):
            if self._session_id:
                with anyio.move_on_after(CLOSE_TIMEOUT_SEC):
                    with contextlib.suppress(httpx.HTTPError):
                        await http.delete(self._url, headers=self._request_headers())
            await http.aclose()
        if self._deliver is not None:
            await self._deliver(None)
