"""The `codex` tool end to end: real server process, scripted model over HTTP, real commands."""

from __future__ import annotations

import base64
import itertools
import json
import re
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.agent.families import resolve_family
from codex_mcp.agent.handlers.registry import SERVED_SHELL_KINDS
from codex_mcp.agent.instructions import family_instructions
from codex_mcp.agent.tool_specs import ToolFeatures, served_shell
from tests.support.raw_client import RawClient, result_of, same_id, text_of, wait_until
from tests.support.scripted_model import ScriptedModel, Turn, shell_call
from tests.support.server import ServerFactory, write_config

pytestmark = pytest.mark.timeout(40)

FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}


def run_codex(
    client: RawClient, arguments: Any, *, id: Any = None, meta: dict[str, Any] | None = None
) -> tuple[Any, dict[str, Any]]:
    rid = client.call_tool("codex", arguments, id=id, meta=meta)
    return rid, result_of(client.wait_response(rid))


def assert_uuid(value: Any) -> str:
    assert isinstance(value, str)
    assert str(uuid.UUID(value)) == value.lower()
    return value


def events_of(client: RawClient, rid: Any, kind: str) -> list[dict[str, Any]]:
    return [p["msg"] for p in client.events_for(rid) if p["msg"]["type"] == kind]


def one_pixel_png() -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


# -- a plain answer --------------------------------------------------------------------


@pytest.mark.parametrize("request_id", [7, "req-1"], ids=["int-id", "string-id"])
def test_text_answer_and_event_order(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, request_id: Any
) -> None:
    scripted_model.text("Hello from mock!", chunks=3)
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "say hello", **FULL}, id=request_id)

    assert not result.get("isError")
    assert text_of(result) == "Hello from mock!"
    structured = result["structuredContent"]
    assert structured["content"] == text_of(result)
    thread_id = assert_uuid(structured["threadId"])
    assert len(scripted_model.requests) == 1

    response = client.wait_response(rid)
    response_index = client.index_of(response)
    notes = [
        (i, m["params"])
        for i, m in enumerate(client.messages)
        if m.get("method") == "codex/event" and same_id(m["params"]["_meta"]["requestId"], request_id)
    ]
    assert notes, "no codex/event for the call"
    assert all(i < response_index for i, _ in notes), "an event came after the result"
    for _, params in notes:
        assert params["_meta"] == {"requestId": request_id, "threadId": thread_id}
        assert type(params["_meta"]["requestId"]) is type(request_id)

    types = [p["msg"]["type"] for _, p in notes]
    assert types[0] == "session_configured"
    assert types[-1] == "task_complete"
    for kind in ("task_started", "agent_message_content_delta", "agent_message", "token_count"):
        assert kind in types, types
    assert (
        types.index("session_configured")
        < types.index("mcp_startup_complete")
        < types.index("task_started")
        < types.index("agent_message_content_delta")
        < types.index("agent_message")
        < types.index("task_complete")
    )
    assert types.index("token_count") < types.index("task_complete")
    assert "agent_message_delta" not in types  # the older name only with `delta_events`
    deltas = [p["msg"] for _, p in notes if p["msg"]["type"] == "agent_message_content_delta"]
    assert "".join(d["delta"] for d in deltas) == "Hello from mock!"
    assert {d["item_id"] for d in deltas} == {
        p["msg"]["item"]["id"]
        for _, p in notes
        if p["msg"]["type"] == "item_completed" and p["msg"]["item"]["type"] == "AgentMessage"
    }

    configured = notes[0][1]
    assert configured["id"] == ""
    assert configured["msg"]["thread_id"] == thread_id
    assert configured["msg"]["model"] == "mock-model"
    startup = notes[1][1]  # as Codex: no MCP servers to start, so at once, before the turn
    assert startup["id"] == "" and startup["msg"] == {
        "type": "mcp_startup_complete",
        "ready": [],
        "failed": [],
        "cancelled": [],
    }
    assert all(p["id"] == str(request_id) for _, p in notes[2:])
    complete = notes[-1][1]["msg"]
    assert complete["last_agent_message"] == "Hello from mock!"


