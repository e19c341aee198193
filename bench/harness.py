"""Spawning a server under test and talking raw newline-delimited JSON-RPC to it.

Every server gets its own process group (killed on teardown), its stderr goes to a file
in its home, and every wait is bounded.  A reader thread dispatches responses to their
waiters and timestamps `codex/event` notifications per request id.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = "2025-06-18"
DEFAULT_TIMEOUT = 60.0
HANDSHAKE_TIMEOUT = 30.0


class BenchError(RuntimeError):
    pass


def default_server_cmd() -> list[str]:
    script = Path(sys.executable).with_name("codex-mcp-server")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "codex_mcp"]


def split_cmd(cmd: str | list[str] | None) -> list[str]:
    if cmd is None:
        return default_server_cmd()
    return list(cmd) if isinstance(cmd, list) else shlex.split(cmd)


CONFIG_TEMPLATE = """\
model = "mock-model"
model_provider = "mock"
approval_policy = "never"
sandbox_mode = "{sandbox_mode}"

[model_providers.mock]
name = "mock"
base_url = "{base_url}"
env_key = "MOCK_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
"""


BENCH_HOMES = Path("/var/tmp/codex-mcp-bench")


class Home:
    """A temporary CODEX_HOME (with config.toml) plus a workspace directory."""

    def __init__(self, base_url: str, label: str, sandbox_mode: str = "danger-full-access") -> None:
        # Not under /tmp: codex-cli refuses to install its sandbox helper under a CODEX_HOME
        # there, and its workspace-write commands would all fail.  Not under the home
        # directory either: we refuse a writable workspace among programs' configuration.
        BENCH_HOMES.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix=f"codex-bench-{label}-", dir=BENCH_HOMES)
        root = Path(self._tmp.name)
        self.codex_home = root / "home"
        self.workspace = root / "workspace"
        self.codex_home.mkdir()
        self.workspace.mkdir()
        self.user_home = root / "user-home"
        self.user_home.mkdir()
        self.extra_env: dict[str, str] = {}
        (self.codex_home / "config.toml").write_text(
            CONFIG_TEMPLATE.format(base_url=base_url, sandbox_mode=sandbox_mode)
        )
        self.stderr_path = root / "stderr.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        # An installed package has its bytecode compiled (pip does it); without this a shell
        # that sets PYTHONDONTWRITEBYTECODE would have our server recompile every module on
        # every start, which no user ever pays.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            # An empty HOME: the model's `bash -lc` commands would otherwise run this machine's
            # login profile (pyenv's takes ~0.35 s), which is no part of either server's cost.
            HOME=str(self.user_home),
            CODEX_HOME=str(self.codex_home),
            MOCK_API_KEY="bench-key",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        env.pop("OPENAI_API_KEY", None)
        env.update(self.extra_env)
        return env

    def cleanup(self) -> None:
        self._tmp.cleanup()


@dataclass
class CallState:
    done: threading.Event = field(default_factory=threading.Event)
    response: dict[str, Any] | None = None
    sent_at: float = 0.0
    answered_at: float = 0.0
    events: int = 0
    first_event_at: float = 0.0
    commands_ended: int = 0
    commands_failed: int = 0
    last_failure: str = ""
    first_delta_at: float = 0.0
    deltas: int = 0
    complete_at: float = 0.0
    events_at_first_delta: int = 0
    events_at_complete: int = 0
    progress_at: list[float] = field(default_factory=list)
    """When each `notifications/progress` for this call arrived (its token is the call's id)."""


def _proc_status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    with suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def _kb(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(x) for x in f.read().split()]
    return kids


class Server:
    """One running server process with a minimal JSON-RPC client."""

    def __init__(self, cmd: list[str], home: Home, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.home = home
        self.timeout = timeout
        self._ids = iter(range(1, 1 << 30))
        self._calls: dict[int, CallState] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.notifications = 0
        self._eof = False
        self._stderr = open(home.stderr_path, "ab")  # noqa: SIM115
        self.spawned_at = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=home.env(),
            cwd=home.workspace,
            start_new_session=True,
        )
        self.pid = self.proc.pid  # the measured process (see `resolve_server_pid`)
        self._reader = threading.Thread(target=self._read_loop, name="bench-reader", daemon=True)
        self._reader.start()

    # -- I/O --------------------------------------------------------------------------
    def _write(self, msg: dict[str, Any]) -> None:
        data = (json.dumps(msg) + "\n").encode()
        assert self.proc.stdin is not None
        try:
            with self._write_lock:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise BenchError(
                f"cannot write to the server ({exc}; exit {self.proc.poll()}){self._stderr_tail()}"
            ) from exc

    def _read_loop(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.perf_counter()
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            method = msg.get("method")
            if method is None and "id" in msg:
                with self._lock:
                    state = self._calls.get(msg["id"]) if isinstance(msg["id"], int) else None
                if state is not None:
                    state.response = msg
                    state.answered_at = now
                    state.done.set()
            elif method is not None and "id" in msg:  # a server->client request: refuse it
                err = {"code": -32601, "message": "not supported by the bench client"}
                with suppress(BenchError):
                    self._write({"jsonrpc": "2.0", "id": msg["id"], "error": err})
            elif method == "codex/event":
                self.notifications += 1
                self._on_event(msg.get("params") or {}, now)
            elif method == "notifications/progress":
                self.notifications += 1
                token = (msg.get("params") or {}).get("progressToken")
                with self._lock:
                    state = self._calls.get(token) if isinstance(token, int) else None
                if state is not None:
                    state.progress_at.append(now)
            else:
                self.notifications += 1
        with self._lock:
            self._eof = True
            for state in self._calls.values():
                state.done.set()

    def _on_event(self, params: dict[str, Any], now: float) -> None:
        meta = params.get("_meta") or {}
        rid = meta.get("requestId")
        with self._lock:
            state = self._calls.get(rid) if isinstance(rid, int) else None
        if state is None:
            return
        state.events += 1
        if state.events == 1:
            state.first_event_at = now
        kind = (params.get("msg") or {}).get("type")
        if kind in ("agent_message_delta", "agent_message_content_delta"):
            if not state.deltas:
                state.first_delta_at = now
                state.events_at_first_delta = state.events
            state.deltas += 1
        elif kind == "exec_command_end":
            state.commands_ended += 1
            end = params.get("msg") or {}
            if end.get("exit_code") != 0:
                state.commands_failed += 1
                output = end.get("aggregated_output") or end.get("stderr") or ""
                state.last_failure = f"exit {end.get('exit_code')}: {str(output)[-300:]}"
        elif kind == "task_complete":
            state.complete_at = now
            state.events_at_complete = state.events

    # -- requests ---------------------------------------------------------------------
    def send_request(self, method: str, params: dict[str, Any]) -> CallState:
        rid = next(self._ids)
        state = CallState()
        with self._lock:
            self._calls[rid] = state
            if self._eof:
                state.done.set()
        state.sent_at = time.perf_counter()
        self._write({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return state

    def wait(self, state: CallState, timeout: float | None = None) -> dict[str, Any]:
        if not state.done.wait(self.timeout if timeout is None else timeout):
            raise BenchError(f"no response within {timeout or self.timeout:.0f} s{self._stderr_tail()}")
        if state.response is None:
            raise BenchError(f"server closed its output (exit {self.proc.poll()}){self._stderr_tail()}")
        return state.response

    def request(self, method: str, params: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        response = self.wait(self.send_request(method, params), timeout)
        if "error" in response:
            raise BenchError(f"{method} failed: {response['error']}")
        return response

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self._write(msg)

    def initialize(self) -> None:
        self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "codex-mcp-bench", "version": "0"},
            },
            HANDSHAKE_TIMEOUT,
        )
        self.notify("notifications/initialized")

    def tools_list(self) -> dict[str, Any]:
        return self.request("tools/list", {}, HANDSHAKE_TIMEOUT)

    def start_codex(self, prompt: str, progress: bool = False) -> CallState:
        """A `codex` call; with `progress`, its `_meta.progressToken` is its request id."""
        args = {"prompt": prompt, "cwd": str(self.home.workspace)}
        rid = next(self._ids)
        state = CallState()
        with self._lock:
            self._calls[rid] = state
            if self._eof:
                state.done.set()
        params: dict[str, Any] = {"name": "codex", "arguments": args}
        if progress:
            params["_meta"] = {"progressToken": rid}
        state.sent_at = time.perf_counter()
        self._write({"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params})
        return state

    def codex(self, prompt: str, timeout: float | None = None) -> CallState:
        state = self.start_codex(prompt)
        check_call(self.wait(state, timeout))
        return state

    # -- measurement ------------------------------------------------------------------
    def resolve_server_pid(self) -> int:
        """Follow a wrapper (a launcher whose only child is bigger) to the real server."""
        pid = self.proc.pid
        for _ in range(3):
            kids = _children(pid)
            if len(kids) != 1 or _kb(_proc_status(kids[0]).get("VmRSS")) <= _kb(
                _proc_status(pid).get("VmRSS")
            ):
                break
            pid = kids[0]
        self.pid = pid
        return pid

    def vmhwm_mb(self) -> float:
        return _kb(_proc_status(self.pid).get("VmHWM")) / 1024

    def vmrss_mb(self) -> float:
        return _kb(_proc_status(self.pid).get("VmRSS")) / 1024

    def signal_and_time_exit(self, signum: int, timeout: float = 10.0) -> float:
        """Send `signum` to the server and return the seconds until it exited."""
        import select

        pidfd = os.pidfd_open(self.proc.pid)  # readable once it exited: no polling interval
        try:
            sent = time.perf_counter()
            self.proc.send_signal(signum)
            if not select.select([pidfd], [], [], timeout)[0]:
                raise BenchError(f"the server did not exit within {timeout:.0f} s of signal {signum}")
            return time.perf_counter() - sent
        finally:
            os.close(pidfd)

    def _wait_exit_no_reap(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.returncode is not None:
                return True
            try:
                info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return True
            if info is not None:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def _stderr_tail(self) -> str:
        with suppress(OSError):
            tail = self.home.stderr_path.read_bytes()[-1500:].decode(errors="replace").strip()
            if tail:
                return f"\n--- server stderr (tail) ---\n{tail}"
        return ""

    # -- teardown ---------------------------------------------------------------------
    def close(self, grace: float = 3.0) -> None:
        """EOF on stdin, then TERM/KILL the whole process group; the leader is reaped last
        (so its group id cannot have been reused while we signal it)."""
        with suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        exited = self._wait_exit_no_reap(grace)
        if not exited:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            exited = self._wait_exit_no_reap(2.0)
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(5.0)
        self._reader.join(timeout=2.0)
        with suppress(OSError, ValueError):
            assert self.proc.stdout is not None
            self.proc.stdout.close()
        self._stderr.close()


def check_call(response: dict[str, Any]) -> dict[str, Any]:
    if "error" in response:
        raise BenchError(f"tools/call failed: {response['error']}")
    result = response.get("result") or {}
    if result.get("isError"):
        text = " ".join(str(c.get("text", "")) for c in result.get("content") or [] if isinstance(c, dict))
        raise BenchError(f"codex call returned an error: {text[:300]}")
    return result


@contextmanager
def running(cmd: list[str], home: Home, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Server]:
    server = Server(cmd, home, timeout)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def ready(cmd: list[str], home: Home, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Server]:
    """A server that has answered initialize and tools/list."""
    with running(cmd, home, timeout) as server:
        server.initialize()
        server.tools_list()
        server.resolve_server_pid()
        yield server
