"""`codex-reply`, resume across restarts, cancellation and concurrency through the real server."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.raw_client import RawClient, result_of, text_of, wait_until
from tests.support.scripted_model import Gate, ScriptedModel, Turn, text_turn
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(40)

FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}


def start(client: RawClient, prompt: str, **extra: Any) -> tuple[Any, dict[str, Any]]:
    rid = client.call_tool("codex", {"prompt": prompt, **FULL, **extra})
    return rid, result_of(client.wait_response(rid))


def reply(client: RawClient, arguments: dict[str, Any], *, id: Any = None) -> tuple[Any, dict[str, Any]]:
    rid = client.call_tool("codex-reply", arguments, id=id)
    return rid, result_of(client.wait_response(rid))


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    # A zombie no longer runs; it only waits for a reaper outside our control.
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def rollout_path(client: RawClient) -> str:
    configured = client.wait_for(
        lambda m: m.get("method") == "codex/event" and m["params"]["msg"]["type"] == "session_configured"
    )
    return str(configured["params"]["msg"]["rollout_path"])


def test_reply_continues_the_thread_with_full_history(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    scripted_model.text("first answer")
    scripted_model.text("second answer")
    client = spawn_server()
    _, first = start(client, "first prompt")
    thread_id = first["structuredContent"]["threadId"]
    rid, second = reply(client, {"threadId": thread_id, "prompt": "second prompt"})
    assert not second.get("isError")
    assert text_of(second) == "second answer"
    assert second["structuredContent"] == {"threadId": thread_id, "content": "second answer"}

    one, two = scripted_model.wait_requests(2)
    assert two.body["prompt_cache_key"] == one.body["prompt_cache_key"]
    items = two.items()
    texts = [json.dumps(i) for i in items]
    order = [
        next(n for n, t in enumerate(texts) if needle in t)
        for needle in ("first prompt", "first answer", "second prompt")
    ]
    assert order == sorted(order), "history must be first prompt, first answer, second prompt"
    assert next(i for i in items if i.get("role") == "assistant")["content"][0]["text"] == "first answer"
    assert two.last_user_text() == "second prompt"
    assert len([i for i in items if i.get("role") == "developer"]) == 1

    types = client.event_types(rid)
    assert "session_configured" not in types
    assert types[-1] == "task_complete"
    turn_ids = {p["id"] for p in client.events_for(rid)}
    assert len(turn_ids) == 1 and str(rid) not in turn_ids


def test_conversation_id_alias(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    scripted_model.text("one")
    scripted_model.text("two")
    client = spawn_server()
    _, first = start(client, "hello")
    thread_id = first["structuredContent"]["threadId"]
    _, second = reply(client, {"conversationId": thread_id, "prompt": "again"})
    assert text_of(second) == "two"
    assert second["structuredContent"]["threadId"] == thread_id
    assert scripted_model.wait_requests(2)[1].last_user_text() == "again"


def test_reply_errors(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    client = spawn_server()
    unknown = str(uuid.uuid4())
    _, missing = reply(client, {"threadId": unknown, "prompt": "hello?"})
    assert missing.get("isError") is True
    assert "Session not found" in text_of(missing)
    assert unknown in text_of(missing)
    assert missing["structuredContent"]["threadId"] == unknown

    _, invalid = reply(client, {"threadId": "not-a-uuid", "prompt": "hello?"})
    assert invalid.get("isError") is True
    assert "not-a-uuid" in text_of(invalid)

    _, no_id = reply(client, {"prompt": "hello?"})
    assert no_id.get("isError") is True
    assert "threadId" in text_of(no_id)

    _, no_prompt = reply(client, {"threadId": unknown})
    assert no_prompt.get("isError") is True
    assert "prompt" in text_of(no_prompt)
    assert scripted_model.requests == []


def test_resume_after_restart_appends_to_the_rollout(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    scripted_model.text("before restart")
    scripted_model.text("after restart")
    first_server = spawn_server()
    _, first = start(first_server, "remember the number 41")
    thread_id = first["structuredContent"]["threadId"]
    first_server.close_stdin()
    assert first_server.wait_exit(10) == 0
    files = list((codex_home / "sessions").glob(f"*/*/*/rollout-*-{thread_id}.jsonl"))
    assert len(files) == 1
    size_before = files[0].stat().st_size

    second_server = spawn_server()
    _, second = reply(second_server, {"threadId": thread_id, "prompt": "what was it?"})
    assert not second.get("isError"), second
    assert text_of(second) == "after restart"
    assert second["structuredContent"]["threadId"] == thread_id

    request = scripted_model.wait_requests(2)[1]
    history = json.dumps(request.items())
    assert "remember the number 41" in history and "before restart" in history
    assert request.last_user_text() == "what was it?"

    assert list((codex_home / "sessions").glob(f"*/*/*/rollout-*-{thread_id}.jsonl")) == files
    assert files[0].stat().st_size > size_before
    lines = [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
    assert "what was it?" in json.dumps(lines)
    assert [line["type"] for line in lines].count("session_meta") == 1


def test_cancel_held_call_then_reply_on_the_same_thread(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    scripted_model.text("started")
    gate = scripted_model.hold()
    scripted_model.text("reply after cancel")
    client = spawn_server()
    _, first = start(client, "begin")
    thread_id = first["structuredContent"]["threadId"]

    held = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "this will be cancelled"})
    gate.wait_arrived(1)
    client.notify("notifications/cancelled", {"requestId": held, "reason": "changed my mind"})
    gate.wait_disconnected(1)  # the turn really stopped: its model request was closed
    assert client.call("ping")["result"] == {}

    rid, later = reply(client, {"threadId": thread_id, "prompt": "new question"})
    assert not later.get("isError"), later
    assert text_of(later) == "reply after cancel"
    assert later["structuredContent"]["threadId"] == thread_id
    assert client.responses_to(held) == [], "a cancelled call gets no response"
    assert len(client.responses_to(rid)) == 1
    assert client.event_types(rid)[-1] == "task_complete"
    held_types = client.event_types(held)
    assert "task_complete" not in held_types and "agent_message" not in held_types
    assert scripted_model.wait_requests(3)[2].last_user_text() == "new question"


def test_cancel_kills_the_running_command(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.shell("sleep 30 & echo $! > pid.txt; wait", timeout_ms=60_000)
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "sleep", **FULL})
    pid_file = workspace / "pid.txt"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 15, "pid.txt")
    pid = int(pid_file.read_text())
    assert not process_gone(pid), "the sleep should be running"
    client.wait_for(
        lambda m: m.get("method") == "codex/event" and m["params"]["msg"]["type"] == "exec_command_begin"
    )
    client.notify("notifications/cancelled", {"requestId": rid})
    wait_until(lambda: process_gone(pid), 10, f"process {pid} to be killed")
    assert client.call("ping")["result"] == {}
    assert client.responses_to(rid) == []


def test_concurrent_calls_overlap(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    n = 6
    gate = Gate()
    for _ in range(n):
        scripted_model.hold(gate=gate)  # each answers with an echo of its own prompt
    client = spawn_server()
    started = time.monotonic()
    ids = [client.call_tool("codex", {"prompt": f"task number {i}", **FULL}) for i in range(n)]
    gate.wait_arrived(n, timeout=15)
    # All six were in flight at once: none has been answered while the model holds them.
    assert all(client.responses_to(rid) == [] for rid in ids)
    assert client.call("ping")["result"] == {}
    gate.release()
    results = [result_of(client.wait_response(rid)) for rid in ids]
    elapsed = time.monotonic() - started
    for i, result in enumerate(results):
        assert text_of(result) == f"echo: task number {i}", "each call gets its own answer"
    assert len({r["structuredContent"]["threadId"] for r in results}) == n
    assert elapsed < 15


def test_concurrent_calls_with_a_slow_model_finish_together(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    """Six calls against a model that takes 1 s each: together they take about 1 s, not 6."""
    n = 6
    gate = Gate()
    for _ in range(n):
        scripted_model.hold(gate=gate, then=Turn("echo"))
    client = spawn_server()
    ids = [client.call_tool("codex", {"prompt": f"slow {i}", **FULL}) for i in range(n)]
    gate.wait_arrived(n, timeout=15)
    started = time.monotonic()
    release = threading.Timer(1.0, gate.release)  # the model's 1 s of "thinking"
    release.start()
    try:
        for i, rid in enumerate(ids):
            assert text_of(result_of(client.wait_response(rid))) == f"echo: slow {i}"
    finally:
        release.cancel()
    assert time.monotonic() - started < 4.5


def test_second_turn_on_a_thread_waits_for_the_first(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    scripted_model.text("zero")
    gate = scripted_model.hold(then=text_turn("first of two"))
    scripted_model.text("second of two")
    client = spawn_server()
    _, base = start(client, "base")
    thread_id = base["structuredContent"]["threadId"]
    a = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "A"})
    gate.wait_arrived(1)
    b = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "B"})
    assert client.call("ping")["result"] == {}
    assert len(scripted_model.requests) == 2, "B must not sample while A's turn runs"
    gate.release()
    assert text_of(result_of(client.wait_response(a))) == "first of two"
    assert text_of(result_of(client.wait_response(b))) == "second of two"
    last = scripted_model.wait_requests(3)[2]
    assert "first of two" in json.dumps(last.items()) and last.last_user_text() == "B"


def test_cancelling_a_queued_reply_does_not_touch_the_running_turn(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    """Cancel reply B while reply A (same thread) is inside a tool call: A's history must stay valid."""
    scripted_model.text("base")
    wait_script = "while [ ! -f go.txt ]; do sleep 0.02; done; echo went"
    call_id = scripted_model.shell(wait_script, timeout_ms=20_000)
    scripted_model.text("A done")
    client = spawn_server()
    _, base = start(client, "base")
    thread_id = base["structuredContent"]["threadId"]
    a = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "A"})
    client.wait_for(
        lambda m: m.get("method") == "codex/event" and m["params"]["msg"]["type"] == "exec_command_begin"
    )
    b = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "B"})
    assert client.call("ping")["result"] == {}
    client.notify("notifications/cancelled", {"requestId": b})
    # A cancelled call's events are not relayed any more; the rollout shows B's abort.
    rollout = Path(rollout_path(client))
    wait_until(lambda: '"turn_aborted"' in rollout.read_text(), 10, "B's turn_aborted in the rollout")
    (workspace / "go.txt").write_text("go")
    result = result_of(client.wait_response(a))
    assert text_of(result) == "A done"
    follow_up = scripted_model.wait_requests(3)[2]
    outputs = [
        i
        for i in follow_up.items()
        if i.get("type") == "function_call_output" and i.get("call_id") == call_id
    ]
    assert len(outputs) == 1, f"the call must have exactly one output, got {outputs}"
    assert "went" in outputs[0]["output"]
    assert client.responses_to(b) == []