def test_request_body_sent_to_the_model(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.text("first")
    scripted_model.text("second")
    client = spawn_server()
    run_codex(client, {"prompt": "the user prompt", "developer-instructions": "DEV-INSTR-XYZ", **FULL})
    run_codex(client, {"prompt": "other", "base-instructions": "BASE-INSTR-XYZ", **FULL})
    first, second = scripted_model.wait_requests(2)

    assert first.path == "/v1/responses"
    assert first.headers["authorization"] == "Bearer test-key"
    body = first.body
    assert body["model"] == "mock-model"
    assert body["stream"] is True
    family = resolve_family("mock-model")
    shell = served_shell(family, ToolFeatures(shell_kinds=SERVED_SHELL_KINDS))
    assert shell == "unified_exec"
    assert body["instructions"] == family_instructions(family, shell)
    tools = {t.get("name") or t.get("type"): t for t in body["tools"]}
    assert {
        "exec_command",
        "write_stdin",
        "update_plan",
        "request_user_input",
        "apply_patch",
        "view_image",
        "web_search",
    } <= set(tools)
    assert "shell" not in tools  # the argv tool is retired; current models get process sessions
    assert tools["apply_patch"]["type"] == "custom"
    assert tools["exec_command"]["type"] == "function"
    assert tools["exec_command"]["parameters"]["required"] == ["cmd"]
    assert tools["write_stdin"]["parameters"]["required"] == ["session_id"]
    assert "openai-beta" not in first.headers
    assert first.headers["user-agent"].endswith("(codex-mcp-tests; 0.0.1)")
    assert first.last_user_text() == "the user prompt"
    assert any(str(workspace) in t and "<environment_context>" in t for t in first.user_texts())

    developer = [i for i in body["input"] if i.get("type") == "message" and i.get("role") == "developer"]
    assert len(developer) == 1
    parts = [p["text"] for p in developer[0]["content"]]
    assert "DEV-INSTR-XYZ" in parts, "developer-instructions must be a part of its own, unwrapped"
    assert any(p.startswith("<permissions instructions>") and "sandbox_mode" in p for p in parts)
    assert body["prompt_cache_key"] != second.body["prompt_cache_key"]

    assert second.body["instructions"] == "BASE-INSTR-XYZ"
    assert second.last_user_text() == "other"


# -- argument errors ---------------------------------------------------------------------


ARGUMENT_ERRORS = [
    ("codex", None, "prompt"),
    ("codex", {}, "prompt"),
    ("codex", {"prompt": 123}, "prompt"),
    ("codex", {"prompt": "x", "sandbox": "yolo"}, "sandbox"),
    ("codex", {"prompt": "x", "approval-policy": "sometimes"}, "approval-policy"),
    ("codex", {"prompt": "x", "bogus-field": 1}, "bogus-field"),
    ("codex", {"prompt": "x", "cwd": "/nonexistent/dir"}, "/nonexistent/dir"),
    ("codex", {"prompt": "x", "config": {"approval_policy": "bogus"}}, "approval_policy"),
    ("codex", {"prompt": "x", "config": {"model_context_window": "abc"}}, "model_context_window"),
    ("nope", {"prompt": "x"}, "nope"),
]


def test_argument_errors_are_tool_errors_naming_the_field(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    client = spawn_server()
    ids = [client.call_tool(name, args) for name, args, _ in ARGUMENT_ERRORS]
    failures = []
    for rid, (name, args, field) in zip(ids, ARGUMENT_ERRORS, strict=True):
        result = result_of(client.wait_response(rid))
        text = text_of(result)
        if result.get("isError") is not True or field not in text:
            failures.append(f"{name} {args!r}: {result}")
    assert not failures, "\n".join(failures)
    assert client.call("ping")["result"] == {}
    assert scripted_model.requests == [], "an invalid call reached the model"
    assert client.notifications("codex/event") == []


def test_model_precedence(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    scripted_model.default = Turn("echo")
    plain = spawn_server()
    run_codex(plain, {"prompt": "a", **FULL})
    assert scripted_model.wait_requests(1)[-1].body["model"] == "mock-model"

    client = spawn_server("-c", 'model="cli-model"')
    cases = [
        ({}, "cli-model"),
        ({"config": {"model": "cfg-model"}}, "cfg-model"),
        ({"config": {"model": "cfg-model"}, "model": "arg-model"}, "arg-model"),
    ]
    for n, (extra, expected) in enumerate(cases, start=2):
        rid, result = run_codex(client, {"prompt": f"p{n}", **FULL, **extra})
        assert not result.get("isError"), result
        assert scripted_model.wait_requests(n)[n - 1].body["model"] == expected, extra
        assert events_of(client, rid, "session_configured")[0]["model"] == expected


# -- model failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "needle"),
    [("500", "500"), ("401", "401"), ("cut", "stream")],
    ids=["http-500", "http-401", "cut-stream"],
)
def test_model_failures_are_readable_tool_errors(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, failure: str, needle: str
) -> None:
    if failure == "cut":
        scripted_model.cut("half an ans")
    else:
        scripted_model.http_error(int(failure), {"error": {"message": "mock failure", "type": "mock"}})
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "fail please", **FULL})
    assert result.get("isError") is True
    text = text_of(result)
    assert needle in text.lower(), text
    assert "Traceback" not in text
    assert result["structuredContent"]["content"] == text
    assert_uuid(result["structuredContent"]["threadId"])
    types = client.event_types(rid)
    assert "error" in types and "task_complete" not in types, types
    assert len(scripted_model.requests) == 1, "retries are off: exactly one model request"


