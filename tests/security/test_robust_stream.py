"""A hostile model provider's stream: huge events, endless lines, floods, bombs and trickles.

Each attack runs against the real server (under an address-space limit) and a real HTTP
provider on loopback; it is judged from outside: the server answers `ping` within
`PING_BOUND` throughout, its peak RSS stays under `PEAK_RSS_LIMIT_MB`, the call ends with
an error that names the limit, and stderr holds no traceback.
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.security.harness import assert_alive
from tests.security.robust_support import (
    PEAK_RSS_LIMIT_MB,
    LeanClient,
    MiB,
    PingMonitor,
    Spawner,
    assert_no_traceback,
    chat_chunk,
    configure,
    created,
    endless,
    events_frames,
    huge_delta_frames,
    result_text,
    run_codex,
    spawner,
    sse,
    vm_hwm_mb,
)
from tests.support.raw_client import descendant_pids, wait_until
from tests.support.scripted_model import ScriptedModel, Turn, function_call

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit and /proc")


@pytest.fixture
def spawn(
    codex_home: Path, workspace: Path, tmp_path: Path, scripted_model: ScriptedModel
) -> Iterator[Spawner]:
    with spawner(codex_home, workspace, tmp_path, scripted_model) as s:
        yield s


def attack(client: LeanClient, timeout: float = 90.0) -> dict[str, Any]:
    """Run one `codex` call under the ping monitor; returns its result."""
    with PingMonitor(client) as monitor:
        _, result = run_codex(client, timeout)
    worst = monitor.check()
    print(f"worst ping {worst:.2f} s, peak RSS {vm_hwm_mb(client.proc.pid):.0f} MB")
    return result


def judge(client: LeanClient, result: dict[str, Any], fragment: str) -> None:
    assert result.get("isError") is True, result
    assert fragment in result_text(result), result_text(result)
    assert vm_hwm_mb(client.proc.pid) < PEAK_RSS_LIMIT_MB
    assert_no_traceback(client)


def test_one_50_mb_text_delta(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    client = spawn()
    scripted_model.raw(huge_delta_frames(50 * MiB))
    result = attack(client)
    judge(client, result, "SSE line larger than 8 MiB")


def test_endless_line(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    client = spawn()
    scripted_model.raw(endless(b"B" * 65536))
    result = attack(client)
    judge(client, result, "SSE line larger than 8 MiB")


def test_one_50_mb_reasoning_summary_delta(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    client = spawn()
    scripted_model.raw(huge_delta_frames(50 * MiB, kind="response.reasoning_summary_text.delta"))
    result = attack(client)
    judge(client, result, "SSE line larger than 8 MiB")


def test_endless_event_of_short_lines(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    client = spawn()
    scripted_model.raw(endless(b"data: x\n" * 8192))
    result = attack(client)
    judge(client, result, "SSE event larger than 8 MiB")


def test_endless_comment_lines_without_a_blank_line(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    client = spawn()
    scripted_model.raw(endless(b": keep-alive\n" * 4096))
    result = attack(client)
    judge(client, result, "SSE event larger than 8 MiB")


def test_flood_of_small_deltas_is_forwarded_with_bounded_memory(
    scripted_model: ScriptedModel, spawn: Spawner
) -> None:
    n = 200_000
    piece = b"".join(sse({"type": "response.output_text.delta", "delta": f"t{i} "}) for i in range(1000))
    client = spawn()
    before = client.deltas
    scripted_model.raw(events_frames([piece] * (n // 1000)))
    result = attack(client)
    assert result.get("isError") is not True, result
    assert client.deltas - before == n
    assert vm_hwm_mb(client.proc.pid) < PEAK_RSS_LIMIT_MB
    assert_no_traceback(client)


def test_gzip_bomb(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    body = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    parts = [
        body.compress(created()),
        body.compress(b'data: {"type": "response.output_text.delta", "delta": "'),
    ]
    block = b"A" * MiB
    parts += [body.compress(block) for _ in range(512)]
    parts.append(body.flush())
    bomb = b"".join(parts)
    assert len(bomb) < 2 * MiB  # 512 MiB once inflated
    client = spawn()
    scripted_model.raw(lambda: [bomb], headers={"Content-Encoding": "gzip"})
    result = attack(client)
    judge(client, result, "SSE line larger than 8 MiB")


def test_unsupported_content_encoding(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    client = spawn()
    scripted_model.raw(events_frames([]), headers={"Content-Encoding": "br"})
    result = attack(client)
    judge(client, result, "unsupported content-encoding `br`")


def test_bracket_bomb_event(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    pad = "[" + "[]," * (2 * MiB) + "[]]"
    event = f'{{"type": "response.output_text.delta", "delta": "x", "pad": {pad}}}'
    client = spawn()
    scripted_model.raw(events_frames([f"data: {event}\n\n".encode()]))
    result = attack(client)
    judge(client, result, "an SSE event with more than 100000 opening brackets")


@pytest.mark.parametrize("depth", [100_000, 900])
def test_deep_json_event(depth: int, scripted_model: ScriptedModel, spawn: Spawner) -> None:
    nested = "[" * depth + "]" * depth
    event = f'{{"type": "response.output_item.done", "item": {{"type": "message", "x": {nested}}}}}'
    client = spawn()
    scripted_model.raw(events_frames([f"data: {event}\n\n".encode()]))
    result = attack(client)
    judge(client, result, "levels deep")
    assert_alive(client)


def test_deep_output_item_field(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    nested = '{"a":' * 300 + "1" + "}" * 300
    item = (
        '{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}], '
        f'"annotations": {nested}}}'
    )
    event = f'{{"type": "response.output_item.done", "item": {item}}}'
    client = spawn()
    scripted_model.raw(events_frames([f"data: {event}\n\n".encode()]))
    result = attack(client)
    judge(client, result, "output item nested more than 100 levels deep")


def test_output_items_over_the_response_budget(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    blob = "e" * (4 * MiB)
    item = sse(
        {
            "type": "response.output_item.done",
            "item": {"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": blob},
        }
    )
    client = spawn()
    scripted_model.raw(events_frames([item] * 9))
    result = attack(client)
    judge(client, result, "more than 32 MiB of output items")


def test_history_that_outgrows_one_request(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    # Each response keeps 24 MiB (under its own budget) and calls a tool, so the next
    # request carries all of it: the fourth would be over 64 MiB and is never sent.
    blob = "h" * (6 * MiB)
    reasoning = sse(
        {
            "type": "response.output_item.done",
            "item": {"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": blob},
        }
    )
    plan = {"plan": [{"step": "grow", "status": "in_progress"}]}
    call = sse(
        {
            "type": "response.output_item.done",
            "item": {
                "type": "function_call",
                "name": "update_plan",
                "arguments": json.dumps(plan),
                "call_id": "call_grow",
            },
        }
    )
    client = spawn()
    for _ in range(3):
        scripted_model.raw(events_frames([reasoning] * 4 + [call]))
    scripted_model.text("never asked")
    result = attack(client)
    judge(client, result, "MiB one request may carry; start a new thread")
    assert len(scripted_model.requests) == 4  # the warm-up and three rounds


# --- the Chat Completions wire -------------------------------------------------------------


def test_chat_50_mb_content_delta(scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner) -> None:
    configure(codex_home, scripted_model, wire_api="chat")

    def frames() -> Iterator[bytes]:
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "'
        block = b"C" * 65536
        for _ in range(50 * 16):
            yield block
        yield b'"}}]}\n\n'

    client = spawn()
    scripted_model.raw(frames)
    result = attack(client)
    judge(client, result, "SSE line larger than 8 MiB")


def test_chat_endless_argument_fragments(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner
) -> None:
    configure(codex_home, scripted_model, wire_api="chat")
    first = chat_chunk(
        {"tool_calls": [{"index": 0, "id": "call_x", "function": {"name": "shell", "arguments": ""}}]}
    )
    fragment = chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "z" * MiB}}]})

    def frames() -> Iterator[bytes]:
        yield first
        while True:
            yield fragment

    client = spawn()
    scripted_model.raw(frames)
    result = attack(client)
    judge(client, result, "more than 32 MiB of output items")


def test_chat_endless_small_text_deltas_are_bounded(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner
) -> None:
    configure(codex_home, scripted_model, wire_api="chat", extra='[codex_mcp]\nevent_stream = "minimal"\n')
    piece = chat_chunk({"content": "w" * 4000}) * 256

    def frames() -> Iterator[bytes]:
        while True:
            yield piece

    client = spawn()
    scripted_model.raw(frames)
    result = attack(client)
    judge(client, result, "more than 32 MiB of output items")


# --- the turn bound ------------------------------------------------------------------------

BOUND = 3


def test_trickle_one_byte_every_10_ms(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner
) -> None:
    configure(codex_home, scripted_model, extra=f"[codex_mcp]\nturn_timeout_sec = {BOUND}\n")
    client = spawn()
    scripted_model.raw(endless(b"x", interval=0.01))
    started = time.monotonic()
    result = attack(client, timeout=BOUND + 30)
    assert time.monotonic() - started >= BOUND
    judge(client, result, f"took longer than {BOUND} s (`turn_timeout_sec`)")


def test_keep_alive_comments_forever(scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner) -> None:
    configure(codex_home, scripted_model, extra=f"[codex_mcp]\nturn_timeout_sec = {BOUND}\n")
    client = spawn()
    scripted_model.raw(endless(b": ping\n\n", interval=0.01))
    result = attack(client, timeout=BOUND + 30)
    judge(client, result, "(`turn_timeout_sec`)")


def test_model_that_never_stops_calling_tools(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner
) -> None:
    configure(codex_home, scripted_model, extra=f"[codex_mcp]\nturn_timeout_sec = {BOUND}\n")
    client = spawn()
    scripted_model.default = Turn(
        "calls", calls=[function_call("update_plan", {"plan": [{"step": "again", "status": "in_progress"}]})]
    )
    result = attack(client, timeout=BOUND + 30)
    judge(client, result, "(`turn_timeout_sec`)")
    assert len(scripted_model.requests) > 3


def test_turn_bound_stops_a_running_command_and_reaps_it(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner
) -> None:
    configure(codex_home, scripted_model, extra=f"[codex_mcp]\nturn_timeout_sec = {BOUND}\n")
    client = spawn()
    call_id = scripted_model.shell("sleep 600")
    result = attack(client, timeout=BOUND + 30)
    judge(client, result, "(`turn_timeout_sec`)")
    wait_until(lambda: not descendant_pids(client.proc.pid), 10, "the command to be reaped")
    assert_alive(client)
    # The next turn of the thread sees an output for the call the bound cut short.
    thread_id = result["structuredContent"]["threadId"]
    scripted_model.text("after the bound")
    rid = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "again"})
    assert result_text(client.wait_response(rid, 30)["result"]) == "after the bound"
    assert "turn_timeout_sec" in scripted_model.call_output(call_id)
