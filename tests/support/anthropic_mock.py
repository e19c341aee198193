"""A scripted Anthropic Messages API on 127.0.0.1, to drive Claude Code offline.

Claude Code talks to whatever `ANTHROPIC_BASE_URL` names, so a client-matrix test points it
here.  `POST /v1/messages` is answered from a queue of scripted steps, streamed as the real
API streams (`message_start`, `content_block_start`/`_delta`/`_stop` with `text_delta` and
`input_json_delta`, `message_delta` with the stop reason, `message_stop`), or as one JSON
message when the request did not ask for a stream.

Only the requests of the conversation itself (those that offer the model the MCP tools under
test) take steps off the queue; Claude Code also makes side requests of its own (titles,
summaries, quota probes), which get a short fixed answer and are recorded apart, so the
script does not depend on how many of them a given Claude Code version makes.

A step is a fixed reply or a function of the request it answers: that is how a test makes
the "model" use what it was actually shown, e.g. a `threadId` taken out of the tool result
Claude Code sent back, which proves the result was visible to the model.

Nothing here sleeps to synchronise; every wait is on a condition and bounded.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_WAIT = 30.0
_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):08d}"


@dataclass
class ToolResult:
    """A `tool_result` block Claude Code sent back to the model."""

    tool_use_id: str
    text: str
    """The text the model was shown (text blocks joined; a plain string as it is)."""
    is_error: bool


@dataclass
class MessagesRequest:
    """One `POST /v1/messages` as received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def streamed(self) -> bool:
        return bool(self.body.get("stream"))

    def tool_names(self) -> list[str]:
        return [str(t.get("name")) for t in self.body.get("tools") or [] if isinstance(t, dict)]

    def tool(self, name: str) -> dict[str, Any] | None:
        for tool in self.body.get("tools") or []:
            if isinstance(tool, dict) and tool.get("name") == name:
                return tool
        return None

    def messages(self) -> list[dict[str, Any]]:
        value = self.body.get("messages")
        return [m for m in value if isinstance(m, dict)] if isinstance(value, list) else []

    def tool_results(self) -> list[ToolResult]:
        """Every tool result in the conversation so far, oldest first."""
        out: list[ToolResult] = []
        for message in self.messages():
            content = message.get("content")
            if message.get("role") != "user" or not isinstance(content, list):
                continue
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    out.append(
                        ToolResult(
                            str(block.get("tool_use_id")),
                            _block_text(block.get("content")),
                            bool(block.get("is_error")),
                        )
                    )
        return out

    def result_for(self, tool_use_id: str) -> ToolResult | None:
        return next((r for r in self.tool_results() if r.tool_use_id == tool_use_id), None)

    def user_texts(self) -> list[str]:
        out: list[str] = []
        for message in self.messages():
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.extend(
                    str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
                )
        return out


def _block_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


@dataclass
class Reply:
    """What the model answers: some text, then at most a few tool calls."""

    text: str = ""
    tool_uses: list[dict[str, Any]] = field(default_factory=list)
    """`{"id", "name", "input"}` each; `stop_reason` becomes `tool_use` when there are any."""


Step = Reply | Callable[[MessagesRequest], Reply]


def tool_use(name: str, arguments: dict[str, Any], tool_use_id: str | None = None) -> dict[str, Any]:
    return {"id": tool_use_id or _new_id("toolu"), "name": name, "input": arguments}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client dropping a kept-alive connection is not a failure of the test