# -- tools -------------------------------------------------------------------------------


def test_shell_calls_run_and_their_output_returns_to_the_model(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    ok = shell_call("echo shell-says-hi; echo made > made.txt", "call-ok")
    bad = shell_call("echo to-stderr >&2; exit 3", "call-bad")
    scripted_model.tool_calls(ok, bad)
    scripted_model.text("all done")
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "run things", **FULL})
    assert text_of(result) == "all done"
    assert (workspace / "made.txt").read_text() == "made\n"

    first = json.loads(scripted_model.call_output("call-ok"))
    assert first["metadata"]["exit_code"] == 0
    assert "shell-says-hi" in first["output"]
    second = json.loads(scripted_model.call_output("call-bad"))
    assert second["metadata"]["exit_code"] == 3
    assert "to-stderr" in second["output"]

    begins = events_of(client, rid, "exec_command_begin")
    ends = events_of(client, rid, "exec_command_end")
    assert [b["call_id"] for b in begins] == ["call-ok", "call-bad"]
    assert [e["call_id"] for e in ends] == ["call-ok", "call-bad"]
    assert begins[0]["command"] == ["bash", "-lc", "echo shell-says-hi; echo made > made.txt"]
    assert ends[0]["exit_code"] == 0 and "shell-says-hi" in ends[0]["stdout"]
    assert ends[1]["exit_code"] == 3 and "to-stderr" in ends[1]["stderr"]
    types = client.event_types(rid)
    assert types.index("exec_command_begin") < types.index("exec_command_end") < types.index("task_complete")


def test_update_plan_becomes_a_plan_update_event(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    plan = [{"step": "read the code", "status": "completed"}, {"step": "fix it", "status": "in_progress"}]
    call_id = scripted_model.update_plan(plan, explanation="one down")
    scripted_model.text("planned")
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "plan it", **FULL})
    assert text_of(result) == "planned"
    updates = events_of(client, rid, "plan_update")
    assert len(updates) == 1
    assert updates[0]["plan"] == plan
    assert updates[0]["explanation"] == "one down"
    output = scripted_model.call_output(call_id)
    assert output and "fail" not in output.lower()


PATCH = """*** Begin Patch
*** Add File: new.txt
+brand new
*** Update File: dest.txt
@@
-original content
+modified content
*** End Patch"""


def test_apply_patch_custom_tool_edits_files(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    (workspace / "dest.txt").write_text("original content\n")
    call_id = scripted_model.apply_patch(PATCH)
    scripted_model.text("patched")
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "patch it", **FULL})
    assert text_of(result) == "patched"
    assert (workspace / "new.txt").read_text() == "brand new\n"
    assert (workspace / "dest.txt").read_text() == "modified content\n"

    output = scripted_model.call_output(call_id)
    assert "Success. Updated the following files" in output
    assert "A new.txt" in output and "M dest.txt" in output
    second = scripted_model.requests[1]
    assert any(i.get("type") == "custom_tool_call_output" for i in second.items())

    begin = events_of(client, rid, "patch_apply_begin")
    end = events_of(client, rid, "patch_apply_end")
    assert len(begin) == 1 and len(end) == 1
    assert begin[0]["auto_approved"] is True
    assert set(begin[0]["changes"]) == {str(workspace / "new.txt"), str(workspace / "dest.txt")}
    assert end[0]["success"] is True
    diffs = events_of(client, rid, "turn_diff")
    assert diffs, "no turn_diff event"
    assert "+modified content" in diffs[-1]["unified_diff"]
    assert "-original content" in diffs[-1]["unified_diff"]


