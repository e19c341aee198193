"""Building blocks of scripted model replies, and driving the model client against them.

`Reply` is an HTTP-level answer (status, headers, a body or SSE chunks written one at a time,
a stall, a dropped connection, raw bytes); the helpers build the usual ones (a Responses
stream, a Chat chunk, a JSON error).  `ScriptedModel.script()` plays them.  `make_client`,
`simple_prompt` and `collect` drive a real `ModelClient` for the model-client tests.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 3},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 2},
    "total_tokens": 15,
}


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: list[bytes] | None = None  # streamed with a flush after each; no content-length
    stall: bool = False  # after the chunks, keep the connection open until the server stops
    drop: bool = False  # close the socket without any answer
    raw: bytes | None = None  # written verbatim (status line included), then the socket closes


def sse_event(ev: dict[str, Any], *, with_event_line: bool = True) -> bytes:
    data = json.dumps(ev)
    head = f"event: {ev['type']}\n" if with_event_line else ""
    return f"{head}data: {data}\n\n".encode()


def sse_reply(events: list[dict[str, Any]], **kw: Any) -> Reply:
    return Reply(headers={"content-type": "text/event-stream"}, chunks=[sse_event(e) for e in events], **kw)


def responses_events(
    text: str = "Hello", *, rid: str = "resp_1", usage: Any = None, completed: bool = True
) -> list[dict[str, Any]]:
    evs: list[dict[str, Any]] = [{"type": "response.created", "response": {"id": rid}}]
    half = len(text) // 2
    for piece in (text[:half], text[half:]):
        if piece:
            evs.append({"type": "response.output_text.delta", "delta": piece, "item_id": "m1"})
    evs.append(
        {
            "type": "response.output_item.done",
            "item": {
                "type": "message",
                "role": "assistant",
                "id": "m1",
                "content": [{"type": "output_text", "text": text}],
            },
        }
    )
    if completed:
        evs.append({"type": "response.completed", "response": {"id": rid, "usage": usage or USAGE}})
    return evs


def chat_chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    obj: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    obj.update(extra)
    return f"data: {json.dumps(obj)}\n\n".encode()


def json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        headers={"content-type": "application/json", **(headers or {})},
        body=json.dumps(obj).encode(),
    )


def error_reply(
    status: int,
    message: str = "mock failure",
    etype: str = "server_error",
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Reply:
    return json_reply(status, {"error": {"message": message, "type": etype, **extra}}, headers)


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port with nothing listening on it: held bound (never listening) while in
    use, so that no other process, such as a parallel test, can start listening there."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])
    finally:
        s.close()


# --- helpers for driving the client ---------------------------------------------------


class RetryLog:
    """An `on_retry` callback that records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int, float]] = []

    async def __call__(self, message: str, attempt: int, max_retries: int, delay: float) -> None:
        self.calls.append((message, attempt, max_retries, delay))


def make_client(base_url: str, *, http: Any, auth: Any = None, env: Any = None, **provider_kw: Any) -> Any:
    from codex_mcp.agent.model import Auth, ModelClient
    from codex_mcp.agent.model.provider import ModelProviderInfo

    provider_kw.setdefault("wire_api", "responses")
    provider = ModelProviderInfo(
        id=provider_kw.pop("id", "mock"), name="Mock", base_url=base_url, **provider_kw
    )
    return ModelClient(
        provider,
        http=http,
        auth=auth if auth is not None else Auth("api_key", "test-key"),
        originator="codex_mcp_test",
        version="9.9.9",
        env=env if env is not None else {},
        backoff_fn=lambda attempt: 0.001 * attempt,
    )


def simple_prompt(text: str = "hi") -> Any:
    from codex_mcp.agent.model.types import Prompt

    return Prompt(
        instructions="be brief",
        input=[{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}],
    )


async def collect(client: Any, prompt: Any = None, on_retry: Any = None) -> list[Any]:
    out: list[Any] = []
    async for ev in client.stream(
        prompt if prompt is not None else simple_prompt(),
        model="mock-model",
        thread_id="thread-1",
        turn_id="turn-1",
        on_retry=on_retry if on_retry is not None else RetryLog(),
    ):
        out.append(ev)
    return out
