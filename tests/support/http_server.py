"""Starting `codex-mcp-server --http 127.0.0.1:0` as a real process, and a raw async client.

The server prints its URL on stderr once it listens; a thread reads stderr line by line
and signals the first URL it sees, so the test waits on an event (bounded), not a poll.
`RawHttp` speaks the Streamable HTTP wire with httpx: JSON replies, SSE streams parsed into
messages, and the session headers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT = 20.0
URL_LINE = re.compile(r"listening on (http://\S+)")
PROTOCOL = "2025-06-18"
ACCEPT_BOTH = "application/json, text/event-stream"


class HttpServerProcess:
    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        cwd: Path,
        rlimits: dict[int, tuple[int, int]] | None = None,
    ) -> None:
        """`rlimits` (resource.RLIMIT_* -> (soft, hard)) are set in the child before exec,
        e.g. a file-descriptor limit for a flood, or an address-space limit so that a
        server that regressed into buffering cannot take the machine down with it."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codex_mcp", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=(lambda: _set_limits(rlimits)) if rlimits else None,
        )
        self.lines: list[str] = []
        self._url: str | None = None
        self._ready = threading.Event()
        self._new_line = threading.Condition()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            with self._new_line:
                self.lines.append(line)
                self._new_line.notify_all()
            match = URL_LINE.search(line)
            if match and self._url is None:
                self._url = match.group(1)
                self._ready.set()
        self._ready.set()  # EOF: the process is gone

    def url(self, timeout: float = START_TIMEOUT) -> str:
        if not self._ready.wait(timeout) or self._url is None:
            raise AssertionError(f"the server printed no URL within {timeout} s:\n{self.stderr()}")
        return self._url

    def wait_line(self, pattern: str, timeout: float = START_TIMEOUT) -> str:
        """The first stderr line matching `pattern`, waiting (bounded) for it to be printed."""
        regex = re.compile(pattern)
        found: list[str] = []

        def seen() -> bool:
            found.extend(line for line in self.lines if regex.search(line))
            return bool(found)

        with self._new_line:
            if not self._new_line.wait_for(seen, timeout):
                raise AssertionError(f"no stderr line matched {pattern!r} within {timeout} s")
        return found[0]

    def stderr(self) -> str:
        return "".join(self.lines)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait (bounded) for a clean exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._reader.join(5)


def _set_limits(rlimits: dict[int, tuple[int, int]]) -> None:
    import resource

    for which, (soft, hard) in rlimits.items():
        resource.setrlimit(which, (soft, hard))


def parse_sse(lines: list[str]) -> dict[str, Any] | None:
    data = [line[5:].lstrip() for line in lines if line.startswith("data:")]
    if not data:
        return None
    text = "\n".join(data)
    return json.loads(text) if text.strip() else None


class RawHttp:
    """One MCP session spoken by hand over httpx."""

    def __init__(self, client: httpx.AsyncClient, url: str, protocol: str = PROTOCOL) -> None:
        self.client = client
        self.url = url
        self.protocol = protocol
        self.session_id: str | None = None

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {
            "content-type": "application/json",
            "accept": ACCEPT_BOTH,
            "mcp-protocol-version": self.protocol,
        }
        if self.session_id is not None:
            out["mcp-session-id"] = self.session_id
        out.update(extra or {})
        return out

    async def initialize(self, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        message = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": self.protocol,
                "capabilities": {"elicitation": {}} if capabilities is None else capabilities,
                "clientInfo": {"name": "codex-mcp-http-tests", "version": "0"},
            },
        }
        response = await self.client.post(self.url, json=message, headers=self.headers())
        assert response.status_code == 200, response.text
        self.session_id = response.headers["mcp-session-id"]
        note = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert note.status_code == 202, note.text
        return dict(response.json()["result"])

    async def post(self, message: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(self.url, content=json.dumps(message), headers=self.headers(headers))

    async def call(
        self, request_id: Any, method: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A request answered with application/json."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        response = await self.post(message)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/json")
        return dict(response.json())

    @contextlib.asynccontextmanager
    async def stream(
        self, message: dict[str, Any], method: str = "POST"
    ) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[dict[str, Any]]]]:
        """A POST (or GET) whose reply is an SSE stream, as (response, messages)."""
        content = None if method == "GET" else json.dumps(message)
        headers = self.headers({"accept": "text/event-stream"} if method == "GET" else None)
        async with self.client.stream(method, self.url, content=content, headers=headers) as response:

            async def messages() -> AsyncIterator[dict[str, Any]]:
                pending: list[str] = []
                async for line in response.aiter_lines():
                    if line:
                        pending.append(line)
                        continue
                    parsed = parse_sse(pending)
                    pending = []
                    if parsed is not None:
                        yield parsed

            yield response, messages()