def test_reply_after_cancelled_command_has_a_valid_history(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    call_id = scripted_model.shell("sleep 30 & echo $! > pid.txt; wait", timeout_ms=60_000)
    scripted_model.text("resumed fine")
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "sleep", **FULL})
    configured = client.wait_for(
        lambda m: m.get("method") == "codex/event" and m["params"]["msg"]["type"] == "session_configured"
    )
    thread_id = configured["params"]["_meta"]["threadId"]
    client.wait_for(
        lambda m: m.get("method") == "codex/event" and m["params"]["msg"]["type"] == "exec_command_begin"
    )
    client.notify("notifications/cancelled", {"requestId": rid})
    _, later = reply(client, {"threadId": thread_id, "prompt": "go on"})
    assert text_of(later) == "resumed fine"
    request = scripted_model.wait_requests(2)[1]
    calls = [i for i in request.items() if i.get("call_id") == call_id]
    assert [c["type"] for c in calls] == ["function_call", "function_call_output"]
    assert request.last_user_text() == "go on"


def test_cancel_matches_the_request_id_type(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    gate = scripted_model.hold(then=text_turn("not cancelled"))
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "typed ids", **FULL}, id=5)
    gate.wait_arrived(1)
    client.notify("notifications/cancelled", {"requestId": "5"})  # a different id: the string "5"
    assert client.call("ping")["result"] == {}
    gate.release()
    result = result_of(client.wait_response(rid))
    assert text_of(result) == "not cancelled"
    assert gate.disconnected == 0
