from __future__ import annotations

import time
from email.utils import formatdate

import anyio
import pytest

from codex_mcp.agent.model import backoff
from codex_mcp.agent.model.retry import parse_retry_after, parse_try_again_hint
from codex_mcp.agent.model.transport import ProviderTransport
from codex_mcp.agent.model.transport.http11 import Headers
from codex_mcp.agent.model.types import Completed, ModelError
from tests.support.model_wire import (
    Reply,
    RetryLog,
    closed_port,
    collect,
    error_reply,
    make_client,
    responses_events,
    sse_reply,
)
from tests.support.scripted_model import ScriptedModel

pytestmark = pytest.mark.anyio


# --- pure helpers ---------------------------------------------------------------------------


def test_backoff_doubles_with_jitter() -> None:
    for attempt, base in [(1, 0.2), (2, 0.4), (3, 0.8), (5, 3.2)]:
        for _ in range(50):
            assert base * 0.9 <= backoff(attempt) <= base * 1.1


def test_parse_retry_after() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0"}) == 0.0
    assert parse_retry_after({"retry-after": "-4"}) == 0.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    now = time.time()
    when = formatdate(now + 30, usegmt=True)
    got = parse_retry_after({"Retry-After": when}, now=now)
    assert got is not None and 28 <= got <= 31
    assert parse_retry_after(Headers([("RETRY-AFTER", "3")])) == 3.0


def test_try_again_hints() -> None:
    assert parse_try_again_hint("Please try again in 1.5s.") == 1.5
    assert parse_try_again_hint("try again in 20ms") == 0.02
    assert parse_try_again_hint("Try Again In 3 seconds") == 3.0
    assert parse_try_again_hint("try again in 1 second") == 1.0
    assert parse_try_again_hint("try again later") is None


# --- request-phase retries --------------------------------------------------------------------


async def test_500_then_success_announces_retry(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(error_reply(500, "mock failure"), sse_reply(responses_events("ok")))
    log = RetryLog()
    got = await collect(make_client(mock.base_url, http=http), on_retry=log)
    assert isinstance(got[-1], Completed)
    [(message, attempt, max_retries, delay)] = log.calls
    assert (attempt, max_retries) == (1, 4)
    assert delay == 0.001
    assert message.startswith("unexpected status 500 Internal Server Error: mock failure; retrying 1/4 in")
    assert len(mock.requests) == 2


async def test_502_with_html_body(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(Reply(status=502, body=b"<html>bad gateway</html>"), sse_reply(responses_events()))
    log = RetryLog()
    await collect(make_client(mock.base_url, http=http), on_retry=log)
    assert "502 Bad Gateway: <html>bad gateway</html>" in log.calls[0][0]


async def test_429_honours_retry_after(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(
        error_reply(429, "Rate limit", "rate_limit_error", headers={"Retry-After": "0"}),
        error_reply(429, "Rate limit", "rate_limit_error"),
        sse_reply(responses_events()),
    )
    log = RetryLog()
    got = await collect(make_client(mock.base_url, http=http), on_retry=log)
    assert isinstance(got[-1], Completed)
    assert [c[3] for c in log.calls] == [0.0, 0.002]  # Retry-After, then backoff(2)


async def test_retry_after_one_second_is_used(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(error_reply(503, "busy", headers={"Retry-After": "1"}), sse_reply(responses_events()))
    log = RetryLog()
    start = anyio.current_time()
    await collect(make_client(mock.base_url, http=http), on_retry=log)
    assert log.calls[0][3] == 1.0
    assert anyio.current_time() - start >= 0.95


async def test_exhausted_retries_message(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(*[error_reply(500, "mock failure") for _ in range(3)])
    log = RetryLog()
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http, request_max_retries=2), on_retry=log)
    err = info.value
    assert str(err) == (
        "exceeded retry limit, last status: 500 Internal Server Error: mock failure, "
        f"url: {mock.base_url}/responses"
    )
    assert err.kind == "internal_server_error" and err.http_status == 500 and not err.retryable
    assert [c[1:3] for c in log.calls] == [(1, 2), (2, 2)]


async def test_zero_retries_fails_at_once(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(error_reply(500, "mock failure"))
    log = RetryLog()
    with pytest.raises(ModelError, match="exceeded retry limit, last status: 500"):
        await collect(make_client(mock.base_url, http=http, request_max_retries=0), on_retry=log)
    assert log.calls == [] and len(mock.requests) == 1


async def test_429_exhausted(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(*[error_reply(429, "Rate limit reached", "rate_limit_error") for _ in range(2)])
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http, request_max_retries=1))
    assert "last status: 429 Too Many Requests: Rate limit reached" in str(info.value)
    assert info.value.http_status == 429


async def test_a_hang_up_before_the_answer_is_retried_once_for_free(
    mock: ScriptedModel, http: ProviderTransport
) -> None:
    """The server closed the connection without answering (a pooled connection closed as we
    reused it): it never processed the request, so it is resent at once, unannounced, even
    with request_max_retries = 0."""
    mock.script(Reply(drop=True), sse_reply(responses_events()))
    log = RetryLog()
    got = await collect(make_client(mock.base_url, http=http, request_max_retries=0), on_retry=log)
    assert isinstance(got[-1], Completed)
    assert log.calls == [] and len(mock.requests) == 2


async def test_repeated_hang_ups_follow_the_retry_policy(
    mock: ScriptedModel, http: ProviderTransport
) -> None:
    mock.script(Reply(drop=True), Reply(drop=True), sse_reply(responses_events()))
    log = RetryLog()
    got = await collect(make_client(mock.base_url, http=http), on_retry=log)
    assert isinstance(got[-1], Completed)
    assert len(log.calls) == 1
    assert log.calls[0][0].startswith(f"error sending request to {mock.base_url}/responses: ")
    mock.script(Reply(drop=True), Reply(drop=True))
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http, request_max_retries=0))
    assert info.value.kind == "http_connection_failed"


async def test_unreachable_base_url(http: ProviderTransport) -> None:
    log = RetryLog()
    with closed_port() as port, pytest.raises(ModelError) as info:
        base = f"http://127.0.0.1:{port}/v1"
        await collect(make_client(base, http=http, request_max_retries=2), on_retry=log)
    err = info.value
    assert len(log.calls) == 2
    if getattr(http, "proxied", False):  # the proxy answers for the origin it cannot reach
        assert "502 Bad Gateway" in str(err) and not err.retryable
        return
    assert str(err).startswith(f"error sending request to {base}/responses: ")
    assert str(err).endswith("(gave up after 2 retries)")
    assert err.kind == "http_connection_failed" and not err.retryable


# --- fatal statuses ---------------------------------------------------------------------------


async def _fatal(mock: ScriptedModel, http: ProviderTransport, reply: Reply) -> ModelError:
    mock.script(reply)
    log = RetryLog()
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http), on_retry=log)
    assert log.calls == [] and len(mock.requests) == 1
    assert not info.value.retryable
    return info.value