def test_apply_patch_through_a_shell_heredoc(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    script = (
        "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: heredoc.txt\n+from heredoc\n*** End Patch\nEOF\n"
    )
    call_id = scripted_model.shell(script)
    scripted_model.text("heredoc done")
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "patch via shell", **FULL})
    assert text_of(result) == "heredoc done"
    assert (workspace / "heredoc.txt").read_text() == "from heredoc\n"
    assert "Success. Updated the following files" in scripted_model.call_output(call_id)
    assert events_of(client, rid, "patch_apply_end")[0]["success"] is True


def test_view_image_attaches_the_image_to_the_next_request(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    png = one_pixel_png()
    (workspace / "pixel.png").write_bytes(png)
    scripted_model.function("view_image", {"path": "pixel.png"})
    scripted_model.text("I see a pixel")
    client = spawn_server()
    _, result = run_codex(client, {"prompt": "look", **FULL})
    assert text_of(result) == "I see a pixel"
    _, second = scripted_model.wait_requests(2)
    images = [
        p["image_url"]
        for item in second.items()
        if item.get("type") == "message"
        for p in item.get("content") or []
        if isinstance(p, dict) and p.get("type") == "input_image"
    ]
    assert len(images) == 1
    prefix = "data:image/png;base64,"
    assert images[0].startswith(prefix)
    assert base64.b64decode(images[0][len(prefix) :]) == png


def test_rollout_file_is_written(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    scripted_model.text("recorded")
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "remember me", **FULL})
    thread_id = result["structuredContent"]["threadId"]
    files = list((codex_home / "sessions").glob(f"*/*/*/rollout-*-{thread_id}.jsonl"))
    assert len(files) == 1, files
    path = files[0]
    rel = path.relative_to(codex_home).as_posix()
    assert re.fullmatch(rf"sessions/\d{{4}}/\d{{2}}/\d{{2}}/rollout-[0-9T-]+-{thread_id}\.jsonl", rel), rel
    assert events_of(client, rid, "session_configured")[0]["rollout_path"] == str(path)

    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    types = [line["type"] for line in lines]
    assert types[0] == "session_meta"
    assert lines[0]["payload"]["id"] == thread_id
    assert {"response_item", "event_msg", "turn_context"} <= set(types)
    items = [line["payload"] for line in lines if line["type"] == "response_item"]
    assert any(i.get("role") == "user" and "remember me" in json.dumps(i) for i in items)
    assert any(i.get("role") == "assistant" and "recorded" in json.dumps(i) for i in items)


# -- the chat wire -------------------------------------------------------------------------


def test_chat_wire_text_and_fragmented_tool_call(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    write_config(codex_home, scripted_model, wire_api="chat")
    scripted_model.text("chat hello", chunks=4)
    scripted_model.tool_calls(shell_call("echo via-chat > chat.txt; echo printed", "chat-call-1"))
    scripted_model.text("chat done")
    client = spawn_server()

    _, first = run_codex(client, {"prompt": "hi chat", **FULL})
    assert text_of(first) == "chat hello"
    req = scripted_model.wait_requests(1)[0]
    assert req.path == "/v1/chat/completions"
    assert req.body["stream"] is True
    assert req.body["messages"][0]["role"] == "system"
    assert req.body["messages"][-1] == {"role": "user", "content": "hi chat"}
    assert "apply_patch" in req.tool_names()
    assert all(t["type"] == "function" for t in req.body["tools"])

    _, second = run_codex(client, {"prompt": "run it", **FULL})
    assert text_of(second) == "chat done"
    assert (workspace / "chat.txt").read_text() == "via-chat\n"
    output = json.loads(scripted_model.call_output("chat-call-1"))
    assert output["metadata"]["exit_code"] == 0 and "printed" in output["output"]
    follow_up = scripted_model.requests[2]
    assistant = [m for m in follow_up.body["messages"] if m.get("tool_calls")]
    assert len(assistant) == 1
    call = assistant[0]["tool_calls"][0]
    assert call["id"] == "chat-call-1"
    assert json.loads(call["function"]["arguments"])["command"] == [
        "bash",
        "-lc",
        "echo via-chat > chat.txt; echo printed",
    ]
    tool_messages = [m for m in follow_up.body["messages"] if m.get("role") == "tool"]
    assert tool_messages and tool_messages[0]["tool_call_id"] == "chat-call-1"


# -- progress and the event stream switch ----------------------------------------------


def assert_progress(client: RawClient, rid: Any, token: Any) -> list[dict[str, Any]]:
    response_index = client.index_of(client.wait_response(rid))
    progress = [
        (i, m["params"])
        for i, m in enumerate(client.messages)
        if m.get("method") == "notifications/progress" and same_id(m["params"].get("progressToken"), token)
    ]
    assert progress, "no progress notifications"
    values = [p["progress"] for _, p in progress]
    assert all(b > a for a, b in itertools.pairwise(values)), values
    assert all(isinstance(p.get("message"), str) and p["message"] for _, p in progress)
    assert all(i < response_index for i, _ in progress)
    return [p for _, p in progress]


def test_progress_notifications(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    scripted_model.shell("echo progress")
    scripted_model.text("progressed")
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "go", **FULL}, meta={"progressToken": "tok-1"})
    assert text_of(result) == "progressed"
    progress = assert_progress(client, rid, "tok-1")
    assert len(progress) >= 3
    assert any("echo progress" in p["message"] for p in progress)
    assert client.notifications("codex/event"), "event_stream defaults to full"


