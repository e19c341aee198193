from __future__ import annotations

import json

import pytest

from codex_mcp.agent.model.chat import build_chat_body, history_to_messages, tools_to_chat
from codex_mcp.agent.model.transport import ProviderTransport
from codex_mcp.agent.model.types import (
    Completed,
    ModelError,
    OutputItemDone,
    OutputTextDelta,
    Prompt,
    ReasoningContentDelta,
    TokenUsage,
)
from tests.support.model_wire import (
    Reply,
    RetryLog,
    chat_chunk,
    collect,
    error_reply,
    make_client,
)
from tests.support.scripted_model import ScriptedModel

pytestmark = pytest.mark.anyio


def _msg(role: str, text: str, part: str = "input_text") -> dict[str, object]:
    return {"type": "message", "role": role, "content": [{"type": part, "text": text}]}


HISTORY: list[dict[str, object]] = [
    _msg("developer", "dev rules"),
    _msg("user", "do it"),
    {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "hmm"}]},
    _msg("assistant", "sure", "output_text"),
    {"type": "function_call", "name": "shell", "arguments": '{"command":["ls"]}', "call_id": "c1"},
    {"type": "reasoning", "id": "rs2", "summary": []},
    {"type": "custom_tool_call", "name": "apply_patch", "input": "*** Begin Patch", "call_id": "c2"},
    {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
    {"type": "custom_tool_call_output", "call_id": "c2", "output": "Done!"},
    {"type": "function_call", "name": "update_plan", "arguments": "{}", "call_id": "c3"},
    {"type": "function_call_output", "call_id": "c3", "output": [{"type": "input_text", "text": "ok"}]},
    {"type": "web_search_call", "id": "ws"},
    _msg("assistant", "all done", "output_text"),
]


def test_history_mapping() -> None:
    msgs = history_to_messages("SYS", HISTORY)
    assert msgs == [
        {"role": "system", "content": "SYS"},
        {"role": "system", "content": "dev rules"},
        {"role": "user", "content": "do it"},
        {"role": "assistant", "content": "sure"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "shell", "arguments": '{"command":["ls"]}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {
                        "name": "apply_patch",
                        "arguments": json.dumps({"input": "*** Begin Patch"}),
                    },
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
        {"role": "tool", "tool_call_id": "c2", "content": "Done!"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c3", "type": "function", "function": {"name": "update_plan", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c3", "content": "ok"},
        {"role": "assistant", "content": "all done"},
    ]


def test_images_become_content_parts() -> None:
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "data:x"}],
    }
    assert history_to_messages("s", [item])[1]["content"] == [
        {"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": "data:x"}},
    ]


def test_tools_only_functions_rewritten() -> None:
    tools = [
        {
            "type": "function",
            "name": "shell",
            "description": "run",
            "strict": False,
            "parameters": {"type": "object"},
        },
        {"type": "function", "name": "apply_patch", "description": "patch", "parameters": {"type": "object"}},
        {"type": "custom", "name": "freeform", "format": {}},
        {"type": "local_shell"},
        {"type": "web_search"},
    ]
    assert tools_to_chat(tools) == [
        {
            "type": "function",
            "function": {
                "name": "shell",
                "description": "run",
                "strict": False,
                "parameters": {"type": "object"},
            },
        },
        {
            "type": "function",
            "function": {"name": "apply_patch", "description": "patch", "parameters": {"type": "object"}},
        },
    ]


def test_body_shape() -> None:
    body = build_chat_body(Prompt(instructions="S", input=[_msg("user", "q")]), "llama")
    assert body == {
        "model": "llama",
        "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def _stream(*chunks: bytes) -> Reply:
    return Reply(headers={"content-type": "text/event-stream"}, chunks=list(chunks))


USAGE_CHUNK = chat_chunk(
    None,
    usage={
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 1},
    },
)


