"""A mock Responses-API model on 127.0.0.1 for the end-to-end benchmarks (stdlib only).

`POST /v1/responses` is answered as SSE.  What it answers is chosen by a marker in the
prompt, so concurrent sessions of different kinds can share one mock:

* ``[bench:instant]``        -- a short text answer, at once;
* ``[bench:delay=0.2]``      -- the same text answer after 0.2 s;
* ``[bench:stream=10000]``   -- a text answer streamed as 10,000 deltas;
* ``[bench:shell=KEY]``      -- a shell tool call running ``SHELL_COMMANDS[KEY]``, then (on
  the request that carries its output) a text answer.

The shell call uses ``shell`` with ``{"command": ["bash", "-lc", CMD]}`` when the request
offers it; otherwise ``exec_command`` with ``{"cmd": CMD}`` (what the reference 0.147 offers).
Any other request gets a 404 (GET) or a plain text answer (POST).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SHELL_COMMANDS: dict[str, str] = {
    "echo": "echo bench",
    "big": "head -c 200000000 /dev/zero | tr '\\0' 'a'",
}
ANSWER = "bench answer"
CALL_PREFIX = "call_bench_"
_MARKER = re.compile(r"\[bench:(\w+)(?:=([\w.]+))?\]")
_USAGE = {
    "input_tokens": 10,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 5,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 15,
}


def sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _created(rid: str) -> bytes:
    return sse({"type": "response.created", "response": {"id": rid}})


def _completed(rid: str) -> bytes:
    return sse({"type": "response.completed", "response": {"id": rid, "usage": _USAGE}})


def text_answer(rid: str, text: str = ANSWER) -> bytes:
    item = {
        "type": "message",
        "role": "assistant",
        "id": f"msg_{rid}",
        "content": [{"type": "output_text", "text": text}],
    }
    return b"".join(
        [
            _created(rid),
            sse(
                {
                    "type": "response.output_text.delta",
                    "item_id": item["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": text,
                }
            ),
            sse({"type": "response.output_item.done", "output_index": 0, "item": item}),
            _completed(rid),
        ]
    )


def stream_answer(rid: str, n_deltas: int) -> list[bytes]:
    """`n_deltas` text deltas, then the item and completion, in ~16 KiB chunks."""
    mid = f"msg_{rid}"
    head = f'event: response.output_text.delta\ndata: {{"type":"response.output_text.delta","item_id":"{mid}"'
    parts = [_created(rid)]
    parts += [
        f'{head},"output_index":0,"content_index":0,"delta":"t{i} "}}\n\n'.encode() for i in range(n_deltas)
    ]
    item = {
        "type": "message",
        "role": "assistant",
        "id": mid,
        "content": [{"type": "output_text", "text": "".join(f"t{i} " for i in range(n_deltas))}],
    }
    parts.append(sse({"type": "response.output_item.done", "output_index": 0, "item": item}))
    parts.append(_completed(rid))
    raw = b"".join(parts)
    return [raw[i : i + 16384] for i in range(0, len(raw), 16384)]


def shell_call(rid: str, call_id: str, command: str, tools: set[str]) -> bytes:
    args: dict[str, Any]
    if "shell" in tools or "exec_command" not in tools:
        name, args = "shell", {"command": ["bash", "-lc", command]}
    else:
        name, args = "exec_command", {"cmd": command}
    item = {
        "type": "function_call",
        "id": f"fc_{rid}",
        "name": name,
        "arguments": json.dumps(args),
        "call_id": call_id,
    }
    return b"".join(
        [
            _created(rid),
            sse({"type": "response.output_item.done", "output_index": 0, "item": item}),
            _completed(rid),
        ]
    )


def _tool_names(body: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for tool in body.get("tools") or []:
        if isinstance(tool, dict):
            name = tool.get("name") or (tool.get("function") or {}).get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def _has_tool_output(items: list[Any]) -> bool:
    return any(
        isinstance(it, dict)
        and it.get("type") in ("function_call_output", "custom_tool_call_output")
        and str(it.get("call_id", "")).startswith(CALL_PREFIX)
        for it in items
    )


def _user_text(items: list[Any]) -> str:
    texts: list[str] = []
    for it in items:
        if isinstance(it, dict) and it.get("role") == "user":
            content = it.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts += [p.get("text", "") for p in content if isinstance(p, dict)]
    return "\n".join(t for t in texts if isinstance(t, str))


class MockModel:
    """Threaded stdlib HTTP server; `base_url` ends in `/v1`.  Use as a context manager."""

    def __init__(self) -> None:
        self.requests = 0
        self.arrivals: list[float] = []  # perf_counter() of each model request (same clock as the client)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                with suppress(BrokenPipeError, ConnectionResetError):
                    mock._answer(self, raw)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog (5) drops bursts of 50 connections
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="mock-model", daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> MockModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        arrived = time.perf_counter()
        with self._lock:
            self.requests += 1
            self.arrivals.append(arrived)
            del self.arrivals[:-1000]
            rid = f"resp_{next(self._ids)}"
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        items = body.get("input") if isinstance(body, dict) else None
        items = items if isinstance(items, list) else []
        match = _MARKER.search(_user_text(items))
        kind, arg = (match.group(1), match.group(2)) if match else ("instant", None)
        chunks: list[bytes]
        if kind == "delay":
            self._stopping.wait(float(arg or 0.2))
            chunks = [text_answer(rid)]
        elif kind == "stream":
            chunks = stream_answer(rid, int(arg or 10_000))
        elif kind == "shell" and not _has_tool_output(items):
            command = SHELL_COMMANDS.get(arg or "", SHELL_COMMANDS["echo"])
            chunks = [shell_call(rid, f"{CALL_PREFIX}{rid}", command, _tool_names(body))]
        else:
            chunks = [text_answer(rid)]
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("cache-control", "no-cache")
        handler.send_header("connection", "close")
        handler.end_headers()
        for chunk in chunks:
            handler.wfile.write(chunk)
        handler.wfile.flush()
        handler.close_connection = True


if __name__ == "__main__":
    with MockModel() as m:
        print(m.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