def test_event_stream_off_still_sends_progress(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    write_config(codex_home, scripted_model, extra='[codex_mcp]\nevent_stream = "off"\n')
    scripted_model.text("quiet")
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "shh", **FULL}, meta={"progressToken": 99})
    assert text_of(result) == "quiet"
    assert_progress(client, rid, 99)
    assert client.notifications("codex/event") == []


def test_chat_wire_apply_patch_is_a_function_with_input(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    write_config(codex_home, scripted_model, wire_api="chat")
    call_id = scripted_model.function(
        "apply_patch", {"input": "*** Begin Patch\n*** Add File: chat-patch.txt\n+via chat\n*** End Patch"}
    )
    scripted_model.text("chat patched")
    client = spawn_server()
    _, result = run_codex(client, {"prompt": "patch on chat", **FULL})
    assert text_of(result) == "chat patched"
    assert (workspace / "chat-patch.txt").read_text() == "via chat\n"
    assert "Success. Updated the following files" in scripted_model.call_output(call_id)
    tools = {t["function"]["name"]: t for t in scripted_model.requests[0].body["tools"]}
    assert "input" in tools["apply_patch"]["function"]["parameters"]["properties"]


def test_relative_cwd_is_resolved_against_the_server_cwd(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    (workspace / "sub").mkdir()
    call_id = scripted_model.shell("pwd")
    scripted_model.text("in sub")
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "where am i", "cwd": "sub", **FULL})
    assert text_of(result) == "in sub"
    assert events_of(client, rid, "session_configured")[0]["cwd"] == str(workspace / "sub")
    assert json.loads(scripted_model.call_output(call_id))["output"].strip() == str(workspace / "sub")


