"""A hostile model's tool calls: arguments, names, plans and JSON shapes it alone chooses.

Each refused call must come back to the model as that call's output (the turn goes on and
the model's next answer ends it normally), while the server keeps answering `ping` within
`PING_BOUND`, stays under `PEAK_RSS_LIMIT_MB` and writes no traceback.
"""

from __future__ import annotations

import json
import sys
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
    events_frames,
    result_text,
    run_codex,
    spawner,
    sse,
    vm_hwm_mb,
)
from tests.support.scripted_model import ScriptedModel

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit and /proc")


@pytest.fixture
def spawn(
    codex_home: Path, workspace: Path, tmp_path: Path, scripted_model: ScriptedModel
) -> Iterator[Spawner]:
    with spawner(codex_home, workspace, tmp_path, scripted_model) as s:
        yield s


def call_event(name: str, arguments: str, call_id: str) -> bytes:
    item = {"type": "function_call", "name": name, "arguments": arguments, "call_id": call_id}
    return sse({"type": "response.output_item.done", "item": item})


def chat_call_frames(name: str, arguments: str, call_id: str, piece: int = MiB) -> list[bytes]:
    """A Chat tool call with its arguments in `piece`-sized fragments, as real servers send."""
    frames = [chat_chunk({"tool_calls": [{"index": 0, "id": call_id, "function": {"name": name}}]})]
    for start in range(0, len(arguments), piece):
        fragment = arguments[start : start + piece]
        frames.append(chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}))
    frames.append(chat_chunk({}, "tool_calls"))
    frames.append(b"data: [DONE]\n\n")
    return frames


def refused(client: LeanClient, model: ScriptedModel, call_id: str) -> str:
    """Run the call under the ping monitor; the model's answer after the refusal ends the turn.
    Returns the output the model got for `call_id`."""
    model.text("understood")
    with PingMonitor(client) as monitor:
        _, result = run_codex(client, 90)
    monitor.check()
    assert result.get("isError") is not True, result
    assert result_text(result) == "understood"
    assert vm_hwm_mb(client.proc.pid) < PEAK_RSS_LIMIT_MB
    assert_no_traceback(client)
    assert_alive(client)
    return model.call_output(call_id)


def test_30_mb_function_arguments_on_the_chat_wire(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner
) -> None:
    configure(codex_home, scripted_model, wire_api="chat")
    client = spawn()
    arguments = json.dumps({"command": ["echo", "x" * 30_000_000]})
    scripted_model.raw(lambda: chat_call_frames("shell", arguments, "call_big"))
    output = refused(client, scripted_model, "call_big")
    assert f"its arguments text has {len(arguments)} characters; at most 4194304" in output
    assert_not_carried(scripted_model)


