"""Scale-out on real parts: two `codex-mcp-server --http` processes sharing one CODEX_HOME
behind HAProxy from Debian, configured exactly as `docs/deploy.md` shows.

Judged from outside: each session sticks to the process that created it (the other one
would answer 404); a thread started through one process is continued with `codex-reply`
through the other, and back (the model sees the whole conversation each time); while one
process runs a turn on the thread, a `codex-reply` through the other is refused with a
clear error carrying the thread id; and the rollout holds every turn whole, in order, with
no line of the refused call.  The documented systemd unit passes `systemd-analyze verify`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.support.http_server import HttpServerProcess, RawHttp
from tests.support.model_turns import text_turn
from tests.support.proxy import DOCS_CONFIG, Haproxy, ensure_haproxy
from tests.support.raw_client import wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import server_env

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PROTOCOL = "2025-11-25"
FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}
WAIT = 60.0


@dataclass
class Farm:
    servers: list[HttpServerProcess]
    proxy: Haproxy

    def process_of(self, session_id: str) -> int:
        """Which server created `session_id` (each logs the sessions it starts; the log line
        may reach us a moment after the response that named the session)."""
        line = f"session {session_id} started"
        wait_until(lambda: any(line in s.stderr() for s in self.servers), 10, f"a server to log {line!r}")
        owners = [n for n, s in enumerate(self.servers) if line in s.stderr()]
        assert len(owners) == 1, owners
        return owners[0]


@pytest.fixture
def farm(codex_home: Path, workspace: Path, tmp_path: Path) -> Iterator[Farm]:
    program = ensure_haproxy()
    env = {**server_env(codex_home), "CODEX_MCP_LOG": "info"}
    servers = [HttpServerProcess(["--http", "127.0.0.1:0"], env, workspace) for _ in range(2)]
    proxy: Haproxy | None = None
    try:
        ports = [int(s.url().rsplit(":", 1)[1].split("/", 1)[0]) for s in servers]
        proxy = Haproxy(program, ports, tmp_path)
        yield Farm(servers, proxy)
    finally:
        if proxy is not None:
            proxy.stop()
        for server in servers:
            server.kill()
            print(f"--- server stderr ---\n{server.stderr()[-4000:]}")


@asynccontextmanager
async def session(url: str) -> AsyncIterator[RawHttp]:
    async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as http:
        raw = RawHttp(http, url, protocol=PROTOCOL)
        await raw.initialize()
        yield raw


async def call(raw: RawHttp, request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tools/call through the proxy; its answer comes on an SSE stream after its events."""
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    async with raw.stream(message) as (response, messages):
        assert response.status_code == 200, await response.aread()
        async for received in messages:
            if received.get("id") == request_id and "method" not in received:
                return dict(received["result"])
    raise AssertionError("the call's stream ended without its response")


async def sessions_on_both(farm: Farm) -> tuple[RawHttp, RawHttp, list[Any]]:
    """One session created by each process (round robin puts consecutive ones on both)."""
    opened: list[Any] = []
    by_process: dict[int, RawHttp] = {}
    for _ in range(6):
        context = session(farm.proxy.url)
        raw = await context.__aenter__()
        opened.append(context)
        assert raw.session_id is not None
        by_process.setdefault(farm.process_of(raw.session_id), raw)
        if len(by_process) == 2:
            return by_process[0], by_process[1], opened
    raise AssertionError("the proxy never balanced a new session onto the second process")


def user_messages(rollout: Path) -> list[str]:
    lines = [json.loads(line) for line in rollout.read_text().splitlines()]  # every line whole
    return [
        line["payload"]["message"]
        for line in lines
        if line["type"] == "event_msg" and line["payload"].get("type") == "user_message"
    ]


@pytest.mark.anyio
async def test_threads_continue_across_processes_and_never_interleave(
    farm: Farm, scripted_model: ScriptedModel, codex_home: Path
) -> None:
    scripted_model.text("answer one")
    scripted_model.text("answer two")
    scripted_model.text("answer three")
    gate = scripted_model.hold(then=text_turn("answer four"))
    scripted_model.text("answer five")
    with anyio.fail_after(WAIT * 2):
        first, second, opened = await sessions_on_both(farm)
        try:
            # Affinity: every request of a session reaches its own process (the other one
            # would answer 404 "Session not found").
            for raw in (first, second):
                for n in range(10):
                    assert (await raw.call(f"ping-{n}", "ping"))["result"] == {}

            started = await call(first, 1, "codex", {"prompt": "one, through the first process", **FULL})
            thread_id = started["structuredContent"]["threadId"]
            assert started["structuredContent"]["content"] == "answer one"

            # The second process never saw the thread: it resumes it from the shared rollout.
            two = await call(
                second, 2, "codex-reply", {"threadId": thread_id, "prompt": "two, through the second"}
            )
            assert two["structuredContent"] == {"threadId": thread_id, "content": "answer two"}
            assert "one, through the first process" in str(scripted_model.wait_requests(2)[1].items())

            # Back to the first, which still holds the thread from before the second's turn.
            three = await call(
                first, 3, "codex-reply", {"threadId": thread_id, "prompt": "three, first again"}
            )
            assert three["structuredContent"]["content"] == "answer three"
            assert "two, through the second" in str(scripted_model.wait_requests(3)[2].items())

            # A turn running in the first process: the second refuses to write the thread.
            async with anyio.create_task_group() as group:
                results: list[dict[str, Any]] = []

                async def long_turn() -> None:
                    results.append(
                        await call(first, 4, "codex-reply", {"threadId": thread_id, "prompt": "four, long"})
                    )

                group.start_soon(long_turn)
                await anyio.to_thread.run_sync(gate.wait_arrived)
                refused = await call(
                    second, 5, "codex-reply", {"threadId": thread_id, "prompt": "five, refused"}
                )
                assert refused["isError"] is True
                text = " ".join(c["text"] for c in refused["content"])
                assert "one turn at a time" in text and f"threadId: {thread_id}" in text
                gate.release()
            assert results[0]["structuredContent"]["content"] == "answer four"

            five = await call(second, 6, "codex-reply", {"threadId": thread_id, "prompt": "five, after"})
            assert five["structuredContent"]["content"] == "answer five"
            assert "four, long" in str(scripted_model.wait_requests(5)[4].items())
        finally:
            for context in reversed(opened):
                await context.__aexit__(None, None, None)
    rollouts = list((codex_home / "sessions").glob(f"*/*/*/rollout-*-{thread_id}.jsonl"))
    assert len(rollouts) == 1
    assert user_messages(rollouts[0]) == [
        "one, through the first process",
        "two, through the second",
        "three, first again",
        "four, long",
        "five, after",
    ], "every turn whole and in order; nothing of the refused call"


def test_the_documented_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = DOCS_CONFIG.read_text(encoding="utf-8")
    match = re.search(r"```ini\n# /etc/systemd/system/codex-mcp\.service\n(.*?)```", text, re.DOTALL)
    assert match, "docs/deploy.md has no systemd unit block"
    server = Path(shutil.which("codex-mcp-server") or "/nonexistent")
    unit = tmp_path / "codex-mcp.service"
    unit.write_text(match.group(1).replace("/opt/codex-mcp/bin/codex-mcp-server", str(server)))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", f"systemd-analyze found problems:\n{done.stderr}"
