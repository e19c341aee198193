"""The agent as an MCP client, end to end: our real server (`python -m codex_mcp`) with
`[mcp_servers.*]` in its config.toml, a scripted model on 127.0.0.1 that calls
`mcp__<server>__<tool>`, and real MCP servers as its children.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.raw_client import result_of, text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, write_config

pytestmark = pytest.mark.timeout(60)

SERVERS = Path(__file__).parent / "mcp_servers"


def sdk_entry(name: str, kind: str, record: Path | None = None, **extra: Any) -> str:
    args = [str(SERVERS / "sdk_server.py"), "--kind", kind]
    if record is not None:
        args += ["--record", str(record)]
    lines = [f"[mcp_servers.{name}]", f"command = {json.dumps(sys.executable)}", f"args = {json.dumps(args)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def odd_entry(name: str, mode: str, **extra: Any) -> str:
    args = [str(SERVERS / "misbehaving.py"), mode]
    lines = [f"[mcp_servers.{name}]", f"command = {json.dumps(sys.executable)}", f"args = {json.dumps(args)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def records(path: Path, kind: str) -> list[Any]:
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["payload"] for r in lines if r["kind"] == kind]


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_model_calls_an_mcp_tool_and_later_turns_reuse_the_server(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, tmp_path: Path
) -> None:
    rec = tmp_path / "x.jsonl"
    write_config(codex_home, scripted_model, extra=sdk_entry("x", "plain", rec))
    call_id = scripted_model.function("mcp__x__echo", {"text": "hello"})
    scripted_model.text("done")
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "use the tool", "sandbox": "read-only"})
    result = result_of(client.wait_response(rid, 30))
    assert text_of(result) == "done"
    assert scripted_model.call_output(call_id) == "echo: hello"
    first = scripted_model.requests[0]
    assert "mcp__x__echo" in first.tool_names() and "exec_command" in first.tool_names()
    spec = next(t for t in first.body["tools"] if t.get("name") == "mcp__x__echo")
    assert spec["parameters"]["properties"] == {"text": {"type": "string"}}

    types = client.event_types(rid)
    assert types.index("task_started") < types.index("mcp_startup_update")
    assert types.index("mcp_startup_complete") < types.index("mcp_tool_call_begin")
    assert (
        types.index("mcp_tool_call_begin") < types.index("mcp_tool_call_end") < types.index("task_complete")
    )
    events = {p["msg"]["type"]: p["msg"] for p in client.events_for(rid)}
    assert events["mcp_startup_complete"]["ready"] == ["x"]
    assert events["mcp_tool_call_begin"]["invocation"] == {
        "server": "x",
        "tool": "echo",
        "arguments": {"text": "hello"},
    }
    assert events["mcp_tool_call_end"]["result"]["Ok"]["content"][0]["text"] == "echo: hello"

    # A reply turn reuses the running server: no second start, no second startup report.
    call2 = scripted_model.function("mcp__x__add", {"a": 20, "b": 22})
    scripted_model.text("added")
    thread_id = result["structuredContent"]["threadId"]
    rid2 = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "again"})
    assert text_of(result_of(client.wait_response(rid2, 30))) == "added"
    assert json.loads(scripted_model.call_output(call2)) == {"sum": 42}
    assert "mcp_startup_complete" not in client.event_types(rid2)
    started = records(rec, "started")
    assert len(started) == 1

    # Shutting our server down reaps the MCP server.
    client.close_stdin()
    assert client.wait_exit(15) == 0
    assert not alive(int(started[0]["pid"]))


def test_bad_servers_do_not_stop_the_thread(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    extra = (
        sdk_entry("good", "plain")
        + odd_entry("crash", "crash")
        + odd_entry("hang", "silent", startup_timeout_sec=1)
    )
    write_config(codex_home, scripted_model, extra=extra)
    call_id = scripted_model.function("mcp__crash__anything", {})
    scripted_model.text("survived")
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "go", "sandbox": "read-only"})
    assert text_of(result_of(client.wait_response(rid, 30))) == "survived"
    assert scripted_model.call_output(call_id) == "unsupported call: mcp__crash__anything"
    complete = next(p["msg"] for p in client.events_for(rid) if p["msg"]["type"] == "mcp_startup_complete")
    assert complete["ready"] == ["good"]
    assert sorted(f["server"] for f in complete["failed"]) == ["crash", "hang"]
    tools = scripted_model.requests[0].tool_names()
    assert "mcp__good__echo" in tools and not any(t.startswith(("mcp__crash", "mcp__hang")) for t in tools)


def test_tool_timeout_and_image_outputs_reach_the_model(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    extra = sdk_entry("slow", "slow", tool_timeout_sec=1) + sdk_entry("img", "image")
    write_config(codex_home, scripted_model, extra=extra)
    slow_call = scripted_model.function("mcp__slow__slow", {})
    image_call = scripted_model.function("mcp__img__image", {})
    scripted_model.text("seen")
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "go", "sandbox": "read-only"})
    assert text_of(result_of(client.wait_response(rid, 30))) == "seen"
    assert scripted_model.call_output(slow_call) == "err: tool call timed out after 1 s"
    image_output = json.loads(scripted_model.call_output(image_call))
    assert image_output[0] == {"type": "input_text", "text": "here is the picture"}
    assert image_output[1]["type"] == "input_image"
    assert image_output[1]["image_url"].startswith("data:image/png;base64,")
    ends = [p["msg"] for p in client.events_for(rid) if p["msg"]["type"] == "mcp_tool_call_end"]
    assert ends[0]["result"] == {"Err": "tool call timed out after 1 s"}
    progress = [n["params"]["message"] for n in client.notifications("notifications/progress")]
    assert progress == [] or any("Calling" in m for m in progress)


@pytest.mark.parametrize("capable", [True, False])
def test_server_elicitation_is_relayed_to_our_client(
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    codex_home: Path,
    tmp_path: Path,
    capable: bool,
) -> None:
    rec = tmp_path / "ask.jsonl"
    write_config(codex_home, scripted_model, extra=sdk_entry("ask", "elicit", rec))
    call_id = scripted_model.function("mcp__ask__elicit", {})
    scripted_model.text("asked")

    def answer(msg: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"name": "Ada"}}

    client = spawn_server(policy=answer, capabilities=None if capable else {})
    rid = client.call_tool("codex", {"prompt": "ask me", "sandbox": "read-only"})
    assert text_of(result_of(client.wait_response(rid, 30))) == "asked"
    requests = client.server_requests("elicitation/create")
    if capable:
        assert len(requests) == 1
        params = requests[0]["params"]
        assert params["message"] == "What is your name?"
        assert params["requestedSchema"]["properties"] == {"name": {"type": "string"}}
        assert params["codex_elicitation"] == "mcp-server" and params["codex_server_name"] == "ask"
        assert records(rec, "elicit_answer") == [{"action": "accept", "content": {"name": "Ada"}}]
        assert "Ada" in scripted_model.call_output(call_id)
        assert "elicitation_request" in client.event_types(rid)
    else:
        assert requests == []
        assert records(rec, "elicit_answer") == [{"action": "decline"}]


def test_an_answer_that_breaks_the_servers_schema_is_declined(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, tmp_path: Path
) -> None:
    rec = tmp_path / "ask.jsonl"
    write_config(codex_home, scripted_model, extra=sdk_entry("ask", "elicit", rec))
    scripted_model.function("mcp__ask__elicit", {})
    scripted_model.text("asked")

    def answer(msg: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"name": 42}}  # `name` must be a string

    client = spawn_server(policy=answer)
    rid = client.call_tool("codex", {"prompt": "ask me", "sandbox": "read-only"})
    assert text_of(result_of(client.wait_response(rid, 30))) == "asked"
    assert len(client.server_requests("elicitation/create")) == 1
    assert records(rec, "elicit_answer") == [{"action": "decline"}]


def test_sandbox_state_reaches_servers_that_ask(
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    codex_home: Path,
    workspace: Path,
    tmp_path: Path,
) -> None:
    upd, meta = tmp_path / "upd.jsonl", tmp_path / "meta.jsonl"
    write_config(
        codex_home, scripted_model, extra=sdk_entry("upd", "sandbox", upd) + sdk_entry("m", "meta", meta)
    )
    scripted_model.function("mcp__m__echo", {"text": "x"})
    scripted_model.text("ok")
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "go", "sandbox": "workspace-write"})
    assert text_of(result_of(client.wait_response(rid, 30))) == "ok"
    (update,) = records(upd, "sandbox_update")
    assert update["sandboxPolicy"]["type"] == "workspace-write"
    assert os.path.realpath(update["sandboxCwd"]) == os.path.realpath(workspace)
    (call,) = records(meta, "call")
    state = call["meta"]["codex/sandbox-state-meta"]
    assert state["permissionProfile"]["type"] == "managed"
    assert state["sandboxCwd"].startswith("file://")
    assert records(meta, "sandbox_update") == []
