"""The server-wide process cap over `--http`: every MCP session has its own agent, and the
cap must still hold for the whole server process.  Three sessions, one `codex` call each,
open 24 sessions against a cap of 12: 12 run (the server's descendants counted from
outside), 12 are refused, and deleting the sessions leaves no process behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.security.backends_support import kill_all, nap, needs_linux, sleepers, wait_dead
from tests.security.exec_cap_support import CAP, CAP_CONFIG, queue_sleepers, sleeps_under, tally
from tests.support.http_server import HttpServerProcess, RawHttp
from tests.support.raw_client import wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import server_env, write_config

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.anyio, pytest.mark.timeout(300)]

SESSIONS = 3


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def one_session(
    url: str, index: int, results: list[dict[str, Any]], all_called: anyio.Event, release: anyio.Event
) -> None:
    """Open a session, run one `codex` call, and delete the session once `release` is set
    (`all_called` is set when every session's call has answered)."""
    async with httpx.AsyncClient(timeout=240, trust_env=False) as client:
        raw = RawHttp(client, url)
        await raw.initialize()
        arguments = {"prompt": "go", "approval-policy": "never", "sandbox": "workspace-write"}
        call = {
            "jsonrpc": "2.0",
            "id": index,
            "method": "tools/call",
            "params": {"name": "codex", "arguments": arguments},
        }
        async with raw.stream(call) as (response, messages):
            assert response.status_code == 200, response.status_code
            async for message in messages:
                if message.get("id") == index:
                    results.append(message)
                    if len(results) == SESSIONS:
                        all_called.set()
                    break
        await release.wait()
        deleted = await client.delete(url, headers=raw.headers())
        assert deleted.status_code in (200, 204), deleted.text


async def test_http_sessions_share_one_cap(scripted_model: ScriptedModel, tmp_path: Path) -> None:
    m = scripted_model
    duration = nap()
    for _ in range(SESSIONS):
        queue_sleepers(m, duration, 8)
    for _ in range(SESSIONS):
        m.text("done")
    home, workspace = tmp_path / "codex-home", tmp_path / "workspace"
    workspace.mkdir()
    write_config(home, m, extra=CAP_CONFIG)
    server = HttpServerProcess(["--http", "127.0.0.1:0"], server_env(home), workspace)
    try:
        url = server.url()
        pid = server.proc.pid
        results: list[dict[str, Any]] = []
        all_called, release = anyio.Event(), anyio.Event()
        peak = 0

        async def count() -> None:
            nonlocal peak
            while True:
                peak = max(peak, len(await anyio.to_thread.run_sync(sleeps_under, pid, duration)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(count)
            async with anyio.create_task_group() as calls:
                for index in range(SESSIONS):
                    calls.start_soon(one_session, url, index, results, all_called, release)
                with anyio.fail_after(240):
                    await all_called.wait()
                assert not any(r["result"].get("isError") for r in results), results
                live = await anyio.to_thread.run_sync(sleeps_under, pid, duration)
                opened, refused, _ = tally(m)
                assert (opened, refused, len(live)) == (CAP, SESSIONS * 8 - CAP, CAP)
                release.set()
            tg.cancel_scope.cancel()
        assert peak <= CAP, peak
        # The sessions were deleted: their agents closed, their processes ended.
        wait_until(lambda: not sleeps_under(pid, duration), 30, "the deleted sessions' processes ended")
        assert server.proc.poll() is None
    finally:
        left = sleepers(duration)
        server.kill()
        assert not wait_dead(left, 10)
        kill_all(sleepers(duration))
