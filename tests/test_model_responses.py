from __future__ import annotations

import json

import pytest

from codex_mcp.agent.model.responses import build_responses_body
from codex_mcp.agent.model.transport import ProviderTransport
from codex_mcp.agent.model.types import (
    Completed,
    Created,
    ModelError,
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    Prompt,
    ReasoningContentDelta,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    TokenUsage,
)
from tests.support.model_wire import (
    USAGE,
    Reply,
    RetryLog,
    collect,
    make_client,
    responses_events,
    simple_prompt,
    sse_event,
    sse_reply,
)
from tests.support.scripted_model import ScriptedModel

pytestmark = pytest.mark.anyio


# --- body -------------------------------------------------------------------------------


def test_body_without_reasoning() -> None:
    p = simple_prompt()
    p.tools = [{"type": "function", "name": "shell", "parameters": {"type": "object"}}]
    p.prompt_cache_key = "thread-1"
    body = build_responses_body(p, "gpt-x")
    assert list(body) == [
        "model",
        "instructions",
        "input",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "store",
        "stream",
        "include",
        "prompt_cache_key",
    ]
    assert body["model"] == "gpt-x"
    assert body["instructions"] == "be brief"
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False
    assert body["store"] is False and body["stream"] is True
    assert body["include"] == []
    assert body["prompt_cache_key"] == "thread-1"


def test_body_with_reasoning_verbosity_and_metadata() -> None:
    p = Prompt(
        instructions="x",
        input=[],
        parallel_tool_calls=True,
        reasoning={"effort": "high", "summary": "auto"},
        include=["reasoning.encrypted_content"],
        text={"verbosity": "low"},
        client_metadata={"turn_id": "t"},
    )
    body = build_responses_body(p, "m")
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["text"] == {"verbosity": "low"}
    assert body["client_metadata"] == {"turn_id": "t"}
    assert body["parallel_tool_calls"] is True
    assert "prompt_cache_key" not in body and "max_output_tokens" not in body
    assert list(body)[-3:] == ["include", "text", "client_metadata"]


# --- request headers and URL ---------------------------------------------------------------


