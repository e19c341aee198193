"""Scripted model turns and how they look on the wire (Responses and Chat Completions).

A `Turn` is what one model request is answered with: text, tool calls, an HTTP error, a cut
stream, a hold until released, an echo of the last user message, or raw bytes.  The server
that plays them is `scripted_model.ScriptedModel`; the rendering is here so it can be read
(and reused) on its own.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_WAIT = 15.0

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


@dataclass
class Gate:
    """Holds requests open until `release()`; `arrived` counts the requests waiting on it."""

    released: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    arrived: int = 0
    disconnected: int = 0

    def release(self) -> None:
        self.released.set()

    def _arrive(self) -> None:
        with self._lock:
            self.arrived += 1
            self._lock.notify_all()

    def _hung_up(self) -> None:
        with self._lock:
            self.disconnected += 1
            self._lock.notify_all()

    def wait_arrived(self, n: int = 1, timeout: float = DEFAULT_WAIT) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self.arrived >= n, timeout):
                raise AssertionError(f"only {self.arrived} of {n} held model requests arrived in {timeout} s")

    def wait_disconnected(self, n: int = 1, timeout: float = DEFAULT_WAIT) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self.disconnected >= n, timeout):
                raise AssertionError(
                    f"only {self.disconnected} of {n} held model requests were closed by the client "
                    f"within {timeout} s"
                )


@dataclass
class Turn:
    kind: str
    text: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    error_body: Any = None
    gate: Gate | None = None
    then: Turn | None = None
    chunks: int = 3
    frames: Callable[[], Iterable[bytes]] | None = None
    """For `raw`: produces the body, written one piece at a time (it may be endless); for
    `verbatim`, the whole answer, status line included."""
    headers: dict[str, str] = field(default_factory=dict)
    """For `raw`: extra response headers (e.g. a Content-Encoding)."""
    reasoning: list[str] = field(default_factory=list)
    """Reasoning summary parts streamed (and then sent as a `reasoning` item) before the text."""


def text_turn(text: str) -> Turn:
    """A text answer that is not queued (for `hold(then=...)`)."""
    return Turn("text", text=text)


def shell_call(command: str | list[str], call_id: str | None = None, **extra: Any) -> dict[str, Any]:
    argv = ["bash", "-lc", command] if isinstance(command, str) else list(command)
    return function_call("shell", {"command": argv, **extra}, call_id)


def function_call(name: str, arguments: dict[str, Any], call_id: str | None = None) -> dict[str, Any]:
    return {"kind": "function", "name": name, "arguments": arguments, "call_id": call_id or new_id("call")}


def patch_call(patch: str, call_id: str | None = None) -> dict[str, Any]:
    return {"kind": "custom", "name": "apply_patch", "input": patch, "call_id": call_id or new_id("call")}


def web_search_call(query: str, item_id: str | None = None) -> dict[str, Any]:
    """A hosted web search the provider ran itself (the client only relays it)."""
    return {"kind": "web_search", "query": query, "call_id": item_id or new_id("ws")}


# --- the Responses wire -----------------------------------------------------------------


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def responses_frames(turn: Turn) -> list[bytes]:
    """A text and/or tool-call turn on the Responses wire, one SSE event per frame."""
    rid = new_id("resp")
    sse = _sse
    frames = [sse("response.created", {"response": {"id": rid}})]
    if turn.reasoning:
        frames += reasoning_frames(turn.reasoning)
    text = turn.text
    msg_id = new_id("msg")
    if text:
        added = {"type": "message", "role": "assistant", "id": msg_id, "status": "in_progress", "content": []}
        frames.append(sse("response.output_item.added", {"item": added}))
        for piece in _split(text, turn.chunks):
            frames.append(sse("response.output_text.delta", {"item_id": msg_id, "delta": piece}))
    if turn.kind == "cut":
        return frames  # the connection closes without response.completed
    if text:
        item = {
            "type": "message",
            "role": "assistant",
            "id": msg_id,
            "content": [{"type": "output_text", "text": text}],
        }
        frames.append(sse("response.output_item.done", {"item": item}))
    for call in turn.calls:
        if call["kind"] == "web_search":
            ws = {"type": "web_search_call", "id": call["call_id"], "status": "in_progress"}
            frames.append(sse("response.output_item.added", {"item": ws}))
            done = {**ws, "status": "completed", "action": {"type": "search", "query": call["query"]}}
            frames.append(sse("response.output_item.done", {"item": done}))
            continue
        if call["kind"] == "custom":
            item = {
                "type": "custom_tool_call",
                "id": new_id("ctc"),
                "status": "completed",
                "name": call["name"],
                "input": call["input"],
                "call_id": call["call_id"],
            }
        else:
            item = {
                "type": "function_call",
                "id": new_id("fc"),
                "status": "completed",
                "name": call["name"],
                "arguments": json.dumps(call["arguments"]),
                "call_id": call["call_id"],
            }
        frames.append(sse("response.output_item.done", {"item": item}))
    usage = {
        "input_tokens": 100,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 10,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 110,
    }
    frames.append(sse("response.completed", {"response": {"id": rid, "usage": usage}}))
    return frames


def reasoning_frames(parts: list[str]) -> list[bytes]:
    """A reasoning item: its summary parts streamed, then the whole item (encrypted content
    included, as providers send it when asked for `reasoning.encrypted_content`)."""
    rs_id = new_id("rs")
    frames = [
        _sse("response.output_item.added", {"item": {"type": "reasoning", "id": rs_id, "summary": []}}),
    ]
    for index, part in enumerate(parts):
        frames.append(
            _sse("response.reasoning_summary_part.added", {"item_id": rs_id, "summary_index": index})
        )
        for piece in _split(part, 2):
            frames.append(
                _sse(
                    "response.reasoning_summary_text.delta",
                    {"item_id": rs_id, "summary_index": index, "delta": piece},
                )
            )
    item = {
        "type": "reasoning",
        "id": rs_id,
        "summary": [{"type": "summary_text", "text": p} for p in parts],
        "encrypted_content": f"enc-{rs_id}",
    }
    frames.append(_sse("response.output_item.done", {"item": item}))
    return frames


# --- the Chat Completions wire -----------------------------------------------------------


def chat_frames(turn: Turn) -> list[bytes]:
    """The same turn on the Chat Completions wire (tool calls fragmented like real servers)."""
    cid = new_id("chatcmpl")

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        obj = {
            "id": cid,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(obj)}\n\n".encode()

    frames = [chunk({"role": "assistant"})]
    for piece in _split(turn.text, turn.chunks) if turn.text else []:
        frames.append(chunk({"content": piece}))
    if turn.kind == "cut":
        return frames
    calls = [c for c in turn.calls if c["kind"] != "web_search"]  # hosted: no Chat form
    for index, call in enumerate(calls):
        args = call["arguments"] if call["kind"] == "function" else {"input": call["input"]}
        arg_text = json.dumps(args)
        # Fragmented like real servers: id and name first, then the arguments in pieces.
        frames.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["call_id"],
                            "type": "function",
                            "function": {"name": call["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in _split(arg_text, 4):
            frames.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    frames.append(chunk({}, "tool_calls" if calls else "stop"))
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    tail = {"id": cid, "object": "chat.completion.chunk", "choices": [], "usage": usage}
    frames.append(f"data: {json.dumps(tail)}\n\n".encode())
    frames.append(b"data: [DONE]\n\n")
    return frames


def _split(text: str, n: int) -> list[str]:
    if not text:
        return []
    n = max(1, min(n, len(text)))
    size = -(-len(text) // n)
    return [text[i : i + size] for i in range(0, len(text), size)]