class AnthropicMock:
    """The scripted API.  A request offering a tool whose name starts with
    `conversation_tool_prefix` belongs to the conversation and takes the next step; any
    other request is a side request."""

    def __init__(self, conversation_tool_prefix: str = "mcp__") -> None:
        self.prefix = conversation_tool_prefix
        self._steps: deque[Step] = deque()
        self._cond = threading.Condition()
        self.requests: list[MessagesRequest] = []
        """The conversation's requests, in arrival order."""
        self.side_requests: list[MessagesRequest] = []
        self.other_paths: list[str] = []
        """Requests to anything but `/v1/messages` (answered 404, kept to show what was tried)."""
        self.unscripted = 0
        self.failures: list[str] = []
        """Exceptions raised by a step function (answered with a 500)."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> AnthropicMock:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                mock._handle(self)

            def do_GET(self) -> None:
                mock._not_found(self)

            def do_HEAD(self) -> None:
                mock._not_found(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> AnthropicMock:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting ---------------------------------------------------------------------

    def add(self, step: Step) -> None:
        with self._cond:
            self._steps.append(step)

    def text(self, text: str) -> None:
        self.add(Reply(text=text))

    def call(self, name: str, arguments: dict[str, Any], text: str = "") -> str:
        """The model calls one tool; returns the `tool_use` id."""
        use = tool_use(name, arguments)
        self.add(Reply(text=text, tool_uses=[use]))
        return str(use["id"])

    def relay(self, tool_use_id: str, prefix: str = "") -> None:
        """A text answer that quotes the tool result the model was shown for `tool_use_id`."""

        def step(request: MessagesRequest) -> Reply:
            result = request.result_for(tool_use_id)
            if result is None:
                raise AssertionError(f"the request carries no result for {tool_use_id}")
            return Reply(text=prefix + result.text)

        self.add(step)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._steps)

    def wait_requests(self, n: int, timeout: float = DEFAULT_WAIT) -> list[MessagesRequest]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(
                    f"{len(self.requests)} of {n} conversation requests arrived in {timeout} s"
                )
            return list(self.requests)

    # -- serving -----------------------------------------------------------------------

    def _not_found(self, h: BaseHTTPRequestHandler) -> None:
        with self._cond:
            self.other_paths.append(f"{h.command} {h.path}")
        self._json(h, 404, {"type": "error", "error": {"type": "not_found_error", "message": "not here"}})

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        path = h.path.split("?")[0]
        if path == "/v1/messages/count_tokens":
            self._json(h, 200, {"input_tokens": 100})
            return
        if path != "/v1/messages":
            with self._cond:
                self.other_paths.append(f"POST {h.path}")
            self._json(h, 404, {"type": "error", "error": {"type": "not_found_error", "message": "not here"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(
                h, 400, {"type": "error", "error": {"type": "invalid_request_error", "message": "bad JSON"}}
            )
            return
        request = MessagesRequest(path, {k.lower(): v for k, v in h.headers.items()}, body)
        conversation = any(name.startswith(self.prefix) for name in request.tool_names())
        step: Step | None = None
        with self._cond:
            if conversation:
                self.requests.append(request)
                step = self._steps.popleft() if self._steps else None
                if step is None:
                    self.unscripted += 1
            else:
                self.side_requests.append(request)
            self._cond.notify_all()
        if not conversation:
            reply = Reply(text="ok")
        elif step is None:
            self._json(
                h, 500, {"type": "error", "error": {"type": "api_error", "message": "no scripted step left"}}
            )
            return
        elif isinstance(step, Reply):
            reply = step
        else:
            try:
                reply = step(request)
            except Exception as exc:  # shown by the test; the client sees a server error
                with self._cond:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                self._json(h, 500, {"type": "error", "error": {"type": "api_error", "message": str(exc)}})
                return
        model = str(body.get("model") or "claude-mock")
        if request.streamed:
            self._stream(h, model, reply)
        else:
            self._json(h, 200, _message(model, reply))

    @staticmethod
    def _json(h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.send_header("request-id", _new_id("req"))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def _stream(h: BaseHTTPRequestHandler, model: str, reply: Reply) -> None:
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Cache-Control", "no-cache")
            h.send_header("request-id", _new_id("req"))
            h.send_header("Connection", "close")
            h.end_headers()
            for frame in stream_frames(model, reply):
                h.wfile.write(frame)
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True


def _usage(output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": 100,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.tool_uses else "end_turn"


def _message(model: str, reply: Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    content.extend({"type": "tool_use", **use} for use in reply.tool_uses)
    return {
        "id": _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": _usage(10),
    }


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def stream_frames(model: str, reply: Reply) -> list[bytes]:
    """The server-sent events of one streamed message, text and tool inputs in pieces."""
    start = _message(model, Reply())
    start["stop_reason"] = None
    start["usage"] = _usage(1)
    frames = [_sse("message_start", {"message": start}), _sse("ping", {})]
    index = 0
    if reply.text:
        frames.append(
            _sse("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
        )
        for piece in _split(reply.text, 3):
            frames.append(
                _sse("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}})
            )
        frames.append(_sse("content_block_stop", {"index": index}))
        index += 1
    for use in reply.tool_uses:
        block = {"type": "tool_use", "id": use["id"], "name": use["name"], "input": {}}
        frames.append(_sse("content_block_start", {"index": index, "content_block": block}))
        for piece in _split(json.dumps(use["input"]), 4):
            delta = {"type": "input_json_delta", "partial_json": piece}
            frames.append(_sse("content_block_delta", {"index": index, "delta": delta}))
        frames.append(_sse("content_block_stop", {"index": index}))
        index += 1
    frames.append(
        _sse(
            "message_delta",
            {
                "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                "usage": {"output_tokens": 10},
            },
        )
    )
    frames.append(_sse("message_stop", {}))
    return frames


def _split(text: str, n: int) -> list[str]:
    n = max(1, min(n, len(text)))
    size = -(-len(text) // n)
    return [text[i : i + size] for i in range(0, len(text), size)]
