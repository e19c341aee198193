"""The benchmarks' answers from the shared mock model (`tests/support/scripted_model.py`).

`MockModel()` is that mock model with `bench_answer` as its default: every
`POST /v1/responses` is answered as SSE, chosen by a marker in the prompt, so concurrent
sessions of different kinds can share one mock:

* ``[bench:instant]``        -- a short text answer, at once;
* ``[bench:delay=0.2]``      -- the same text answer after 0.2 s;
* ``[bench:stream=10000]``   -- a text answer streamed as 10,000 deltas;
* ``[bench:shell=KEY]``      -- a shell tool call running ``SHELL_COMMANDS[KEY]``, then (on
  the request that carries its output) a text answer;
* ``[bench:framed]``         -- with any of the above: the answer framed by its length, so
  the connection can be kept (the others end with the connection);
* ``[bench:steps=N]``        -- shell tool calls, one per model round, until the request
  carries N outputs, then a text answer (a long turn); the command is ``SHELL_COMMANDS[KEY]``
  of a ``[bench:cmd=KEY]`` marker, ``SHELL_COMMANDS["step"]`` without one.

The shell call uses ``shell`` with ``{"command": ["bash", "-lc", CMD]}`` when the request
offers it; otherwise ``exec_command`` with ``{"cmd": CMD}`` (what the reference 0.147 offers).
Any other request gets a 404 (GET) or a plain text answer (POST).  `arrivals()` are the
`perf_counter()` times of the model requests (the clock of the benchmark's client).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any

from tests.support.model_wire import Reply
from tests.support.scripted_model import Recorded, ScriptedModel

SHELL_COMMANDS: dict[str, str] = {
    "echo": "echo bench",
    "touch": "touch bench-step.txt",
    "big": "head -c 200000000 /dev/zero | tr '\\0' 'a'",
    "step": "sleep 0.05",
    "sleep": "touch started; exec sleep 60",
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


def _tool_outputs(items: list[Any]) -> int:
    return sum(
        1
        for it in items
        if isinstance(it, dict)
        and it.get("type") in ("function_call_output", "custom_tool_call_output")
        and str(it.get("call_id", "")).startswith(CALL_PREFIX)
    )


def _has_tool_output(items: list[Any]) -> bool:
    return _tool_outputs(items) > 0


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


_rids = itertools.count(1)
KEEP_REQUESTS = 64
"""The mock remembers this many requests (a long benchmark must not grow it without bound)."""
SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


def bench_answer(request: Recorded, wait: Callable[[float], object] = time.sleep) -> Reply:
    """The answer the request's marker asks for (a short text answer without one).

    `wait(seconds)` is how a `delay` answer waits (the mock passes its stop event's wait, so
    stopping it ends the delay)."""
    if request.method != "POST":
        return Reply(status=404)
    rid = f"resp_{next(_rids)}"
    body = request.body
    items = body.get("input")
    items = items if isinstance(items, list) else []
    markers = {m.group(1): m.group(2) for m in _MARKER.finditer(_user_text(items))}
    kind, arg = next(((k, v) for k, v in markers.items() if k not in ("cmd", "framed")), ("instant", None))
    chunks: list[bytes]
    if kind == "delay":
        wait(float(arg or 0.2))  # a slow model: only this request's thread waits
        chunks = [text_answer(rid)]
    elif kind == "stream":
        chunks = stream_answer(rid, int(arg or 10_000))
    elif kind == "steps" and _tool_outputs(items) < int(arg or 30):
        command = SHELL_COMMANDS.get(markers.get("cmd") or "", SHELL_COMMANDS["step"])
        chunks = [shell_call(rid, f"{CALL_PREFIX}{rid}", command, _tool_names(body))]
    elif kind == "shell" and not _has_tool_output(items):
        command = SHELL_COMMANDS.get(arg or "", SHELL_COMMANDS["echo"])
        chunks = [shell_call(rid, f"{CALL_PREFIX}{rid}", command, _tool_names(body))]
    else:
        chunks = [text_answer(rid)]
    if "framed" in markers:
        return Reply(headers=SSE_HEADERS, body=b"".join(chunks))
    return Reply(headers=SSE_HEADERS, chunks=chunks)


class MockModel(ScriptedModel):
    """The shared mock model answering with `bench_answer`; starts on construction."""

    def __init__(self) -> None:
        super().__init__(default=self._answer_marker, keep_requests=KEEP_REQUESTS)
        self.start()

    def _answer_marker(self, request: Recorded) -> Reply:
        return bench_answer(request, self._stop.wait)

    def arrivals(self) -> list[float]:
        with self._cond:
            return [r.arrived for r in self.requests if r.route == "/v1/responses"]

    def last_request_size(self) -> int:
        """Bytes of the body of the last model request (0 before any)."""
        with self._cond:
            sizes = [len(r.raw) for r in self.requests if r.route == "/v1/responses"]
        return sizes[-1] if sizes else 0

    def forget(self) -> None:
        """Drop the recorded requests (before a measurement that counts arrivals)."""
        with self._cond:
            self.requests.clear()


if __name__ == "__main__":
    with MockModel() as m:
        print(m.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
