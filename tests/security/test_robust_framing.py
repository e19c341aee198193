"""Output framing and hostile nesting, judged on the bytes the client reads.

Every stdout line must be one JSON message whatever the model writes (U+2028, U+2029 and
U+0085 are line ends for some readers, so they must be escaped), and JSON nested far
beyond anything real, from the provider or from the client, must fail with a specific
parse error, with no traceback, while the server goes on answering.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.harness import assert_alive
from tests.security.robust_support import (
    PEAK_RSS_LIMIT_MB,
    MiB,
    PingMonitor,
    Spawner,
    assert_no_traceback,
    configure,
    events_frames,
    result_text,
    run_codex,
    spawner,
    sse,
    vm_hwm_mb,
)
from tests.support.scripted_model import ScriptedModel

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit and /proc")

BREAKS = "\u2028\u2029\x85"


@pytest.fixture
def spawn(
    codex_home: Path, workspace: Path, tmp_path: Path, scripted_model: ScriptedModel
) -> Iterator[Spawner]:
    with spawner(codex_home, workspace, tmp_path, scripted_model) as s:
        yield s


@pytest.mark.parametrize("wire", ["responses", "chat"])
def test_unicode_line_breaks_never_reach_stdout_raw(
    wire: str, scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner
) -> None:
    configure(codex_home, scripted_model, wire_api=wire)
    text = f"one{BREAKS[0]}two{BREAKS[1]}three{BREAKS[2]}four é \ud7ff"
    client = spawn(keep_raw=True)
    scripted_model.update_plan([{"step": f"plan{BREAKS}", "status": "pending"}])
    scripted_model.text(text, chunks=5)
    _, result = run_codex(client)
    assert result_text(result) == text
    raw = b"\n".join(client.raw)
    for char in BREAKS:
        assert char.encode() not in raw
    for line in client.raw:
        assert len(line.decode("utf-8").splitlines()) <= 1
        json.loads(line)
    plans = [
        n["params"]["msg"]
        for n in client.notifications("codex/event")
        if n["params"]["msg"]["type"] == "plan_update"
    ]
    assert plans and plans[0]["plan"][0]["step"] == f"plan{BREAKS}"


@pytest.mark.parametrize("depth", [100_000, 950, 101])
def test_deep_json_from_the_client(depth: int, spawn: Spawner) -> None:
    client = spawn()
    nested = "[" * depth + "]" * depth
    client.send_raw(f'{{"jsonrpc": "2.0", "id": 77, "method": "ping", "params": {{"x": {nested}}}}}')
    reply = client.wait_for(lambda m: m.get("id") in (77, None) and "error" in m)
    assert reply["error"]["code"] == -32700
    assert "nested more than 100 levels deep" in reply["error"]["message"]
    assert_alive(client)
    assert_no_traceback(client)


def test_deep_tool_arguments_from_the_client(spawn: Spawner) -> None:
    client = spawn()
    config = {"a": 1}
    for _ in range(500):
        config = {"a": config}
    rid = client.call_tool("codex", {"prompt": "x", "config": config})
    reply = client.wait_response(rid)
    assert reply.get("error", {}).get("code") == -32700, reply
    assert_alive(client)
    assert_no_traceback(client)


def test_bracket_bomb_from_the_client(spawn: Spawner) -> None:
    client = spawn()
    with PingMonitor(client) as monitor:
        client.send_raw(
            '{"jsonrpc": "2.0", "id": 5, "method": "ping", "params": {"x": [' + "[]," * MiB + "[]]}}"
        )
        reply = client.wait_for(lambda m: "error" in m and m.get("id") is None)
    monitor.check()
    assert "more than 100000 opening brackets" in reply["error"]["message"]
    assert vm_hwm_mb(client.proc.pid) < PEAK_RSS_LIMIT_MB
    assert_alive(client)


def test_nan_from_the_provider_is_written_as_null(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    client = spawn(keep_raw=True)
    item = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "n"}]}
    event = sse({"type": "response.output_item.done", "item": item}).replace(b'"n"}]', b'"n", "x": NaN}]')
    scripted_model.raw(events_frames([event]))
    _, result = run_codex(client)
    assert result_text(result) == "n"
    for line in client.raw:
        assert b"NaN" not in line
        json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} on stdout"))
    assert_no_traceback(client)
