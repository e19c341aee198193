"""The model client's bounds on what a provider sends, through a real HTTP server on loopback.

Every refusal is a final `ModelError` (not retried: the same provider would send the same
thing again) whose message names the limit; legitimate large content still passes.
"""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from codex_mcp.agent.limits import MAX_REQUEST_BYTES, MiB
from codex_mcp.agent.model.client import encode_request
from codex_mcp.agent.model.transport import ProviderTransport
from codex_mcp.agent.model.types import ModelError, OutputItemDone, OutputTextDelta
from tests.support.model_wire import (
    Reply,
    RetryLog,
    chat_chunk,
    collect,
    make_client,
    responses_events,
    simple_prompt,
    sse_event,
)
from tests.support.scripted_model import ScriptedModel

pytestmark = pytest.mark.anyio

SSE = {"content-type": "text/event-stream"}


def stream(*chunks: bytes, headers: dict[str, str] | None = None) -> Reply:
    return Reply(headers={**SSE, **(headers or {})}, chunks=list(chunks))


async def refused(mock: ScriptedModel, http: ProviderTransport, wire: str = "responses") -> ModelError:
    log = RetryLog()
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http, wire_api=wire), on_retry=log)
    assert not info.value.retryable and log.calls == []
    return info.value


async def test_identity_is_asked_for_and_gzip_is_still_understood(
    mock: ScriptedModel, http: ProviderTransport
) -> None:
    body = b"".join(sse_event(e) for e in responses_events("zipped"))
    mock.script(Reply(headers={**SSE, "content-encoding": "gzip"}, chunks=[gzip.compress(body)]))
    got = await collect(make_client(mock.base_url, http=http))
    assert "".join(e.delta for e in got if isinstance(e, OutputTextDelta)) == "zipped"
    assert mock.requests[-1].headers["accept-encoding"] == "identity"


async def test_a_legitimately_large_delta_passes(mock: ScriptedModel, http: ProviderTransport) -> None:
    text = "L" * (6 * MiB)
    events = [{"type": "response.output_text.delta", "delta": text}, *responses_events("x")[-1:]]
    mock.script(stream(*[sse_event(e) for e in events]))
    got = await collect(make_client(mock.base_url, http=http))
    assert [len(e.delta) for e in got if isinstance(e, OutputTextDelta)] == [len(text)]


async def test_an_event_over_the_cap(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(stream(b'data: {"type": "response.output_text.delta", "delta": "' + b"x" * (9 * MiB)))
    err = await refused(mock, http)
    assert "SSE line larger than 8 MiB" in str(err)


async def test_a_gzip_bomb_stops_at_the_cap(mock: ScriptedModel, http: ProviderTransport) -> None:
    packer = zlib_gzip()
    bomb = (
        packer.compress(b"data: ") + b"".join(packer.compress(b"y" * MiB) for _ in range(64)) + packer.flush()
    )
    mock.script(stream(bomb, headers={"content-encoding": "gzip"}))
    err = await refused(mock, http)
    assert "SSE line larger than 8 MiB" in str(err)


async def test_an_error_body_bomb_is_read_bounded(mock: ScriptedModel, http: ProviderTransport) -> None:
    packer = zlib_gzip()
    bomb = b"".join(packer.compress(b"e" * MiB) for _ in range(64)) + packer.flush()
    mock.script(Reply(status=418, headers={"content-encoding": "gzip"}, body=bomb))
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http))
    assert len(str(info.value)) < 2000 and "418" in str(info.value)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("[" * 100_000 + "]" * 100_000, "an SSE event nested more than 100 levels deep"),
        ('{"a":' * 5000 + "1" + "}" * 5000, "an SSE event nested more than 100 levels deep"),
        ('{"type": "x", "p": [' + "[]," * 150_000 + "[]]}", "with more than 100000 opening brackets"),
    ],
)
async def test_hostile_event_json(
    data: str, fragment: str, mock: ScriptedModel, http: ProviderTransport
) -> None:
    mock.script(stream(f"data: {data}\n\n".encode()))
    assert fragment in str(await refused(mock, http))


async def test_a_deep_output_item(mock: ScriptedModel, http: ProviderTransport) -> None:
    item = {"type": "message", "role": "assistant", "content": [], "x": json.loads("[" * 200 + "]" * 200)}
    mock.script(stream(sse_event({"type": "response.output_item.done", "item": item})))
    assert "output item nested more than 100 levels deep" in str(await refused(mock, http))