def test_6_mb_function_arguments_on_the_responses_wire(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    client = spawn()
    arguments = json.dumps({"command": ["echo", "x" * 6 * MiB]})
    scripted_model.raw(events_frames([call_event("shell", arguments, "call_six")]))
    output = refused(client, scripted_model, "call_six")
    assert "the `shell` call was refused: its arguments text has" in output


def test_update_plan_with_a_million_steps(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner
) -> None:
    configure(codex_home, scripted_model, wire_api="chat")
    client = spawn()
    steps = [{"step": "s", "status": "pending"}] * 1_000_000
    arguments = json.dumps({"plan": steps}, separators=(",", ":"))
    scripted_model.raw(lambda: chat_call_frames("update_plan", arguments, "call_plan"))
    output = refused(client, scripted_model, "call_plan")
    assert "its arguments text has" in output
    assert not events_named(client, "plan_update")
    assert_not_carried(scripted_model)


@pytest.mark.parametrize(
    ("plan", "fragment"),
    [
        ({"plan": [{"step": "s", "status": "pending"}] * 50_000}, "has 50000 steps; at most 200"),
        ({"plan": [{"step": "s" * MiB, "status": "pending"}]}, "plan[0].step is 1048576 characters"),
        ({"plan": [], "explanation": "e" * MiB}, "`explanation` is 1048576 characters"),
    ],
)
def test_update_plan_over_its_caps(
    plan: dict[str, Any], fragment: str, scripted_model: ScriptedModel, spawn: Spawner
) -> None:
    client = spawn()
    scripted_model.raw(events_frames([call_event("update_plan", json.dumps(plan), "call_p")]))
    output = refused(client, scripted_model, "call_p")
    assert fragment in output
    assert not events_named(client, "plan_update")


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested more than 100 levels deep"),
        ('{"a":' * 600 + "1" + "}" * 600, "nested more than 100 levels deep"),
        ('{"command": ' + "[" * 150 + '"ls"' + "]" * 150 + "}", "nested more than 100 levels deep"),
        ('{"command": [' + '"a",' * 10 + "{}," * 150_000 + "[]]}", "with more than 100000 opening brackets"),
        ('{"command": NaN', "failed to parse function arguments"),
    ],
)
def test_hostile_json_in_function_arguments(
    arguments: str, fragment: str, scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner
) -> None:
    # On the Chat wire the arguments arrive in fragments, each a small event of its own, so
    # it is the call that is refused, not the response.
    configure(codex_home, scripted_model, wire_api="chat")
    client = spawn()
    scripted_model.raw(lambda: chat_call_frames("shell", arguments, "call_j", piece=64 * 1024))
    output = refused(client, scripted_model, "call_j")
    assert output.startswith("failed to parse function arguments")
    assert fragment in output


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ("[" * 100_000 + "]" * 100_000, "an SSE event nested more than 100 levels deep"),
        ('{"command": [' + "{}," * 150_000 + "[]]}", "an SSE event with more than 100000 opening brackets"),
    ],
)
def test_hostile_json_arguments_in_one_responses_event(
    arguments: str, fragment: str, scripted_model: ScriptedModel, spawn: Spawner
) -> None:
    # One event carries the whole call: its brackets count against the event's own cap, and
    # the response is abandoned before anything is decoded.
    client = spawn()
    scripted_model.raw(events_frames([call_event("shell", arguments, "call_r")]))
    with PingMonitor(client) as monitor:
        _, result = run_codex(client, 90)
    monitor.check()
    assert result.get("isError") is True and fragment in result_text(result), result
    assert_no_traceback(client)
    assert_alive(client)


def test_giant_tool_name(scripted_model: ScriptedModel, spawn: Spawner) -> None:
    client = spawn()
    scripted_model.raw(events_frames([call_event("n" * MiB, "{}", "call_n")]))
    output = refused(client, scripted_model, "call_n")
    assert output == "unsupported call: a tool name of 1048576 characters (tool names have at most 1024)"


def test_5_mb_custom_tool_input(scripted_model: ScriptedModel, spawn: Spawner, workspace: Path) -> None:
    client = spawn()
    patch = "*** Begin Patch\n*** Add File: big.txt\n" + "+x\n" * (5 * MiB // 3) + "*** End Patch\n"
    item = {"type": "custom_tool_call", "name": "apply_patch", "input": patch, "call_id": "call_c"}
    scripted_model.raw(events_frames([sse({"type": "response.output_item.done", "item": item})]))
    output = refused(client, scripted_model, "call_c")
    assert output.startswith("the `apply_patch` call was refused: its input has")
    assert not (workspace / "big.txt").exists()


def assert_not_carried(model: ScriptedModel) -> None:
    """The request after a refused call does not carry its payload (it is not kept)."""
    last = model.requests[-1]
    assert len(json.dumps(last.body)) < MiB
    assert "refused and not kept" in json.dumps(last.body)


def events_named(client: LeanClient, kind: str) -> list[dict[str, Any]]:
    return [
        n["params"]["msg"]
        for n in client.notifications("codex/event")
        if (n.get("params") or {}).get("msg", {}).get("type") == kind
    ]
