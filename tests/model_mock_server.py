"""A scripted HTTP server on 127.0.0.1 for the model-client tests (stdlib only, threaded).

Each incoming request pops the next `Reply` scripted for its path (or for any path) and
is recorded.  A reply can send a status + body, stream SSE chunks one write at a time,
stall (to exercise idle timeouts), or drop the connection without answering.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None


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


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog (5) resets bursts of connections


class MockServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Reply]] = {}
        self.default = Reply(status=599, body=b"no scripted reply")
        self.requests: list[Recorded] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                rec = Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                reply = server._take(rec)
                with suppress(OSError):
                    server._answer(self, reply)

            do_GET = do_POST

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, *replies: Reply, path: str = "*") -> None:
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)

    def requests_to(self, suffix: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0].endswith(suffix)]

    def _take(self, rec: Recorded) -> Reply:
        with self._lock:
            self.requests.append(rec)
            path = rec.path.split("?")[0]
            for key in (path, "*"):
                queue = self._scripts.get(key)
                if queue:
                    return queue.pop(0)
            return self.default

    def _answer(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.raw is not None:
            h.close_connection = True
            h.wfile.write(reply.raw)
            h.wfile.flush()
            return
        if reply.drop:
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.send_response(reply.status)
        for k, v in reply.headers.items():
            h.send_header(k, v)
        if reply.chunks is None:
            h.send_header("content-length", str(len(reply.body)))
            h.end_headers()
            h.wfile.write(reply.body)
            h.wfile.flush()
            return
        h.send_header("connection", "close")
        h.end_headers()
        h.close_connection = True
        for chunk in reply.chunks:
            h.wfile.write(chunk)
            h.wfile.flush()
        if reply.stall:
            self._stop.wait(30)

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def serve_mock() -> Iterator[MockServer]:
    server = MockServer()
    try:
        yield server
    finally:
        server.stop()


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


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
