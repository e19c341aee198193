"""The mock model API on 127.0.0.1 (stdlib only, threaded): one for the tests and the benchmarks.

Each request takes the next scripted answer: a `Turn` (`model_turns`: text, tool calls, an
HTTP error, a cut stream, a hold, an echo, raw bytes), rendered on the wire the request used
(Responses or Chat Completions), or a `Reply` (`model_wire`: any status, headers, body or SSE
chunks, a stall, a dropped connection) for tests of the model client itself.  Answers queue
for any model path, or for one path (`script(..., path="/oauth/token")`).  When nothing is
queued, `default` answers: a `Turn`, a `Reply`, or a function of the request (the
benchmarks' markers); without one, model paths get a 500 naming the problem.

Every request is recorded (method, path, headers, body), and the outputs the agent sent back
for a call id can be looked up in later requests.  Nothing here sleeps to synchronise: waits
are on conditions/events, and every one is bounded.  A `hold` turn keeps its request open
until the test releases it or the server stops, and notices when the client hung up (how a
cancelled turn is seen from here).
"""

from __future__ import annotations

import functools
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

from tests.support.model_turns import DEFAULT_WAIT as DEFAULT_WAIT
from tests.support.model_turns import Gate as Gate
from tests.support.model_turns import Turn as Turn
from tests.support.model_turns import chat_frames, responses_frames
from tests.support.model_turns import function_call as function_call
from tests.support.model_turns import patch_call as patch_call
from tests.support.model_turns import shell_call as shell_call
from tests.support.model_turns import text_turn as text_turn
from tests.support.model_turns import web_search_call as web_search_call
from tests.support.model_wire import Reply

RAW_DEADLINE = 120.0
"""An endless `raw` turn stops writing after this, so it never outlives a test run."""
MODEL_PATHS = ("/v1/responses", "/v1/chat/completions")

Answer = Turn | Reply
Default = Answer | Callable[["Recorded"], Answer] | None


@dataclass
class Recorded:
    """One request as the model API received it."""

    method: str
    path: str
    """The request target as sent (query string included)."""
    headers: dict[str, str]
    raw: bytes
    arrived: float = field(default_factory=time.perf_counter)
    """`time.perf_counter()` when it arrived (the clock a benchmark client uses too)."""

    @property
    def route(self) -> str:
        return self.path.split("?")[0]

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None

    @functools.cached_property
    def body(self) -> dict[str, Any]:
        """The JSON body as an object (`{"_unparsed": text}` when it is not one)."""
        try:
            value = json.loads(self.raw or b"{}")
        except ValueError:
            return {"_unparsed": self.raw.decode("utf-8", "replace")}
        return value if isinstance(value, dict) else {"_unparsed": self.raw.decode("utf-8", "replace")}

    @property
    def wire(self) -> str:
        return "chat" if self.route.endswith("/chat/completions") else "responses"

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


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) resets connections when 20 calls reach the model at once.
    request_queue_size = 256
    daemon_threads = True