async def test_output_items_over_the_response_budget(mock: ScriptedModel, http: ProviderTransport) -> None:
    item = {"type": "reasoning", "id": "r", "summary": [], "encrypted_content": "z" * (7 * MiB)}
    mock.script(stream(*[sse_event({"type": "response.output_item.done", "item": item})] * 5))
    assert "more than 32 MiB of output items" in str(await refused(mock, http))


async def test_output_item_brackets_over_the_response_budget(
    mock: ScriptedModel, http: ProviderTransport
) -> None:
    item = {"type": "function_call", "name": "f", "call_id": "c", "arguments": "[" * 40_000}
    mock.script(stream(*[sse_event({"type": "response.output_item.done", "item": item})] * 3))
    assert "more than 100000 opening brackets in them" in str(await refused(mock, http))


async def test_chat_accumulation_over_the_response_budget(
    mock: ScriptedModel, http: ProviderTransport
) -> None:
    piece = chat_chunk({"content": "c" * MiB})
    mock.script(stream(*[piece] * 40))
    assert "more than 32 MiB of output items" in str(await refused(mock, http, "chat"))


async def test_chat_tool_deltas_without_index_are_matched_by_id(
    mock: ScriptedModel, http: ProviderTransport
) -> None:
    chunks = [
        chat_chunk({"tool_calls": [{"id": f"c{i}", "function": {"name": "f", "arguments": ""}}]})
        for i in range(3000)
    ]
    chunks += [chat_chunk({"tool_calls": [{"id": "c7", "function": {"arguments": "{}"}}]})]
    chunks += [chat_chunk({}, "tool_calls"), b"data: [DONE]\n\n"]
    mock.script(stream(*chunks))
    got = await collect(make_client(mock.base_url, http=http, wire_api="chat"))
    calls = [e.item for e in got if isinstance(e, OutputItemDone)]
    assert len(calls) == 3000
    assert calls[7] == {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c7"}


async def test_long_provider_error_messages_are_cut(mock: ScriptedModel, http: ProviderTransport) -> None:
    failed = {
        "type": "response.failed",
        "response": {"error": {"code": "c" * 5000, "message": "m" * 100_000}},
    }
    mock.script(stream(sse_event(failed)))
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http, stream_max_retries=0))
    assert len(str(info.value)) < 2300


async def test_chat_error_chunk_that_is_a_deep_list(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(stream(('data: {"error": ' + "[" * 900 + "]" * 900 + "}\n\n").encode()))
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http, wire_api="chat"))
    assert "levels deep" in str(info.value) or "a list" in str(info.value)


async def test_a_request_over_the_cap_is_never_sent(mock: ScriptedModel, http: ProviderTransport) -> None:
    prompt = simple_prompt("p" * (MAX_REQUEST_BYTES + 1))
    with pytest.raises(ModelError, match="one request may carry; start a new thread"):
        await collect(make_client(mock.base_url, http=http), prompt)
    assert mock.requests == []


def test_encode_request_refuses_what_json_cannot_carry() -> None:
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ModelError, match="could not be encoded"):
        encode_request({"input": deep})
    assert encode_request({"a": "é"}) == b'{"a": "\\u00e9"}'


def zlib_gzip() -> zlib._Compress:
    return zlib.compressobj(9, zlib.DEFLATED, 31)


async def test_a_deep_error_body_is_just_text(mock: ScriptedModel, http: ProviderTransport) -> None:
    mock.script(Reply(status=418, body=b"[" * 30_000 + b"]" * 30_000))
    with pytest.raises(ModelError) as info:
        await collect(make_client(mock.base_url, http=http))
    assert "418" in str(info.value)


async def test_token_refresh_answer_is_read_bounded(mock: ScriptedModel, http: ProviderTransport) -> None:
    from codex_mcp.agent.model.auth import Auth

    packer = zlib_gzip()
    bomb = b"".join(packer.compress(b"{" * MiB) for _ in range(64)) + packer.flush()
    mock.script(Reply(status=200, headers={"content-encoding": "gzip"}, body=bomb), path="/oauth/token")
    auth = Auth("chatgpt", "old", refresh_token="r1", refresh_url=mock.url("/oauth/token"))
    with pytest.raises(ModelError, match="no access_token"):
        await auth.refresh(http)