def test_unknown_model_tool_and_bad_arguments_are_reported_to_the_model(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    unknown = {"kind": "function", "name": "teleport", "arguments": {"to": "mars"}, "call_id": "c-unknown"}
    bad = {"kind": "function", "name": "shell", "arguments": {"command": 42}, "call_id": "c-bad"}
    scripted_model.tool_calls(unknown, bad)
    scripted_model.text("recovered")
    client = spawn_server()
    _, result = run_codex(client, {"prompt": "odd calls", **FULL})
    assert text_of(result) == "recovered"
    assert "teleport" in scripted_model.call_output("c-unknown")
    assert "command" in scripted_model.call_output("c-bad")


def test_shell_timeout_stops_the_command(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    # `bash -c`, not the login shell: a profile can take longer than the limit on a busy machine.
    script = "echo before; sleep 20; echo never-printed"
    call_id = scripted_model.shell(["bash", "-c", script], timeout_ms=1500)
    scripted_model.text("timed out")
    client = spawn_server()
    _, result = run_codex(client, {"prompt": "slow", **FULL})
    assert text_of(result) == "timed out"
    output = json.loads(scripted_model.call_output(call_id))
    assert output["metadata"]["exit_code"] != 0
    assert "timed out" in output["output"] and "before" in output["output"]
    assert "never-printed" not in output["output"]
    assert output["metadata"]["duration_seconds"] < 10


def test_exec_output_is_streamed_as_deltas(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    scripted_model.shell("echo streamed-out; echo streamed-err >&2", call_id="c-stream")
    scripted_model.text("streamed")
    client = spawn_server()
    rid, _ = run_codex(client, {"prompt": "stream", **FULL})
    deltas = events_of(client, rid, "exec_command_output_delta")
    assert deltas and all(d["call_id"] == "c-stream" for d in deltas)
    by_stream: dict[str, bytes] = {}
    for d in deltas:
        by_stream[d["stream"]] = by_stream.get(d["stream"], b"") + base64.b64decode(d["chunk"])
    assert b"streamed-out" in by_stream.get("stdout", b"")
    assert b"streamed-err" in by_stream.get("stderr", b"")


def test_a_request_id_in_use_is_rejected(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    gate = scripted_model.hold()
    client = spawn_server()
    client.call_tool("codex", {"prompt": "first", **FULL}, id="dup")
    gate.wait_arrived(1)
    client.call_tool("codex", {"prompt": "second", **FULL}, id="dup")
    rejected = client.wait_for(lambda m: m.get("id") == "dup" and "error" in m)
    assert rejected["error"]["code"] == -32600
    gate.release()
    result = client.wait_for(lambda m: m.get("id") == "dup" and "result" in m)
    assert text_of(result["result"]) == "echo: first"
    assert len(scripted_model.requests) == 1


def test_older_schema_values_are_accepted(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    scripted_model.text("legacy ok")
    client = spawn_server()
    rid, result = run_codex(
        client, {"prompt": "old client", "approval-policy": "on-failure", "sandbox": "danger-full-access"}
    )
    assert not result.get("isError"), result
    assert events_of(client, rid, "session_configured")[0]["approval_policy"] == "on-failure"


def test_stdout_closed_during_a_command_kills_it_and_exits(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.shell("sleep 30 & echo $! > pid.txt; wait", timeout_ms=60_000)
    client = spawn_server()
    client.call_tool("codex", {"prompt": "sleep", **FULL})
    client.wait_for(
        lambda m: m.get("method") == "codex/event" and m["params"]["msg"]["type"] == "exec_command_begin"
    )
    pid_file = workspace / "pid.txt"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 15, "pid.txt")
    pid = int(pid_file.read_text())
    client.close_stdout()
    client.request("ping")  # the answer cannot be written: the server notices the closed stdout
    client.wait_exit(15)
    wait_until(lambda: process_gone(pid), 10, f"process {pid} to be killed")


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_lone_surrogate_in_the_prompt_does_not_break_the_call(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    scripted_model.echo()
    client = spawn_server()
    client.send_raw(
        '{"jsonrpc":"2.0","id":"sur","method":"tools/call","params":{"name":"codex","arguments":'
        '{"prompt":"half \\ud800 a pair","sandbox":"danger-full-access","approval-policy":"never"}}}'
    )
    result = result_of(client.wait_response("sur"))
    assert not result.get("isError"), result
    assert text_of(result).startswith("echo: half ")
    assert scripted_model.requests[0].last_user_text() == "half \ud800 a pair"
    assert client.call("ping")["result"] == {}


def test_turn_without_a_message_answers_an_empty_text(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    scripted_model.add(Turn("text", text=""))
    client = spawn_server()
    rid, result = run_codex(client, {"prompt": "say nothing", **FULL})
    assert not result.get("isError"), result
    assert text_of(result) == ""
    assert result["structuredContent"]["content"] == ""
    assert client.event_types(rid)[-1] == "task_complete"


def test_event_stream_minimal_drops_only_deltas(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    write_config(codex_home, scripted_model, extra='[codex_mcp]\nevent_stream = "minimal"\n')
    scripted_model.shell("echo minimal-output")
    scripted_model.text("minimal answer", chunks=4)
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "quiet-ish", **FULL})
    result = result_of(client.wait_response(rid))
    assert text_of(result) == "minimal answer"
    types = client.event_types(rid)
    assert "agent_message_content_delta" not in types and "exec_command_output_delta" not in types
    for kind in ("session_configured", "agent_message", "exec_command_end", "task_complete"):
        assert kind in types, types
