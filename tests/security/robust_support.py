"""Judging robustness from outside: a server under an address-space limit, a lean client that
keeps up with a flood, a ping monitor that runs during an attack, and the server's peak RSS.

The server is started as `prlimit --as=<SERVER_AS_LIMIT> -- python -m codex_mcp`, so a
regression that tries to hold gigabytes fails inside the server instead of taking the
machine down (the test then fails on the server's answer, not on the OOM killer).
`MALLOC_ARENA_MAX=2` keeps glibc from reserving 64 MiB of address space per thread, which
would otherwise count against the limit without ever being used.

The stock `RawClient` keeps every message and re-splits its buffer per line, which cannot
keep up with hundreds of thousands of deltas; a slow reader would make the server wait on
its stdout and turn a client problem into a failed ping.  `LeanClient` reads in O(n),
counts streaming deltas instead of keeping them, and keeps everything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.raw_client import RawClient, same_id
from tests.support.scripted_model import ScriptedModel
from tests.support.server import initialize, server_env, write_config

MiB = 1024 * 1024

SERVER_AS_LIMIT = 2048 * MiB
"""Address space the server may map; its real peak in these attacks stays far below."""

PEAK_RSS_LIMIT_MB = 400
"""Peak RSS (VmHWM) any attack may drive the server to; an idle server uses ~40 MB and the
largest legitimate event (8 MiB) a few copies of that."""

PING_BOUND = 2.0
"""Seconds within which the server must answer `ping` during an attack."""

STREAMING = frozenset(
    {
        "agent_message_delta",
        "agent_reasoning_delta",
        "agent_reasoning_raw_content_delta",
        "agent_message_content_delta",
        "reasoning_content_delta",
    }
)


class LeanClient(RawClient):
    """A `RawClient` that keeps up with floods: linear reads, streaming deltas only counted."""

    deltas: int
    delta_chars: int
    raw: list[bytes]
    """Every stdout line exactly as written (deltas included), for framing checks."""
    keep_raw = False

    def _read_loop(self) -> None:
        self.deltas = 0
        self.delta_chars = 0
        self.raw = []
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = bytearray()
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
            start = len(buf)
            buf += chunk
            begin = 0
            nl = buf.find(b"\n", start)
            while nl >= 0:
                line = bytes(buf[begin:nl])
                if self.keep_raw:
                    self.raw.append(line)
                if line.strip():
                    self._on_line(line)
                begin = nl + 1
                nl = buf.find(b"\n", begin)
            del buf[:begin]
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
        params = msg.get("params") if isinstance(msg, dict) else None
        event = params.get("msg") if isinstance(params, dict) else None
        if isinstance(event, dict) and event.get("type") in STREAMING:
            self.deltas += 1
            self.delta_chars += len(str(event.get("delta") or ""))
            return
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()
        if isinstance(msg, dict) and "method" in msg and "id" in msg:
            self._answer_server_request(msg)


class RawKeepingClient(LeanClient):
    keep_raw = True


@dataclass
class Spawner:
    """Starts servers for one test, each under the address-space limit and warmed up by one
    ordinary call; kills them at the end."""

    codex_home: Path
    workspace: Path
    tmp_path: Path
    model: ScriptedModel
    clients: list[LeanClient] = field(default_factory=list)

    def __call__(
        self, *, as_limit: int = SERVER_AS_LIMIT, env: dict[str, str] | None = None, keep_raw: bool = False
    ) -> LeanClient:
        full_env = server_env(self.codex_home)
        full_env["MALLOC_ARENA_MAX"] = "2"
        full_env.update(env or {})
        client = (RawKeepingClient if keep_raw else LeanClient)(
            ["prlimit", f"--as={as_limit}", "--", sys.executable, "-m", "codex_mcp"],
            env=full_env,
            cwd=self.workspace,
            log_path=self.tmp_path / f"robust-server-{len(self.clients)}.stderr.log",
            policy="decline",
        )
        self.clients.append(client)
        initialize(client)
        # One ordinary call first: the first call of a server pays its imports and set-up
        # on the loop (~1 s on a loaded machine), which is not what the attack measures.
        self.model.text("warmed up")
        _, result = run_codex(client, 30)
        assert result_text(result) == "warmed up", result
        return client

    def close(self) -> None:
        for client in self.clients:
            client.kill()
            text = client.stderr_text()
            if text.strip():
                print(f"--- stderr of {client.log_path.name} ---\n{text[-8000:]}")


@contextlib.contextmanager
def spawner(codex_home: Path, workspace: Path, tmp_path: Path, model: ScriptedModel) -> Iterator[Spawner]:
    """Queue the attack's turns after `spawn()`: each server's warm-up call takes a turn."""
    spawn = Spawner(codex_home, workspace, tmp_path, model)
    try:
        yield spawn
    finally:
        spawn.close()


def configure(
    codex_home: Path, model: ScriptedModel, *, wire_api: str = "responses", extra: str = ""
) -> None:
    """Rewrite config.toml (the scripted provider, no retries) with `extra` top-level TOML."""
    write_config(codex_home, model, wire_api=wire_api, extra=extra)


def vm_hwm_mb(pid: int) -> float:
    """The peak resident set size of a process, from /proc (the kernel's own record)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


class PingMonitor:
    """Pings the server every `interval` seconds on a thread while an attack runs.

    Each ping must be answered within `bound` seconds; `stop()` returns the worst latency
    and raises if any ping went unanswered or answered late.
    """

    def __init__(self, client: LeanClient, bound: float = PING_BOUND, interval: float = 0.1) -> None:
        self.client = client
        self.bound = bound
        self.interval = interval
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PingMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(self.bound + 5)

    def _run(self) -> None:
        while not self._done.is_set():
            sent = time.monotonic()
            rid = self.client.request("ping")
            try:
                self.client.wait_for(lambda m, rid=rid: _is_response_to(m, rid), self.bound)
            except AssertionError:
                self.failures.append(f"ping {rid} not answered within {self.bound} s")
                return
            self.latencies.append(time.monotonic() - sent)
            self._done.wait(self.interval)

    def check(self) -> float:
        """The worst latency seen; fails the test on an unanswered ping or too few pings."""
        assert not self.failures, self.failures
        assert self.latencies, "no ping was answered during the attack"
        return max(self.latencies)


def _is_response_to(message: dict[str, Any], request_id: Any) -> bool:
    return "method" not in message and same_id(message.get("id"), request_id)


def run_codex(client: LeanClient, timeout: float = 60.0, **arguments: Any) -> tuple[Any, dict[str, Any]]:
    """One `codex` call (approval never, workspace-write); returns (request id, result)."""
    args: dict[str, Any] = {"prompt": "go", "approval-policy": "never", "sandbox": "workspace-write"}
    args.update(arguments)
    rid = client.call_tool("codex", args)
    response = client.wait_response(rid, timeout)
    assert "result" in response, response
    return rid, response["result"]


def result_text(result: dict[str, Any]) -> str:
    content = result.get("content") or []
    return str(content[0].get("text")) if content else ""


def events_of(client: LeanClient, request_id: Any, kind: str) -> list[dict[str, Any]]:
    return [p["msg"] for p in client.events_for(request_id) if p["msg"].get("type") == kind]


def assert_no_traceback(client: LeanClient) -> None:
    text = client.stderr_text()
    assert "Traceback" not in text, text[-4000:]


# --- hostile SSE bodies ------------------------------------------------------------------


def sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def created() -> bytes:
    return sse({"type": "response.created", "response": {"id": "resp_hostile"}})


def completed() -> bytes:
    return sse({"type": "response.completed", "response": {"id": "resp_hostile", "usage": {}}})


def huge_delta_frames(
    total: int, kind: str = "response.output_text.delta", piece: int = 64 * 1024
) -> Callable[[], Iterable[bytes]]:
    """One `kind` event whose delta is `total` bytes of text, written in `piece`-byte writes."""

    def frames() -> Iterator[bytes]:
        yield created()
        yield f'event: {kind}\ndata: {{"type": "{kind}", "delta": "'.encode()
        block = b"A" * piece
        for _ in range(total // piece):
            yield block
        yield b'"}\n\n'
        yield completed()

    return frames


def endless(piece: bytes, interval: float = 0.0) -> Callable[[], Iterable[bytes]]:
    """`piece` forever (every `interval` seconds: the pacing of a trickling attacker)."""

    def frames() -> Iterator[bytes]:
        yield created()
        while True:
            yield piece
            if interval:
                time.sleep(interval)

    return frames


def events_frames(events: Iterable[bytes], finish: bool = True) -> Callable[[], Iterable[bytes]]:
    def frames() -> Iterator[bytes]:
        yield created()
        yield from events
        if finish:
            yield completed()

    return frames


def chat_chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    obj = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(obj)}\n\n".encode()