async def test_text_stream(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(
        _stream(
            chat_chunk({"role": "assistant", "content": ""}),
            chat_chunk({"reasoning": "think"}),
            chat_chunk({"reasoning_content": {"text": "ing"}}),
            chat_chunk({"content": "Hel"}),
            chat_chunk({"content": "lo"}),
            chat_chunk({}, "stop"),
            USAGE_CHUNK,
            b"data: [DONE]\n\n",
        )
    )
    client = make_client(mock.base_url, http=http, wire_api="chat")
    got = await collect(client)
    assert got == [
        ReasoningContentDelta("think"),
        ReasoningContentDelta("ing"),
        OutputTextDelta("Hel"),
        OutputTextDelta("lo"),
        OutputItemDone(
            {
                "type": "reasoning",
                "id": "",
                "summary": [],
                "content": [{"type": "reasoning_text", "text": "thinking"}],
            }
        ),
        OutputItemDone(
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello"}]}
        ),
        Completed("", TokenUsage(10, 4, 5, 1, 15)),
    ]
    [req] = mock.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["accept"] == "text/event-stream"
    assert req.headers["authorization"] == "Bearer test-key"
    assert req.json["stream_options"] == {"include_usage": True}


async def test_parallel_tool_calls_by_index(mock: ScriptedModel, http: ProviderTransport) -> None:
    def tc(index: int, **fields: object) -> dict[str, object]:
        return {"tool_calls": [{"index": index, **fields}]}

    mock.script(
        _stream(
            chat_chunk({"role": "assistant", "content": "Running"}),
            chat_chunk(tc(0, id="call_a", type="function", function={"name": "shell", "arguments": ""})),
            chat_chunk(
                tc(1, id="call_b", type="function", function={"name": "update_plan", "arguments": '{"pl'})
            ),
            chat_chunk(tc(0, function={"arguments": '{"command":'})),
            chat_chunk(tc(0, id="ignored", function={"name": "ignored", "arguments": '["ls"]}'})),
            chat_chunk(tc(1, function={"arguments": 'an":[]}'})),
            chat_chunk({}, "tool_calls"),
            USAGE_CHUNK,
            b"data: [DONE]\n\n",
        )
    )
    got = await collect(make_client(mock.base_url, http=http, wire_api="chat"))
    items = [e.item for e in got if isinstance(e, OutputItemDone)]
    assert items == [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running"}]},
        {"type": "function_call", "name": "shell", "arguments": '{"command":["ls"]}', "call_id": "call_a"},
        {"type": "function_call", "name": "update_plan", "arguments": '{"plan":[]}', "call_id": "call_b"},
    ]
    assert isinstance(got[-1], Completed) and got[-1].usage is not None


async def test_done_without_finish_reason_flushes(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(_stream(chat_chunk({"content": "x"}), b"data: [DONE]\n\n"))
    got = await collect(make_client(mock.base_url, http=http, wire_api="chat"))
    assert got[-2] == OutputItemDone(
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "x"}]}
    )
    assert got[-1] == Completed("", None)


async def test_cut_chat_stream_is_retryable(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(_stream(chat_chunk({"content": "part"})))
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http, wire_api="chat"))
    assert info.value.retryable and info.value.kind == "response_stream_failed"


async def test_error_chunk_and_invalid_json(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(
        _stream(b'data: {"error": {"message": "overloaded", "code": "server_error"}}\n\n'),
        _stream(b"data: {not json\n\n"),
        _stream(b'data: {"error": {"message": "too long", "code": "context_length_exceeded"}}\n\n'),
    )
    client = make_client(mock.base_url, http=http, wire_api="chat")
    with pytest.raises(ModelError, match="overloaded") as info:
        await collect(client)
    assert info.value.retryable
    with pytest.raises(ModelError, match="invalid JSON") as info:
        await collect(client)
    assert info.value.retryable
    with pytest.raises(ModelError) as info:
        await collect(client)
    assert info.value.kind == "context_window_exceeded" and not info.value.retryable


async def test_chat_retries_429_and_5xx(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(
        error_reply(429, "slow down", "rate_limit_error", headers={"Retry-After": "0"}),
        error_reply(503, "unavailable"),
        _stream(chat_chunk({"content": "ok"}, "stop"), b"data: [DONE]\n\n"),
    )
    log = RetryLog()
    got = await collect(make_client(mock.base_url, http=http, wire_api="chat"), on_retry=log)
    assert [c[1] for c in log.calls] == [1, 2]
    assert log.calls[0][3] == 0.0
    assert got[0] == OutputTextDelta("ok")
    assert len(mock.requests_to("/chat/completions")) == 3


def test_the_parts_of_a_context_message_stay_paragraphs_apart() -> None:
    context = {
        "type": "message",
        "id": "msg_1",
        "role": "user",
        "content": [
            {"type": "input_text", "text": "# AGENTS.md instructions"},
            {"type": "input_text", "text": "<environment_context>"},
        ],
    }
    answer = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "one "}, {"type": "output_text", "text": "answer"}],
    }
    messages = history_to_messages("s", [context, answer])
    assert messages[1] == {"role": "user", "content": "# AGENTS.md instructions\n\n<environment_context>"}
    assert messages[2]["content"] == "one answer"
