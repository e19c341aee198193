"""`ModelClient`: one sampling request against a provider, on either wire, with the
request-phase retries.  Stream-phase failures surface as retryable `ModelError`s for the
turn loop, which re-samples the whole request.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from typing import Any

import anyio

from codex_mcp._version import __version__
from codex_mcp.agent.limits import MAX_REQUEST_BYTES, MiB, describe_bytes
from codex_mcp.agent.model.auth import Auth
from codex_mcp.agent.model.chat import build_chat_body, map_chat_events
from codex_mcp.agent.model.content_decoding import ACCEPT_ENCODING, bounded_chunks
from codex_mcp.agent.model.provider import MAX_RETRIES_CAP, ModelProviderInfo
from codex_mcp.agent.model.request_encoder import RequestEncoder
from codex_mcp.agent.model.responses import (
    CONTEXT_WINDOW_MESSAGE,
    QUOTA_MESSAGE,
    USAGE_NOT_INCLUDED_MESSAGE,
    build_responses_body,
    map_responses_events,
)
from codex_mcp.agent.model.retry import backoff, parse_retry_after
from codex_mcp.agent.model.sse import iter_sse
from codex_mcp.agent.model.transport import ProviderResponse, ProviderTransport, shown_url
from codex_mcp.agent.model.types import ModelError, Prompt, ResponseEvent
from codex_mcp.errors import ProviderClosedEarly, ProviderTransportError
from codex_mcp.json_bounds import loads_bounded

OnRetry = Callable[[str, int, int, float], Awaitable[None]]

DEFAULT_ORIGINATOR = "codex_mcp"
CONNECT_TIMEOUT_S = 30.0
MAX_ERROR_BODY = 64 * 1024


DEFAULT_VERSION = __version__


def _reason(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _error_object(body_text: str) -> dict[str, Any]:
    try:
        data = loads_bounded(body_text)
    except ValueError:
        return {}
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return err
        if isinstance(data.get("message"), str):
            return data
    return {}


def _server_message(body_text: str) -> str:
    msg = _error_object(body_text).get("message")
    if isinstance(msg, str) and msg.strip():
        return msg.strip()
    text = body_text.strip()
    return text if len(text) <= 1000 else text[:1000] + "..."


def _status_text(status: int) -> str:
    reason = _reason(status)
    return f"{status} {reason}" if reason else str(status)


def _is_context_window_error(err: Mapping[str, Any], body_text: str) -> bool:
    if err.get("code") == "context_length_exceeded" or err.get("type") == "context_length_exceeded":
        return True
    low = body_text.lower()
    return "maximum context length" in low or "context_length_exceeded" in low


def _usage_limit_message(err: Mapping[str, Any]) -> str:
    msg = "You have reached your usage limit"
    plan = err.get("plan_type")
    if isinstance(plan, str) and plan:
        msg += f" for the {plan} plan"
    resets = err.get("resets_in_seconds")
    if isinstance(resets, int | float) and not isinstance(resets, bool):
        minutes = max(1, round(resets / 60))
        msg += f"; it resets in about {minutes} minute{'s' if minutes != 1 else ''}"
    return msg + "."


def encode_request(body: dict[str, Any], encoder: RequestEncoder | None = None) -> bytes:
    """The request body as JSON bytes, at most `MAX_REQUEST_BYTES` (else a final error).
    With the thread's `encoder`, the unchanged history is not encoded again."""
    try:
        text = json.dumps(body) if encoder is None else encoder.dumps(body)
    except (RecursionError, ValueError, TypeError) as exc:
        # Only values kept from outside could do this; they are depth-checked when kept,
        # so this is a last line of defence, not a path anyone should see.
        raise ModelError(
            f"the conversation could not be encoded as a request: {type(exc).__name__}", "other"
        ) from None
    if len(text) > MAX_REQUEST_BYTES:  # ensure_ascii: characters are bytes
        raise ModelError(
            f"the conversation has grown to {len(text) // MiB} MiB, over the "
            f"{describe_bytes(MAX_REQUEST_BYTES)} one request may carry; start a new thread",
            "other",
        )
    return text.encode("ascii")