class ScriptedModel:
    def __init__(self, default: Default = None, keep_requests: int | None = None) -> None:
        self._turns: deque[Answer | Callable[[Recorded], Answer]] = deque()
        self._by_path: dict[str, deque[Answer]] = {}
        self._cond = threading.Condition()
        self.requests: list[Recorded] = []
        self.keep_requests = keep_requests
        """Keep only the last N requests (a benchmark's long run); None keeps all."""
        self.default: Default = default
        """Answer used when nothing is queued for a request (None: 500 with a `no scripted turn`
        body on model paths, 404 elsewhere)."""
        self.unscripted = 0
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> ScriptedModel:
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            """As a provider's server does: a head and a body written apart must not wait
            for the client's delayed ACK (~40 ms per answer on a kept connection)."""

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                model._handle(self)

            do_GET = do_POST

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

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- scripting ---------------------------------------------------------------------

    def add(self, turn: Turn) -> Turn:
        with self._cond:
            self._turns.append(turn)
        return turn

    def script(self, *replies: Answer, path: str = "*") -> None:
        """Queue answers for any model request (`path="*"`), or for requests to `path` only."""
        with self._cond:
            queue = self._turns if path == "*" else self._by_path.setdefault(path, deque())
            queue.extend(replies)

    def later(self, build: Callable[[Recorded], Answer]) -> None:
        """Queue an answer built when its request arrives, from what the agent sent (a session
        id in an earlier tool output, say)."""
        with self._cond:
            self._turns.append(build)

    def text(self, text: str, chunks: int = 3, reasoning: list[str] | None = None) -> Turn:
        return self.add(Turn("text", text=text, chunks=chunks, reasoning=list(reasoning or [])))

    def tool_calls(self, *calls: dict[str, Any], text: str = "", reasoning: list[str] | None = None) -> Turn:
        return self.add(Turn("calls", text=text, calls=list(calls), reasoning=list(reasoning or [])))

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

    def verbatim(self, frames: Callable[[], Iterable[bytes]]) -> Turn:
        """Answer with exactly the bytes `frames()` yields, status line and header fields
        included, flushed piece by piece (same limits as `raw`): for attacks on the
        client's reading of HTTP itself."""
        return self.add(Turn("verbatim", frames=frames))

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

    def requests_to(self, suffix: str) -> list[Recorded]:
        with self._cond:
            return [r for r in self.requests if r.route.endswith(suffix)]

    @property
    def pending_turns(self) -> int:
        with self._cond:
            return len(self._turns)

    # -- serving -----------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        rec = Recorded(h.command, h.path, {k.lower(): v for k, v in h.headers.items()}, raw)
        model_path = rec.route in MODEL_PATHS
        with self._cond:
            self.requests.append(rec)
            if self.keep_requests is not None:
                del self.requests[: -self.keep_requests]
            queue = self._by_path.get(rec.route)
            if queue:
                answer: Default = queue.popleft()
            elif model_path and self._turns:
                answer = self._turns.popleft()
            else:
                answer = self.default
                if answer is None:
                    self.unscripted += 1
            self._cond.notify_all()
        if callable(answer):
            answer = answer(rec)
        if isinstance(answer, Reply):
            self._reply(h, answer)
        elif not model_path or h.command != "POST":
            self._json_error(h, 404, {"error": {"message": f"unknown path {rec.route}"}})
        elif answer is None:
            self._json_error(h, 500, {"error": {"message": "no scripted turn left"}})
        else:
            h.close_connection = True  # a turn's answer ends with the connection (no length)
            self._answer(h, rec, answer)

    def _reply(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        """An HTTP-level answer, exactly as scripted."""
        try:
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
        except OSError:
            h.close_connection = True

    def _answer(self, h: BaseHTTPRequestHandler, rec: Recorded, turn: Turn) -> None:
        if turn.kind == "hold":
            assert turn.gate is not None
            if not self._hold(h, turn.gate):
                return
            turn = turn.then or Turn("echo")
        if turn.kind == "error":
            self._json_error(h, turn.status, turn.error_body)
            return
        if turn.kind in ("raw", "verbatim"):
            self._write_raw(h, turn, head=turn.kind == "raw")
            return
        if turn.kind == "echo":
            turn = Turn("text", text=f"echo: {rec.last_user_text()}")
        chat = rec.wire == "chat"
        h.close_connection = True
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Cache-Control", "no-cache")
            h.send_header("Connection", "close")
            h.end_headers()
            frames = self._chat_frames(turn) if chat else self._responses_frames(turn)
            for frame in frames:
                h.wfile.write(frame)
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _write_raw(self, h: BaseHTTPRequestHandler, turn: Turn, *, head: bool = True) -> None:
        assert turn.frames is not None
        deadline = time.monotonic() + RAW_DEADLINE
        h.close_connection = True
        try:
            if head:
                h.send_response(200)
                h.send_header("Content-Type", "text/event-stream")
                h.send_header("Cache-Control", "no-cache")
                h.send_header("Connection", "close")
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
        h.close_connection = True
        try:
            h.send_response(status)
            h.send_header("Connection", "close")
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- the wires (methods, so a subclass can adjust what a turn looks like) --------------

    def _responses_frames(self, turn: Turn) -> list[bytes]:
        return responses_frames(turn)

    def _chat_frames(self, turn: Turn) -> list[bytes]:
        return chat_frames(turn)