async def test_request_headers_url_and_body(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(sse_reply(responses_events("Hi")))
    client = make_client(
        mock.base_url,
        http=http,
        id="openai",
        query_params={"api-version": "2025-01-01"},
        http_headers={"X-Static": "s"},
        env_http_headers={"X-From-Env": "MY_HDR", "X-Blank": "BLANK_HDR", "X-Unset": "UNSET_HDR"},
        env={"MY_HDR": "v1", "BLANK_HDR": "  ", "OPENAI_ORGANIZATION": "org-1", "OPENAI_PROJECT": ""},
    )
    prompt = simple_prompt()
    prompt.headers = {
        "originator": "codex_mcp_test",
        "user-agent": "codex_mcp_test/9.9.9 (Debian 12.0.0; x86_64) xterm (client; 1.0)",
        "session-id": "thread-1",
        "thread-id": "thread-1",
        "x-codex-turn-metadata": json.dumps({"turn_id": "turn-1"}),
    }
    await collect(client, prompt)
    [req] = mock.requests
    assert req.path == "/v1/responses?api-version=2025-01-01"
    h = req.headers
    assert h["authorization"] == "Bearer test-key"
    assert h["accept"] == "text/event-stream"
    assert h["content-type"] == "application/json"
    assert h["originator"] == "codex_mcp_test"
    assert h["user-agent"].endswith("(client; 1.0)")
    assert h["session-id"] == h["thread-id"] == "thread-1"
    assert json.loads(h["x-codex-turn-metadata"])["turn_id"] == "turn-1"
    # Codex sends neither on plain HTTP.
    assert "openai-beta" not in h and "session_id" not in h
    assert h["openai-organization"] == "org-1"
    assert "openai-project" not in h
    assert h["x-static"] == "s"
    assert h["x-from-env"] == "v1"
    assert "x-blank" not in h and "x-unset" not in h
    body = req.json
    assert body["model"] == "mock-model"
    assert body["input"][0]["content"][0]["text"] == "hi"


async def test_no_authorization_header_without_credentials(
    mock: ScriptedModel, http: ProviderTransport
) -> None:
    from codex_mcp.agent.model import Auth

    mock.script(sse_reply(responses_events()))
    await collect(make_client(mock.base_url, http=http, auth=Auth("none")))
    assert "authorization" not in mock.requests[0].headers


# --- event mapping --------------------------------------------------------------------------


async def test_every_event_kind(mock: ScriptedModel, http: ProviderTransport) -> None:
    fc = {"type": "function_call", "name": "shell", "arguments": '{"command":["ls"]}', "call_id": "c1"}
    reasoning = {"type": "reasoning", "id": "rs1", "summary": [{"type": "summary_text", "text": "t"}]}
    evs = [
        {"type": "response.created", "response": {"id": "r1"}},
        {"type": "response.in_progress", "response": {"id": "r1"}},
        {"type": "response.output_item.added", "item": {"type": "reasoning", "id": "rs1"}},
        {"type": "response.reasoning_summary_part.added", "item_id": "rs1", "summary_index": 0},
        {"type": "response.reasoning_summary_text.delta", "delta": "think", "summary_index": 0},
        {"type": "response.reasoning_summary_part.added", "item_id": "rs1", "summary_index": 1},
        {"type": "response.reasoning_summary_text.delta", "delta": "more", "summary_index": 1},
        {"type": "response.reasoning_text.delta", "delta": "raw", "content_index": 2},
        {"type": "response.output_item.done", "item": reasoning},
        {"type": "response.output_text.delta", "delta": "Hel"},
        {"type": "response.output_text.delta", "delta": "lo"},
        {"type": "response.output_text.done", "text": "Hello"},
        {"type": "response.output_item.done", "item": fc},
        {"type": "response.output_item.done", "item": "garbage"},
        {"type": "response.unknown_future_event", "x": 1},
        {"type": "response.completed", "response": {"id": "r1", "usage": USAGE}},
    ]
    mock.script(sse_reply(evs))
    got = await collect(make_client(mock.base_url, http=http))
    assert got == [
        Created(),
        OutputItemAdded({"type": "reasoning", "id": "rs1"}),
        ReasoningSummaryPartAdded("rs1", 0),
        ReasoningSummaryDelta("think", 0),
        ReasoningSummaryPartAdded("rs1", 1),
        ReasoningSummaryDelta("more", 1),
        ReasoningContentDelta("raw", 2),
        OutputItemDone(reasoning),
        OutputTextDelta("Hel"),
        OutputTextDelta("lo"),
        OutputItemDone(fc),
        Completed("r1", TokenUsage(10, 3, 5, 2, 15)),
    ]


async def test_data_only_events_use_the_json_type(mock: ScriptedModel, http: ProviderTransport) -> None:
    chunks = [sse_event(e, with_event_line=False) for e in responses_events("ok")]
    mock.script(Reply(headers={"content-type": "text/event-stream"}, chunks=chunks))
    got = await collect(make_client(mock.base_url, http=http))
    assert [type(e).__name__ for e in got] == [
        "Created",
        "OutputTextDelta",
        "OutputTextDelta",
        "OutputItemDone",
        "Completed",
    ]


async def test_completed_comes_only_after_stream_close(mock: ScriptedModel, http: ProviderTransport) -> None:
    evs = [*responses_events("a"), {"type": "response.output_text.delta", "delta": "late"}]
    mock.script(sse_reply(evs))
    got = await collect(make_client(mock.base_url, http=http))
    assert got[-2] == OutputTextDelta("late")
    assert isinstance(got[-1], Completed) and got[-1].response_id == "resp_1"


async def test_completed_without_usage(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(sse_reply([{"type": "response.completed", "response": {"id": "r9"}}]))
    assert await collect(make_client(mock.base_url, http=http)) == [Completed("r9", None)]


# --- stream-phase failures ------------------------------------------------------------------


async def _fails(mock: ScriptedModel, http: ProviderTransport, reply: Reply, **kw: object) -> ModelError:
    mock.script(reply)
    log = RetryLog()
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http, **kw), on_retry=log)
    assert log.calls == []  # stream errors are the turn loop's to retry
    return info.value


async def test_cut_stream_is_retryable(mock: ScriptedModel, http: ProviderTransport) -> None:
    err = await _fails(mock, http, sse_reply(responses_events("partial", completed=False)))
    assert str(err) == "stream closed before response.completed"
    assert err.retryable and err.kind == "response_stream_failed"