class ModelClient:
    """Streams one model response per `stream()` call, for any provider/wire."""

    def __init__(
        self,
        provider: ModelProviderInfo,
        *,
        http: ProviderTransport,
        auth: Auth,
        originator: str = DEFAULT_ORIGINATOR,
        version: str = DEFAULT_VERSION,
        env: Mapping[str, str] | None = None,
        backoff_fn: Callable[[int], float] = backoff,
    ) -> None:
        self.provider = provider
        self.auth = auth
        self.originator = originator
        self.version = version
        self._http = http
        self._env: Mapping[str, str] = os.environ if env is None else env
        self._backoff = backoff_fn
        self._encoder = RequestEncoder()

    # --- request pieces ------------------------------------------------------------------

    @property
    def url(self) -> str:
        base = (self.auth.base_url or self.provider.base_url).rstrip("/")
        path = "/responses" if self.provider.wire_api == "responses" else "/chat/completions"
        return base + path

    def build_body(self, prompt: Prompt, model: str) -> dict[str, Any]:
        if self.provider.wire_api == "responses":
            return build_responses_body(prompt, model)
        return build_chat_body(prompt, model)

    def build_headers(self, prompt: Prompt) -> list[tuple[str, str]]:
        """The request's headers: the wire's, the prompt's identifying ones (originator,
        User-Agent, turn metadata: see `request_headers`), then auth and the provider's own;
        a later one replaces an earlier one of the same name (in any case).
        No `OpenAI-Beta`: Codex sends none on plain HTTP."""
        h = _FieldMap()
        h["Accept"] = "text/event-stream"
        h["Accept-Encoding"] = ACCEPT_ENCODING
        h["Content-Type"] = "application/json"
        if prompt.headers:
            for k, v in prompt.headers.items():
                h[k] = v
        else:
            h["originator"] = self.originator
            system, release, machine = _os_parts()
            h["User-Agent"] = f"{self.originator}/{self.version} ({system} {release}; {machine})"
        if self.provider.id == "openai" or self.provider.requires_openai_auth:
            for header, var in (
                ("OpenAI-Organization", "OPENAI_ORGANIZATION"),
                ("OpenAI-Project", "OPENAI_PROJECT"),
            ):
                value = self._env.get(var, "").strip()
                if value:
                    h[header] = value
        for k, v in self.auth.headers().items():
            h[k] = v
        for k, v in self.provider.http_headers.items():
            h[k] = v
        for k, var in self.provider.env_http_headers.items():
            value = self._env.get(var, "").strip()
            if value:
                h[k] = value
        return h.items()

    # --- the request ---------------------------------------------------------------------

    async def stream(
        self,
        prompt: Prompt,
        *,
        model: str,
        thread_id: str,
        turn_id: str,
        on_retry: OnRetry,
    ) -> AsyncIterator[ResponseEvent]:
        """Send the request and yield its events.

        Request phase: transport errors, 5xx and 429 are retried up to
        `request_max_retries` times (announced through `on_retry` before each sleep; the
        delay is `Retry-After` or the backoff).  401 refreshes a ChatGPT login once; every
        other status, and exhausted retries, raise a final `ModelError`.  Once the response
        streams, any failure is raised as a retryable `ModelError` for the turn loop.
        """
        url = self.url
        shown = shown_url(url)
        content = encode_request(self.build_body(prompt, model), self._encoder)
        max_retries = min(max(self.provider.request_max_retries, 0), MAX_RETRIES_CAP)
        idle_ms = self.provider.stream_idle_timeout_ms
        idle = idle_ms / 1000.0 if idle_ms > 0 else None
        params = dict(self.provider.query_params) or None
        attempt = 0
        refreshed = False
        hung_up_retry_used = False

        async def retry_or_raise(summary: str, delay: float | None, final: ModelError) -> None:
            nonlocal attempt
            if attempt >= max_retries:
                raise final
            attempt += 1
            wait = self._backoff(attempt) if delay is None else delay
            await on_retry(
                f"{summary}; retrying {attempt}/{max_retries} in {wait:.1f}s…", attempt, max_retries, wait
            )
            await anyio.sleep(wait)

        while True:
            headers = self.build_headers(prompt)
            token_used = self.auth.token
            try:
                with anyio.fail_after(idle if idle is not None else CONNECT_TIMEOUT_S * 10):
                    resp = await self._http.send(
                        "POST",
                        url,
                        headers=headers,
                        content=content,
                        params=params,
                        connect_timeout=CONNECT_TIMEOUT_S,
                    )
            except (ProviderTransportError, TimeoutError) as e:
                if isinstance(e, ProviderClosedEarly) and not hung_up_retry_used:
                    # The server hung up before answering (typically: it closed a pooled
                    # keep-alive connection just as we reused it), so it never processed the
                    # request. One immediate, unannounced retry, whatever request_max_retries says.
                    hung_up_retry_used = True
                    continue
                reason = "timed out waiting for response headers" if isinstance(e, TimeoutError) else str(e)
                summary = f"error sending request to {shown}: {reason}"
                await retry_or_raise(
                    summary,
                    None,
                    ModelError(
                        f"{summary} (gave up after {attempt} retr{'y' if attempt == 1 else 'ies'})",
                        "http_connection_failed",
                    ),
                )
                continue

            status = resp.status_code
            if 200 <= status < 300:
                try:
                    events = iter_sse(self._chunks(resp), idle)
                    mapped = (
                        map_responses_events(events)
                        if self.provider.wire_api == "responses"
                        else map_chat_events(events)
                    )
                    async with aclosing(mapped) as agen:
                        async for ev in agen:
                            yield ev
                finally:
                    await resp.aclose()
                return

            try:
                body_text = await self._read_error_body(resp, idle)
            finally:
                await resp.aclose()
            server_msg = _server_message(body_text)
            err = _error_object(body_text)
            status_text = _status_text(status)
            summary = (
                f"unexpected status {status_text}: {server_msg}"
                if server_msg
                else f"unexpected status {status_text}"
            )

            if status == 401:
                if self.auth.can_refresh and not refreshed:
                    refreshed = True
                    await self.auth.refresh(self._http, stale_token=token_used)
                    continue
                raise ModelError(f"{summary}, url: {shown}", "unauthorized", 401)
            if _is_context_window_error(err, body_text) and status in (400, 413):
                raise ModelError(CONTEXT_WINDOW_MESSAGE, "context_window_exceeded", status)
            etype = err.get("type")
            ecode = err.get("code")
            if status == 429:
                if etype == "usage_limit_reached":
                    raise ModelError(_usage_limit_message(err), "usage_limit_exceeded", 429)
                if etype == "usage_not_included":
                    raise ModelError(USAGE_NOT_INCLUDED_MESSAGE, "usage_limit_exceeded", 429)
                if etype == "insufficient_quota" or ecode == "insufficient_quota":
                    raise ModelError(QUOTA_MESSAGE, "quota_exceeded", 429)
            if status == 429 or status >= 500:
                kind: Any = "internal_server_error" if status >= 500 else "http_connection_failed"
                await retry_or_raise(
                    summary,
                    parse_retry_after(resp.headers),
                    ModelError(
                        f"exceeded retry limit, last status: {status_text}"
                        + (f": {server_msg}" if server_msg else "")
                        + f", url: {shown}",
                        kind,
                        status,
                    ),
                )
                continue
            if status == 400:
                raise ModelError(body_text.strip() or f"{summary}, url: {shown}", "bad_request", 400)
            raise ModelError(f"{summary}, url: {shown}", "other", status)

    async def _chunks(self, resp: ProviderResponse) -> AsyncIterator[bytes]:
        try:
            async for chunk in bounded_chunks(resp.aiter_raw(), resp.headers.get("content-encoding")):
                yield chunk
        except ProviderTransportError as e:
            raise ModelError(f"stream error: {e}", "response_stream_failed", retryable=True) from None

    @staticmethod
    async def _read_error_body(resp: ProviderResponse, idle: float | None) -> str:
        parts: list[bytes] = []
        size = 0
        try:
            with anyio.fail_after(idle if idle is not None else CONNECT_TIMEOUT_S):
                async for chunk in bounded_chunks(resp.aiter_raw(), resp.headers.get("content-encoding")):
                    parts.append(chunk)
                    size += len(chunk)
                    if size >= MAX_ERROR_BODY:
                        break
        except (ProviderTransportError, TimeoutError, ModelError):
            pass
        return b"".join(parts)[:MAX_ERROR_BODY].decode("utf-8", "replace")


class _FieldMap:
    """Request fields in order of first setting; setting a name again (in any case)
    replaces its value, as header maps of HTTP libraries do."""

    def __init__(self) -> None:
        self._fields: dict[str, tuple[str, str]] = {}

    def __setitem__(self, name: str, value: str) -> None:
        self._fields[name.lower()] = (name, value)

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields.values())


def _os_parts() -> tuple[str, str, str]:
    """The OS name, release and machine (what `platform` reports, without importing it
    where `os.uname` has them)."""
    if hasattr(os, "uname"):
        uname = os.uname()
        return uname.sysname, uname.release, uname.machine
    import platform

    return platform.system(), platform.release(), platform.machine()
