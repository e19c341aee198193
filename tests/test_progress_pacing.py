"""`notifications/progress`: paced, and never racing the response it belongs to.

Units drive the pacer and the writers' filters in process; the end-to-end tests put the
official `mcp` SDK client in front of the real server, over stdio (through a recording pipe,
`tests/support/stdio_tap.py`) and over Streamable HTTP (through a recording proxy), and check
on the wire what the client got: every progress notification of a call before its response,
strictly increasing, and at most the paced number on a long, busy turn.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.http.endpoint import _without_progress_before_response
from codex_mcp.outgoing import Outbound, drop_superseded_progress
from codex_mcp.tools.progress import PROGRESS_BURST, PROGRESS_INTERVAL, ProgressPacer
from tests.support.http_server import HttpServerProcess
from tests.support.http_tap import HttpTap
from tests.support.scripted_model import ScriptedModel
from tests.support.server import server_env
from tests.support.stdio_tap import read_record

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]

FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}
WAIT = 60.0
PROGRESS = "notifications/progress"
REPO = Path(__file__).resolve().parent.parent


# -- the pacer -----------------------------------------------------------------------------


class Sent:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.at: list[float] = []
        self.changed = anyio.Event()

    async def __call__(self, text: str) -> None:
        self.texts.append(text)
        self.at.append(anyio.current_time())
        self.changed.set()

    async def wait_count(self, n: int) -> None:
        with anyio.fail_after(10):
            while len(self.texts) < n:
                self.changed = anyio.Event()
                if len(self.texts) >= n:
                    break
                await self.changed.wait()


@asynccontextmanager
async def running(pacer: ProgressPacer) -> AsyncIterator[None]:
    async with anyio.create_task_group() as group:
        group.start_soon(pacer.run)
        yield
        pacer.stop()


async def test_a_burst_goes_out_at_once_and_the_rest_is_coalesced() -> None:
    sent = Sent()
    pacer = ProgressPacer(sent, burst=3, interval=0.05, heartbeat=60)
    async with running(pacer):
        for n in range(10):
            await pacer.note(f"step {n}")
        # The burst left at once, in order, without waiting for the pacer's task.
        assert sent.texts == ["step 0", "step 1", "step 2"]
        await sent.wait_count(4)
        # Steps 3..8 were replaced by newer ones before a token came back: only the latest
        # one is announced.
        assert sent.texts[3] == "step 9"
    assert pacer.sent == 4


async def test_a_steady_stream_is_held_to_the_interval() -> None:
    sent = Sent()
    interval = 0.02
    pacer = ProgressPacer(sent, burst=2, interval=interval, heartbeat=60)
    started = anyio.current_time()
    async with running(pacer):
        for n in range(200):
            await pacer.note(f"step {n}")
            await anyio.lowlevel.checkpoint()
            if anyio.current_time() - started > 0.3:
                break
        await sent.wait_count(3)
        elapsed = anyio.current_time() - started
    # A bound, not a timing: no more than the burst plus one per interval ever left.
    assert len(sent.texts) <= 2 + elapsed / interval + 1, (len(sent.texts), elapsed)


async def test_silence_repeats_the_last_message_as_a_heartbeat() -> None:
    sent = Sent()
    pacer = ProgressPacer(sent, burst=4, interval=0.01, heartbeat=0.05)
    async with running(pacer):
        await pacer.note("Running: make")
        await sent.wait_count(3)
    assert sent.texts[:3] == ["Running: make"] * 3
    assert all(b - a >= 0.05 for a, b in zip(sent.at, sent.at[1:], strict=False)), sent.at


async def test_stop_drops_what_waits_and_nothing_follows() -> None:
    sent = Sent()
    pacer = ProgressPacer(sent, burst=1, interval=10, heartbeat=0.01)
    async with anyio.create_task_group() as group:
        group.start_soon(pacer.run)
        await pacer.note("first")
        await pacer.note("waiting for a token")
        pacer.stop()
    # `run` has returned: nothing can be sent any more, the waiting step never was.
    await pacer.note("after the end")
    assert sent.texts == ["first"]


async def test_settle_keeps_the_response_apart_from_the_last_notification() -> None:
    sent = Sent()
    pacer = ProgressPacer(sent, burst=4, interval=0.01, heartbeat=60, gap=0.05)
    await pacer.settle()  # nothing sent: nothing to wait for
    await pacer.note("one")
    await pacer.settle()
    assert anyio.current_time() - sent.at[-1] >= 0.05


def test_pacer_refuses_a_zero_interval() -> None:
    with pytest.raises(ValueError):
        ProgressPacer(Sent(), interval=0)


# -- the writers ---------------------------------------------------------------------------


def _note(method: str, request: Any) -> Outbound:
    return ({"jsonrpc": "2.0", "method": method, "params": {}}, request, False)


def _response(request: Any) -> Outbound:
    return ({"jsonrpc": "2.0", "id": request, "result": {}}, request, True)


def test_a_response_drops_its_progress_from_the_same_write() -> None:
    batch = [
        _note(PROGRESS, 1),
        _note("codex/event", 1),
        _note(PROGRESS, "1"),  # another request whose id merely prints the same
        _note(PROGRESS, 2),
        _response(1),
        _note(PROGRESS, None),
    ]
    kept = drop_superseded_progress(batch)
    assert kept == [batch[1], batch[2], batch[3], batch[4], batch[5]]
    without_response = batch[:4]
    assert drop_superseded_progress(without_response) is without_response
    ended_without_response: list[Outbound] = [_note(PROGRESS, 7), (None, 7, True)]
    assert drop_superseded_progress(ended_without_response) == [(None, 7, True)]


def test_an_sse_chunk_with_the_response_drops_its_progress() -> None:
    progress = {"jsonrpc": "2.0", "method": PROGRESS, "params": {}}
    event = {"jsonrpc": "2.0", "method": "codex/event", "params": {}}
    response = {"jsonrpc": "2.0", "id": 3, "result": {}}
    assert _without_progress_before_response([progress, event, response]) == [event, response]
    assert _without_progress_before_response([event, progress]) == [event, progress]


# -- with the mcp SDK, on the wire -----------------------------------------------------------


def busy_turn(model: ScriptedModel, steps: int) -> None:
    """A turn of `steps` commands, one per model round, each a tenth of a second: many steps
    worth a progress notification, for longer than the burst covers."""
    for n in range(steps):
        model.shell(f"sleep 0.1; echo step-{n}")
    model.text("busy turn done")


def quick_turns(model: ScriptedModel, calls: int) -> None:
    """Turns that end the moment they start: the case where progress used to race."""
    for n in range(calls):
        model.shell(f"echo quick-{n}")
        model.text(f"quick answer {n}")


def check_wire(messages: list[tuple[int, dict[str, Any]]], calls: dict[Any, Any]) -> dict[Any, int]:
    """For every call (request id -> progress token): its progress is strictly increasing and
    all of it came before its response.  `messages` are (chunk index, message) in wire
    order.  Returns the number of progress notifications per call."""
    counts: dict[Any, int] = {}
    for request_id, token in calls.items():
        position = next(
            i
            for i, (_, m) in enumerate(messages)
            if m.get("id") == request_id and type(m.get("id")) is type(request_id) and "method" not in m
        )
        mine = [
            (i, m)
            for i, (_, m) in enumerate(messages)
            if m.get("method") == PROGRESS and m["params"].get("progressToken") == token
        ]
        assert all(i < position for i, _ in mine), f"progress after the response to {request_id!r}"
        values = [m["params"]["progress"] for _, m in mine]
        assert values == sorted(set(values)), values
        counts[request_id] = len(mine)
    return counts


def paced_bound(seconds: float) -> float:
    return PROGRESS_BURST + seconds / PROGRESS_INTERVAL + 1


async def _sdk_calls(session: Any, quick: int) -> tuple[list[Any], float]:
    """The busy call, then `quick` quick ones; returns the results and the busy call's length."""
    received: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        received.append(value)

    started = anyio.current_time()
    results = [await session.call_tool("codex", {"prompt": "busy", **FULL}, progress_callback=on_progress)]
    busy_seconds = anyio.current_time() - started
    for n in range(quick):
        results.append(
            await session.call_tool("codex", {"prompt": f"quick {n}", **FULL}, progress_callback=on_progress)
        )
    assert received, "no progress reached the SDK's callback"
    return results, busy_seconds