async def test_error_event_then_close_keeps_the_message(mock: ScriptedModel, http: ProviderTransport) -> None:
    reply = sse_reply([{"type": "response.created"}, {"type": "error", "message": "boom"}])
    err = await _fails(mock, http, reply)
    assert str(err) == "stream closed before response.completed: boom"
    assert err.retryable


async def test_idle_timeout(mock: ScriptedModel, http: ProviderTransport) -> None:
    reply = sse_reply(responses_events("x", completed=False), stall=True)
    err = await _fails(mock, http, reply, stream_idle_timeout_ms=150)
    assert str(err) == "idle timeout waiting for SSE"
    assert err.retryable


async def test_invalid_json_is_a_retryable_error(mock: ScriptedModel, http: ProviderTransport) -> None:
    chunks = [sse_event({"type": "response.created"}), b"event: response.output_text.delta\ndata: {oops\n\n"]
    err = await _fails(mock, http, Reply(chunks=chunks))
    assert err.retryable and "invalid JSON in SSE event: {oops" in str(err)


def _failed(error: dict[str, object]) -> Reply:
    return sse_reply(
        [{"type": "response.created"}, {"type": "response.failed", "response": {"error": error}}]
    )


@pytest.mark.parametrize(
    ("error", "kind", "retryable", "delay"),
    [
        ({"code": "context_length_exceeded", "message": "too long"}, "context_window_exceeded", False, None),
        ({"code": "insufficient_quota", "message": "pay"}, "quota_exceeded", False, None),
        ({"code": "usage_not_included", "message": "no"}, "usage_limit_exceeded", False, None),
        (
            {"code": "rate_limit_exceeded", "message": "Rate limit reached. Please try again in 1.5s."},
            "response_stream_failed",
            True,
            1.5,
        ),
        (
            {"code": "rate_limit_exceeded", "message": "Please try again in 250ms"},
            "response_stream_failed",
            True,
            0.25,
        ),
        ({"code": "server_error", "message": "try again in 3s"}, "response_stream_failed", True, None),
        ({}, "response_stream_failed", True, None),
    ],
)
async def test_response_failed_classes(
    mock: ScriptedModel,
    http: ProviderTransport,
    error: dict[str, object],
    kind: str,
    retryable: bool,
    delay: float | None,
) -> None:
    err = await _fails(mock, http, _failed(error))
    assert err.kind == kind
    assert err.retryable is retryable
    assert err.retry_after == delay
    if kind == "response_stream_failed" and error.get("message"):
        assert str(error["message"]) in str(err)


async def test_consumer_can_stop_early(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(sse_reply(responses_events("abcdef")), sse_reply(responses_events("second")))
    client = make_client(mock.base_url, http=http)
    agen = client.stream(simple_prompt(), model="m", thread_id="t", turn_id="u", on_retry=RetryLog())
    first = await agen.__anext__()
    assert first == Created()
    await agen.aclose()
    # The connection was released: the client still works.
    got = await collect(client)
    assert got[-1].response_id == "resp_1"


async def test_truncated_chunked_body_is_a_retryable_stream_error(
    mock: ScriptedModel, http: ProviderTransport
) -> None:
    first = sse_event({"type": "response.created", "response": {"id": "r"}})
    raw = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        + f"{len(first):x}\r\n".encode()
        + first
        + b"\r\n400\r\npartial"
    )
    mock.script(Reply(raw=raw))
    got: list[object] = []
    with pytest.raises(ModelError) as info:
        async for ev in make_client(mock.base_url, http=http).stream(
            simple_prompt(), model="m", thread_id="t", turn_id="u", on_retry=RetryLog()
        ):
            got.append(ev)
    assert got == [Created()]
    assert info.value.retryable and str(info.value).startswith("stream error: ")


async def test_done_marker_is_ignored(mock: ScriptedModel, http: ProviderTransport) -> None:
    chunks = [sse_event(e) for e in responses_events("ok")] + [b"data: [DONE]\n\n"]
    mock.script(Reply(chunks=chunks))
    got = await collect(make_client(mock.base_url, http=http))
    assert isinstance(got[-1], Completed)
