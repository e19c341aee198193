"""A raw newline-delimited JSON-RPC client for the server subprocess.

It speaks the wire byte for byte (so tests can send malformed frames), reads stdout on a
thread, keeps every message in arrival order, and answers the server's `elicitation/create`
requests by a policy the test chooses.  The process runs in its own session; `kill()`
ends the whole process group.  Every wait takes a timeout.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 15.0

APPROVE_MCP = {"action": "accept", "content": {"decision": "approved"}}


@dataclass(frozen=True)
class ErrorAnswer:
    """Answer a server request with a JSON-RPC error."""

    code: int = -32603
    message: str = "the client cannot show this"


Policy = str | Callable[[dict[str, Any]], Any]
"""`accept-mcp`, `accept-empty`, `legacy-approve`, `legacy-session`, `decline`, `cancel`, `error`,
`never`, or a callable taking the request message and returning a result, an `ErrorAnswer`, or
None (no answer)."""

_FIXED_ANSWERS: dict[str, Any] = {
    "accept-mcp": APPROVE_MCP,
    "accept-empty": {"action": "accept"},
    "legacy-approve": {"decision": "approved"},
    "legacy-session": {"decision": "approved_for_session"},
    "legacy-deny": {"decision": "denied"},
    "legacy-abort": {"decision": "abort"},
    "decline": {"action": "decline"},
    "cancel": {"action": "cancel"},
    "error": ErrorAnswer(),
    "never": None,
}


def same_id(a: Any, b: Any) -> bool:
    """JSON-RPC id equality: `1` and `"1"` differ, and so do `1` and `true`."""
    return type(a) is type(b) and a == b


class RawClient:
    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        policy: Policy = "accept-mcp",
    ) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=str(cwd),
            start_new_session=True,
        )
        self.policy: Policy = policy
        self.messages: list[dict[str, Any]] = []
        self.unparsable: list[bytes] = []
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stop_reading = threading.Event()
        self.stdout_eof = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- writing -----------------------------------------------------------------------

    def send_raw(self, line: bytes | str) -> None:
        data = line.encode() if isinstance(line, str) else line
        if not data.endswith(b"\n"):
            data += b"\n"
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps(message))

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)

    def request(self, method: str, params: dict[str, Any] | None = None, id: Any = None) -> Any:
        """Send a request; returns its id (a fresh integer unless given)."""
        request_id = next(self._ids) if id is None else id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return request_id

    def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> Any:
        """Request and wait for the response; returns the whole response message."""
        return self.wait_response(self.request(method, params), timeout)

    def call_tool(
        self,
        name: str,
        arguments: Any,
        *,
        id: Any = None,
        meta: dict[str, Any] | None = None,
    ) -> Any:
        params: dict[str, Any] = {"name": name, "arguments": arguments}
        if meta is not None:
            params["_meta"] = meta
        return self.request("tools/call", params, id=id)

    def codex(self, prompt: str, timeout: float = DEFAULT_TIMEOUT, **arguments: Any) -> dict[str, Any]:
        """A `codex` call with danger-full-access by default; returns the result object."""
        arguments.setdefault("sandbox", "danger-full-access")
        rid = self.call_tool("codex", {"prompt": prompt, **arguments})
        return result_of(self.wait_response(rid, timeout))

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        with self._write_lock, contextlib.suppress(OSError):
            self.proc.stdin.close()

    def close_stdout(self) -> None:
        """Stop reading and close our end of the server's stdout."""
        self._stop_reading.set()
        self._reader.join(5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    # -- reading -----------------------------------------------------------------------

    def _read_loop(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        while not self._stop_reading.is_set():
            readable, _, _ = select.select([fd], [], [], 0.05)
            if not readable:
                continue
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    self._on_line(line)
        with self._cond:
            self.stdout_eof = True
            self._cond.notify_all()

    def _on_line(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            with self._cond:
                self.unparsable.append(line)
                self._cond.notify_all()
            return
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()
        if isinstance(msg, dict) and "method" in msg and "id" in msg:
            self._answer_server_request(msg)

    def _answer_server_request(self, msg: dict[str, Any]) -> None:
        policy = self.policy
        if msg.get("method") != "elicitation/create":
            answer: Any = ErrorAnswer(-32601, f"method not found: {msg.get('method')}")
        elif callable(policy):
            answer = policy(msg)
        else:
            answer = _FIXED_ANSWERS[policy]
        if answer is None:
            return
        if isinstance(answer, ErrorAnswer):
            reply = {
                "jsonrpc": "2.0",
                "id": msg["id"],
                "error": {"code": answer.code, "message": answer.message},
            }
        else:
            reply = {"jsonrpc": "2.0", "id": msg["id"], "result": answer}
        with contextlib.suppress(OSError, ValueError):
            self.send(reply)

    # -- waiting -----------------------------------------------------------------------

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """The first message (in arrival order) matching `predicate`."""
        found: list[dict[str, Any]] = []

        def check() -> bool:
            for m in self.messages:
                if predicate(m):
                    found.append(m)
                    return True
            return False

        with self._cond:
            if not self._cond.wait_for(lambda: check() or self.stdout_eof, timeout) or not found:
                raise AssertionError(
                    f"no matching message within {timeout} s (eof={self.stdout_eof}); "
                    f"last messages: {self.messages[-5:]}\n{self.stderr_tail()}"
                )
        return found[0]

    def wait_response(self, request_id: Any, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return self.wait_for(lambda m: is_response(m) and same_id(m.get("id"), request_id), timeout)

    def responses_to(self, request_id: Any) -> list[dict[str, Any]]:
        with self._cond:
            return [m for m in self.messages if is_response(m) and same_id(m.get("id"), request_id)]

    def server_requests(self, method: str = "elicitation/create") -> list[dict[str, Any]]:
        with self._cond:
            return [m for m in self.messages if m.get("method") == method and "id" in m]

    def notifications(self, method: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [
                m
                for m in self.messages
                if "method" in m and "id" not in m and (method is None or m["method"] == method)
            ]

    def events_for(self, request_id: Any) -> list[dict[str, Any]]:
        """The `codex/event` params whose `_meta.requestId` is `request_id` (same JSON type)."""
        return [
            n["params"]
            for n in self.notifications("codex/event")
            if same_id(((n.get("params") or {}).get("_meta") or {}).get("requestId"), request_id)
        ]

    def event_types(self, request_id: Any) -> list[str]:
        return [p["msg"]["type"] for p in self.events_for(request_id)]

    def index_of(self, message: dict[str, Any]) -> int:
        with self._cond:
            for i, m in enumerate(self.messages):
                if m is message:
                    return i
        raise ValueError("message not received")

    def count(self) -> int:
        with self._cond:
            return len(self.messages)

    # -- process -----------------------------------------------------------------------

    def wait_exit(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the server did not exit within {timeout} s\n{self.stderr_tail()}"
            ) from None

    def stderr_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stderr_tail(self, limit: int = 3000) -> str:
        return "--- server stderr ---\n" + self.stderr_text()[-limit:]

    def kill(self) -> None:
        """End the server, its process group, and every descendant's process group.

        Commands run in sessions of their own, so killing the server's group alone would
        leave a command of a failed test running.
        """
        descendants = descendant_pids(self.proc.pid)
        # SIGTERM first, so a command's exit traps run (a SIGKILLed `bash -lc` can leave
        # pyenv's rehash lock behind, stalling every later login shell on the machine).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in [self.proc.pid, *descendants]:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, sig)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            if sig == signal.SIGTERM:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(0.5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._stop_reading.set()
        self._reader.join(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()
        self._log.close()


def descendant_pids(root: int) -> list[int]:
    """Every live descendant of `root` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def is_response(m: dict[str, Any]) -> bool:
    return "method" not in m and ("result" in m or "error" in m)


def result_of(response: dict[str, Any]) -> dict[str, Any]:
    assert "result" in response, f"expected a result, got {response}"
    result = response["result"]
    assert isinstance(result, dict)
    return result


def text_of(result: dict[str, Any]) -> str:
    content = result.get("content") or []
    assert content and content[0].get("type") == "text", f"no text content in {result}"
    return str(content[0]["text"])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition outside our control (a file, a /proc entry), bounded."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