async def test_401_is_fatal_with_readable_text(mock: ScriptedModel, http: ProviderTransport) -> None:
    err = await _fatal(
        mock, http, error_reply(401, "bad api key", "invalid_request_error", code="invalid_api_key")
    )
    assert str(err) == f"unexpected status 401 Unauthorized: bad api key, url: {mock.base_url}/responses"
    assert err.kind == "unauthorized" and err.http_status == 401


async def test_400_is_fatal_with_the_body(mock: ScriptedModel, http: ProviderTransport) -> None:
    reply = error_reply(400, "mock failure", "invalid_request_error")
    err = await _fatal(mock, http, reply)
    assert str(err) == reply.body.decode()
    assert err.kind == "bad_request" and err.http_status == 400


async def test_context_window_400(mock: ScriptedModel, http: ProviderTransport) -> None:
    reply = error_reply(
        400, "This model's maximum context length is 8192 tokens", code="context_length_exceeded"
    )
    err = await _fatal(mock, http, reply)
    assert err.kind == "context_window_exceeded"
    assert "context window" in str(err)


async def test_other_4xx_is_fatal(mock: ScriptedModel, http: ProviderTransport) -> None:
    err = await _fatal(mock, http, error_reply(404, "no such model"))
    assert str(err) == f"unexpected status 404 Not Found: no such model, url: {mock.base_url}/responses"


@pytest.mark.parametrize(
    ("etype", "extra", "kind", "text"),
    [
        (
            "usage_limit_reached",
            {"plan_type": "plus", "resets_in_seconds": 600},
            "usage_limit_exceeded",
            "10 minutes",
        ),
        ("usage_not_included", {}, "usage_limit_exceeded", "not included"),
        ("insufficient_quota", {}, "quota_exceeded", "quota"),
    ],
)
async def test_fatal_429_types(
    mock: ScriptedModel, http: ProviderTransport, etype: str, extra: dict[str, object], kind: str, text: str
) -> None:
    err = await _fatal(mock, http, error_reply(429, "limit", etype, **extra))
    assert err.kind == kind and err.http_status == 429
    assert text in str(err)


# --- cancellation -----------------------------------------------------------------------------


async def test_cancellation_during_backoff_is_immediate(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(error_reply(503, "busy", headers={"Retry-After": "30"}))
    log = RetryLog()
    client = make_client(mock.base_url, http=http)
    start = anyio.current_time()
    with anyio.move_on_after(0.3) as scope:
        await collect(client, on_retry=log)
    assert scope.cancelled_caught
    assert len(log.calls) == 1
    assert anyio.current_time() - start < 2


async def test_cancellation_while_streaming(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(sse_reply(responses_events("x", completed=False), stall=True))
    client = make_client(mock.base_url, http=http)
    start = anyio.current_time()
    with anyio.move_on_after(0.3) as scope:
        await collect(client)
    assert scope.cancelled_caught
    assert anyio.current_time() - start < 2