async def test_sdk_over_stdio_gets_paced_progress_before_each_response(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, tmp_path: Path
) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    steps, quick = 12, 6
    busy_turn(scripted_model, steps)
    quick_turns(scripted_model, quick)
    record = tmp_path / "stdout.record"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tests.support.stdio_tap", str(record), "--", sys.executable, "-m", "codex_mcp"],
        env={**server_env(codex_home), "PYTHONPATH": str(REPO)},
        cwd=workspace,
    )
    with (tmp_path / "server.stderr").open("w") as errlog, anyio.fail_after(WAIT):
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            results, busy_seconds = await _sdk_calls(session, quick)
    assert [r.structured_content["content"] for r in results] == [
        "busy turn done",
        *(f"quick answer {n}" for n in range(quick)),
    ]
    chunks = read_record(record)
    messages = [(i, m) for i, (_, batch) in enumerate(chunks) for m in batch]
    calls = _calls_from_responses(messages)
    counts = check_wire(messages, calls)
    busy_id = min(calls)
    assert 3 <= counts[busy_id] <= paced_bound(busy_seconds), (counts, busy_seconds)
    print(f"busy turn: {counts[busy_id]} progress notifications in {busy_seconds:.2f} s ({steps} commands)")


def _calls_from_responses(messages: list[tuple[int, dict[str, Any]]]) -> dict[Any, Any]:
    """The tools/call requests, by the SDK's convention: the request id is the progress token."""
    ids = {
        m["id"]
        for _, m in messages
        if "method" not in m and isinstance(m.get("result"), dict) and "structuredContent" in m["result"]
    }
    return {request_id: request_id for request_id in ids}


async def test_sdk_over_http_gets_paced_progress_before_each_response(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    steps, quick = 12, 6
    busy_turn(scripted_model, steps)
    quick_turns(scripted_model, quick)
    server = HttpServerProcess(["--http", "127.0.0.1:0"], server_env(codex_home), workspace)
    try:
        with HttpTap(server.url()) as tap, anyio.fail_after(WAIT):
            async with (
                streamable_http_client(tap.url) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                results, busy_seconds = await _sdk_calls(session, quick)
            seen = tap.messages()
    finally:
        server.kill()
    assert all(not r.is_error for r in results), results
    sent = {
        s.message["id"]: s.message["params"]["_meta"]["progressToken"]
        for s in seen
        if s.direction == "client" and s.message.get("method") == "tools/call"
    }
    messages = [(i, s.message) for i, s in enumerate(seen) if s.direction == "server"]
    counts = check_wire(messages, sent)
    busy_id = min(sent)
    assert 3 <= counts[busy_id] <= paced_bound(busy_seconds), (counts, busy_seconds)
