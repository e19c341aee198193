"""A scripted model API on 127.0.0.1: the Responses and Chat Completions streaming wires.

The test queues turns (`text`, `shell`, `apply_patch`, `update_plan`, `http_error`, `cut`,
`hold`, `echo`, `raw`, ...); each model request, on either wire, takes the next turn off the
queue and is answered with it.  A `raw` turn writes bytes the test produces (a hostile
provider: endless lines, huge events, a trickle), whatever the wire.  Every request is
recorded (path, headers, JSON body), and the outputs the agent sent back for a call id
can be looked up in later requests.

Nothing here sleeps to synchronise: waits are on conditions/events, and every one is
bounded.  A `hold` turn keeps its request open until the test releases it or the server
stops, and notices when the client hung up (how a cancelled turn is seen from here).
"""

from __future__ import annotations

import itertools
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_WAIT = 15.0
RAW_DEADLINE = 120.0
"""An endless `raw` turn stops writing after this, so it never outlives a test run."""

_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


@dataclass
class Recorded:
    """One request as the model API received it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def wire(self) -> str:
        return "chat" if self.path.endswith("/chat/completions") else "responses"

    def items(self) -> list[dict[str, Any]]:
        """The history items (responses `input`) or chat `messages`."""
        key = "messages" if self.wire == "chat" else "input"
        value = self.body.get(key)
        return [i for i in value if isinstance(i, dict)] if isinstance(value, list) else []

    def user_texts(self) -> list[str]:
        """The text of every user message, in order (environment context included)."""
        out: list[str] = []
        for item in self.items():
            if item.get("role") != "user":
                continue
            content = item.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.append(
                    "".join(
                        str(p.get("text", ""))
                        for p in content
                        if isinstance(p, dict) and p.get("type") in ("input_text", "text")
                    )
                )
        return out

    def last_user_text(self) -> str:
        texts = self.user_texts()
        return texts[-1] if texts else ""

    def tool_names(self) -> list[str]:
        names = []
        for tool in self.body.get("tools") or []:
            if isinstance(tool, dict):
                fn = tool.get("function")
                names.append(str(fn.get("name")) if isinstance(fn, dict) else str(tool.get("name")))
        return names

    def call_output(self, call_id: str) -> str | None:
        for item in self.items():
            if item.get("type") in ("function_call_output", "custom_tool_call_output") and (
                item.get("call_id") == call_id
            ):
                output = item.get("output")
                return output if isinstance(output, str) else json.dumps(output)
            if item.get("role") == "tool" and item.get("tool_call_id") == call_id:
                content = item.get("content")
                return content if isinstance(content, str) else json.dumps(content)
        return None


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
    """For `raw`: produces the body, written one piece at a time (it may be endless)."""
    headers: dict[str, str] = field(default_factory=dict)
    """For `raw`: extra response headers (e.g. a Content-Encoding)."""


def text_turn(text: str) -> Turn:
    """A text answer that is not queued (for `hold(then=...)`)."""
    return Turn("text", text=text)


def shell_call(command: str | list[str], call_id: str | None = None, **extra: Any) -> dict[str, Any]:
    argv = ["bash", "-lc", command] if isinstance(command, str) else list(command)
    return function_call("shell", {"command": argv, **extra}, call_id)


def function_call(name: str, arguments: dict[str, Any], call_id: str | None = None) -> dict[str, Any]:
    return {"kind": "function", "name": name, "arguments": arguments, "call_id": call_id or _new_id("call")}


def patch_call(patch: str, call_id: str | None = None) -> dict[str, Any]:
    return {"kind": "custom", "name": "apply_patch", "input": patch, "call_id": call_id or _new_id("call")}


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) resets connections when 20 calls reach the model at once.
    request_queue_size = 256
    daemon_threads = True


class ScriptedModel:
    def __init__(self) -> None:
        self._turns: deque[Turn] = deque()
        self._cond = threading.Condition()
        self.requests: list[Recorded] = []
        self.default: Turn | None = None
        """Answer used when the queue is empty (None: 500 with a `no scripted turn` body)."""
        self.unscripted = 0
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> ScriptedModel:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                model._handle(self)

            def do_GET(self) -> None:
                self.send_error(404)

        server = _Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting ---------------------------------------------------------------------

    def add(self, turn: Turn) -> Turn:
        with self._cond:
            self._turns.append(turn)
        return turn

    def text(self, text: str, chunks: int = 3) -> Turn:
        return self.add(Turn("text", text=text, chunks=chunks))

    def tool_calls(self, *calls: dict[str, Any], text: str = "") -> Turn:
        return self.add(Turn("calls", text=text, calls=list(calls)))

    def shell(self, command: str | list[str], call_id: str | None = None, **extra: Any) -> str:
        call = shell_call(command, call_id, **extra)
        self.tool_calls(call)
        return str(call["call_id"])

    def apply_patch(self, patch: str, call_id: str | None = None) -> str:
        call = patch_call(patch, call_id)
        self.tool_calls(call)
        return str(call["call_id"])

    def function(self, name: str, arguments: dict[str, Any], call_id: str | None = None) -> str:
        call = function_call(name, arguments, call_id)
        self.tool_calls(call)
        return str(call["call_id"])

    def update_plan(self, plan: list[dict[str, str]], explanation: str | None = None) -> str:
        args: dict[str, Any] = {"plan": plan}
        if explanation is not None:
            args["explanation"] = explanation
        return self.function("update_plan", args)

    def http_error(self, status: int, body: Any) -> Turn:
        return self.add(Turn("error", status=status, error_body=body))

    def cut(self, text: str = "partial answer") -> Turn:
        return self.add(Turn("cut", text=text))

    def echo(self) -> Turn:
        return self.add(Turn("echo"))

    def raw(self, frames: Callable[[], Iterable[bytes]], headers: dict[str, str] | None = None) -> Turn:
        """Answer 200 `text/event-stream` with whatever `frames()` yields, flushed piece by
        piece, until it ends, the client hangs up, the server stops or `RAW_DEADLINE` passes."""
        return self.add(Turn("raw", frames=frames, headers=dict(headers or {})))

    def hold(self, then: Turn | None = None, gate: Gate | None = None) -> Gate:
        gate = gate or Gate()
        self.add(Turn("hold", gate=gate, then=then))
        return gate

    # -- inspection --------------------------------------------------------------------

    def wait_requests(self, n: int, timeout: float = DEFAULT_WAIT) -> list[Recorded]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise AssertionError(
                    f"the model got {len(self.requests)} of {n} expected requests in {timeout} s"
                )
            return list(self.requests)

    def call_output(self, call_id: str, timeout: float = DEFAULT_WAIT) -> str:
        """The output the agent sent back for `call_id` (waits for a request that carries it)."""
        found: list[str] = []

        def seen() -> bool:
            for req in self.requests:
                out = req.call_output(call_id)
                if out is not None:
                    found.append(out)
                    return True
            return False

        with self._cond:
            if not self._cond.wait_for(seen, timeout):
                raise AssertionError(f"no request carried the output of call {call_id!r} within {timeout} s")
        return found[0]

    @property
    def pending_turns(self) -> int:
        with self._cond:
            return len(self._turns)

    # -- serving -----------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        rec = Recorded(h.path.split("?")[0], {k.lower(): v for k, v in h.headers.items()}, body)
        with self._cond:
            self.requests.append(rec)
            turn = self._turns.popleft() if self._turns else self.default
            if turn is None:
                self.unscripted += 1
            self._cond.notify_all()
        if rec.path not in ("/v1/responses", "/v1/chat/completions"):
            self._json_error(h, 404, {"error": {"message": f"unknown path {rec.path}"}})
            return
        if turn is None:
            self._json_error(h, 500, {"error": {"message": "no scripted turn left"}})
            return
        self._answer(h, rec, turn)

    def _answer(self, h: BaseHTTPRequestHandler, rec: Recorded, turn: Turn) -> None:
        if turn.kind == "hold":
            assert turn.gate is not None
            if not self._hold(h, turn.gate):
                return
            turn = turn.then or Turn("echo")
        if turn.kind == "error":
            self._json_error(h, turn.status, turn.error_body)
            return
        if turn.kind == "raw":
            self._write_raw(h, turn)
            return
        if turn.kind == "echo":
            turn = Turn("text", text=f"echo: {rec.last_user_text()}")
        chat = rec.wire == "chat"
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Cache-Control", "no-cache")
            h.end_headers()
            frames = self._chat_frames(turn) if chat else self._responses_frames(turn)
            for frame in frames:
                h.wfile.write(frame)
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _write_raw(self, h: BaseHTTPRequestHandler, turn: Turn) -> None:
        assert turn.frames is not None
        deadline = time.monotonic() + RAW_DEADLINE
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Cache-Control", "no-cache")
            for name, value in turn.headers.items():
                h.send_header(name, value)
            h.end_headers()
            for piece in turn.frames():
                if self._stop.is_set() or time.monotonic() > deadline:
                    return
                h.wfile.write(piece)
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _hold(self, h: BaseHTTPRequestHandler, gate: Gate) -> bool:
        """Wait for the gate; False when the client hung up or the server is stopping."""
        gate._arrive()
        conn: socket.socket = h.connection
        deadline = time.monotonic() + 120  # a hold never outlives a test run
        while not gate.released.is_set():
            if self._stop.is_set() or time.monotonic() > deadline:
                return False
            readable, _, _ = select.select([conn], [], [], 0.05)
            if readable:
                try:
                    data = conn.recv(1, socket.MSG_PEEK)
                except OSError:
                    data = b""
                if not data:
                    gate._hung_up()
                    return False
        return True

    @staticmethod
    def _json_error(h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- the Responses wire ----------------------------------------------------------

    @staticmethod
    def _sse(kind: str, data: dict[str, Any]) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

    def _responses_frames(self, turn: Turn) -> list[bytes]:
        rid = _new_id("resp")
        sse = self._sse
        frames = [sse("response.created", {"response": {"id": rid}})]
        text = turn.text
        msg_id = _new_id("msg")
        if text:
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
            if call["kind"] == "custom":
                item = {
                    "type": "custom_tool_call",
                    "id": _new_id("ctc"),
                    "status": "completed",
                    "name": call["name"],
                    "input": call["input"],
                    "call_id": call["call_id"],
                }
            else:
                item = {
                    "type": "function_call",
                    "id": _new_id("fc"),
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

    # -- the Chat Completions wire ---------------------------------------------------

    def _chat_frames(self, turn: Turn) -> list[bytes]:
        cid = _new_id("chatcmpl")

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
        for index, call in enumerate(turn.calls):
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
        frames.append(chunk({}, "tool_calls" if turn.calls else "stop"))
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
