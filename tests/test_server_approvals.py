"""Approvals as elicitation: what the server asks, and what every kind of answer does.

The thread runs with approval-policy `untrusted` and no sandbox, so a command that is not
known to be safe, and every patch, needs the client's decision.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.raw_client import RawClient, result_of, same_id, text_of
from tests.support.scripted_model import ScriptedModel, Turn, shell_call
from tests.support.server import ServerFactory, write_config

pytestmark = pytest.mark.timeout(40)

UNTRUSTED = {"sandbox": "danger-full-access", "approval-policy": "untrusted"}


def run_codex(client: RawClient, prompt: str, *, id: Any = None) -> tuple[Any, dict[str, Any]]:
    rid = client.call_tool("codex", {"prompt": prompt, **UNTRUSTED}, id=id)
    return rid, result_of(client.wait_response(rid))


def event_types(client: RawClient, rid: Any) -> list[str]:
    return client.event_types(rid)


# -- exec approval ---------------------------------------------------------------------


def test_exec_approval_elicitation_params(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.shell("touch created.txt", call_id="call1234")
    scripted_model.text("created it")
    client = spawn_server(policy="accept-mcp")
    rid, result = run_codex(client, "make a file", id=7)
    assert text_of(result) == "created it"
    assert (workspace / "created.txt").exists()

    requests = client.server_requests("elicitation/create")
    assert len(requests) == 1
    request = requests[0]
    assert isinstance(request["id"], int)
    params = request["params"]
    assert "touch created.txt" in params["message"]
    assert str(workspace) in params["message"]
    schema = params["requestedSchema"]
    assert schema["type"] == "object"
    assert {"approved", "denied"} <= set(schema["properties"]["decision"]["enum"])
    assert params["threadId"] == result["structuredContent"]["threadId"]
    assert params["codex_elicitation"] == "exec-approval"
    assert params["codex_call_id"] == "call1234"
    assert params["codex_command"] == ["bash", "-lc", "touch created.txt"]
    assert params["codex_cwd"] == str(workspace)
    assert params["codex_parsed_cmd"] and params["codex_parsed_cmd"][0]["cmd"] == "touch created.txt"
    assert params["codex_mcp_tool_call_id"] == "7"
    assert params["codex_event_id"] == "7"

    # The elicitation sits between the approval request event and the command's start.
    elicitation_index = client.index_of(request)
    positions = {
        p["msg"]["type"]: i
        for i, m in enumerate(client.messages)
        if m.get("method") == "codex/event" and same_id((p := m["params"])["_meta"]["requestId"], rid)
    }
    assert positions["exec_approval_request"] < elicitation_index < positions["exec_command_begin"]


@pytest.mark.parametrize("policy", ["accept-mcp", "accept-empty", "legacy-approve"])
def test_approving_answers_run_the_command(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, policy: str
) -> None:
    call_id = scripted_model.shell("echo approved > approved.txt")
    scripted_model.text("ran")
    client = spawn_server(policy=policy)
    rid, result = run_codex(client, "write it")
    assert text_of(result) == "ran"
    assert (workspace / "approved.txt").read_text() == "approved\n"
    assert json.loads(scripted_model.call_output(call_id))["metadata"]["exit_code"] == 0
    assert len(client.server_requests()) == 1
    assert "exec_command_end" in event_types(client, rid)


def test_approved_for_session_is_remembered(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.shell("echo again >> log.txt")
    scripted_model.shell("echo again >> log.txt")
    scripted_model.text("twice")
    client = spawn_server(policy="legacy-session")
    _, result = run_codex(client, "twice please")
    assert text_of(result) == "twice"
    assert (workspace / "log.txt").read_text() == "again\nagain\n"
    assert len(client.server_requests()) == 1, "the identical second command must not be asked again"


@pytest.mark.parametrize("policy", ["decline", "legacy-deny"])
def test_declined_command_does_not_run(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, policy: str
) -> None:
    call_id = scripted_model.shell("touch should-not-exist.txt")
    scripted_model.text("ok, not running it")
    client = spawn_server(policy=policy)
    rid, result = run_codex(client, "try it")
    assert not result.get("isError")
    assert text_of(result) == "ok, not running it"
    assert not (workspace / "should-not-exist.txt").exists()
    assert "rejected" in scripted_model.call_output(call_id)
    assert "exec_command_begin" not in event_types(client, rid)
    assert len(scripted_model.requests) == 2


def abort_mcp(message: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": {"decision": "abort"}}


@pytest.mark.parametrize("policy", ["legacy-abort", "abort-mcp"])
def test_explicit_abort_decision_aborts_the_turn(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, policy: str
) -> None:
    scripted_model.shell("touch aborted.txt")
    client = spawn_server(policy=abort_mcp if policy == "abort-mcp" else policy)
    rid, result = run_codex(client, "abort it")
    assert result.get("isError") is True
    assert text_of(result) == "Turn aborted."
    # The thread id rides in the text too: some clients show their model only the text of an
    # error result, and without the id the conversation could not be continued.
    thread_id = result["structuredContent"]["threadId"]
    assert result["content"][1:] == [{"type": "text", "text": f"threadId: {thread_id}"}]
    assert result["structuredContent"]["content"] == "Turn aborted."
    assert not (workspace / "aborted.txt").exists()
    types = event_types(client, rid)
    assert "turn_aborted" in types and "task_complete" not in types
    assert len(scripted_model.requests) == 1
    assert client.call("ping")["result"] == {}
    # ... and the aborted thread goes on with a reply.
    scripted_model.text("after the abort")
    reply = result_of(
        client.wait_response(client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "go on"}))
    )
    assert text_of(reply) == "after the abort"


@pytest.mark.parametrize("kind", ["exec", "patch"])
def test_cancel_answer_denies_that_action_and_the_turn_goes_on(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, kind: str
) -> None:
    """`cancel` means the request was dismissed (or the client cannot ask, as a headless
    client answers every request): that one action is denied, the model is told why, and the
    turn continues to its answer.  It used to abort the whole turn."""
    if kind == "exec":
        first = scripted_model.shell("touch dismissed.txt")
    else:
        first = scripted_model.apply_patch("*** Begin Patch\n*** Add File: dismissed.txt\n+x\n*** End Patch")
    second = scripted_model.shell("touch dismissed-again.txt")
    scripted_model.text("both were refused, carrying on")
    client = spawn_server(policy="cancel")
    rid, result = run_codex(client, "try twice")
    assert not result.get("isError"), result
    assert text_of(result) == "both were refused, carrying on"
    assert not (workspace / "dismissed.txt").exists()
    assert not (workspace / "dismissed-again.txt").exists()
    assert len(client.server_requests()) == 2, "each action is asked (and dismissed) on its own"
    for call_id in (first, second):
        output = scripted_model.call_output(call_id)
        assert "rejected" in output and "dismissed" in output, output
    types = event_types(client, rid)
    assert "turn_aborted" not in types and "task_complete" in types
    assert "exec_command_begin" not in types
    if kind == "patch":  # announced, asked, then ended as declined (Codex 0.147's order)
        ends = [p["msg"] for p in client.events_for(rid) if p["msg"]["type"] == "patch_apply_end"]
        assert [e["status"] for e in ends] == ["declined"] and not ends[0]["success"]
    warnings = [p["msg"]["message"] for p in client.events_for(rid) if p["msg"]["type"] == "warning"]
    assert sum("dismissed" in w for w in warnings) == 2, warnings


def test_client_error_answer_denies_and_completes(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    call_id = scripted_model.shell("touch error-answer.txt")
    scripted_model.text("denied then")
    client = spawn_server(policy="error")
    _, result = run_codex(client, "try")
    assert text_of(result) == "denied then"
    assert not (workspace / "error-answer.txt").exists()
    assert len(client.server_requests()) == 1
    assert "rejected" in scripted_model.call_output(call_id)


def test_client_without_elicitation_capability_is_not_asked(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    call_id = scripted_model.shell("touch no-caps.txt")
    scripted_model.text("could not")
    client = spawn_server(capabilities={})
    rid, result = run_codex(client, "try")
    assert text_of(result) == "could not"
    assert client.server_requests() == []
    assert not (workspace / "no-caps.txt").exists()
    output = scripted_model.call_output(call_id)
    assert "rejected" in output
    assert "elicitation" in output, f"the model should be told why: {output!r}"
    warnings = [p["msg"]["message"] for p in client.events_for(rid) if p["msg"]["type"] == "warning"]
    assert any("elicitation" in w for w in warnings), warnings


def test_unanswered_elicitation_times_out_denied_and_is_withdrawn(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, codex_home: Path
) -> None:
    write_config(codex_home, scripted_model, extra="[codex_mcp]\nelicitation_timeout_sec = 1\n")
    call_id = scripted_model.shell("touch timed-out.txt")
    scripted_model.text("gave up waiting")
    client = spawn_server(policy="never")
    rid = client.call_tool("codex", {"prompt": "try", **UNTRUSTED})
    elicitation = client.wait_for(lambda m: m.get("method") == "elicitation/create")
    asked_at = time.monotonic()
    withdrawn = client.wait_for(
        lambda m: (
            m.get("method") == "notifications/cancelled"
            and same_id((m.get("params") or {}).get("requestId"), elicitation["id"])
        )
    )
    waited = time.monotonic() - asked_at
    assert waited >= 0.8, f"withdrawn after {waited:.2f} s, before the 1 s timeout"
    result = result_of(client.wait_response(rid, timeout=15))
    assert text_of(result) == "gave up waiting"
    assert not (workspace / "timed-out.txt").exists()
    assert "rejected" in scripted_model.call_output(call_id)
    assert client.index_of(withdrawn) < client.index_of(client.wait_response(rid))


def test_cancelled_call_withdraws_its_elicitation_and_ignores_a_late_approval(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.shell("touch late.txt")
    client = spawn_server(policy="never")
    rid = client.call_tool("codex", {"prompt": "try", **UNTRUSTED})
    elicitation = client.wait_for(lambda m: m.get("method") == "elicitation/create")
    client.notify("notifications/cancelled", {"requestId": rid, "reason": "user pressed stop"})
    client.wait_for(
        lambda m: (
            m.get("method") == "notifications/cancelled"
            and same_id((m.get("params") or {}).get("requestId"), elicitation["id"])
        )
    )
    client.send({"jsonrpc": "2.0", "id": elicitation["id"], "result": {"decision": "approved"}})
    assert client.call("ping")["result"] == {}
    assert client.responses_to(rid) == []
    assert not (workspace / "late.txt").exists()
    assert len(scripted_model.requests) == 1
    # The thread is still usable: a reply continues it, and the cancelled call stays silent.
    scripted_model.text("after cancel")
    thread_id = elicitation["params"]["threadId"]
    reply_id = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "again"})
    result = result_of(client.wait_response(reply_id))
    assert text_of(result) == "after cancel"
    assert result["structuredContent"]["threadId"] == thread_id
    assert client.responses_to(rid) == []
    assert not (workspace / "late.txt").exists()
    follow_up = scripted_model.wait_requests(2)[1]
    assert follow_up.last_user_text() == "again"


def test_known_safe_command_runs_without_asking(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    (workspace / "visible-file.txt").write_text("x")
    call_id = scripted_model.function("shell", {"command": ["ls"]})
    scripted_model.text("listed")
    client = spawn_server(policy="decline")
    rid, result = run_codex(client, "list")
    assert text_of(result) == "listed"
    assert client.server_requests() == []
    output = json.loads(scripted_model.call_output(call_id))
    assert output["metadata"]["exit_code"] == 0
    assert "visible-file.txt" in output["output"]
    assert "exec_command_end" in event_types(client, rid)


# -- patch approval --------------------------------------------------------------------

PATCH = """*** Begin Patch
*** Add File: new.txt
+brand new
*** Update File: dest.txt
@@
-original content
+modified content
*** End Patch"""


def test_patch_approval_params_and_accept_applies(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    (workspace / "dest.txt").write_text("original content\n")
    call_id = scripted_model.apply_patch(PATCH)
    scripted_model.text("patched")
    client = spawn_server(policy="accept-mcp")
    rid, result = run_codex(client, "patch", id="patch-req")
    assert text_of(result) == "patched"
    assert (workspace / "new.txt").read_text() == "brand new\n"
    assert (workspace / "dest.txt").read_text() == "modified content\n"
    assert "Success. Updated the following files" in scripted_model.call_output(call_id)

    requests = client.server_requests()
    assert len(requests) == 1
    params = requests[0]["params"]
    assert params["codex_elicitation"] == "patch-approval"
    assert params["codex_call_id"] == call_id
    assert params["codex_mcp_tool_call_id"] == "patch-req"
    assert params["threadId"] == result["structuredContent"]["threadId"]
    assert "code changes" in params["message"]
    changes = params["codex_changes"]
    assert all(Path(k).is_absolute() for k in changes), changes
    new = changes[str(workspace / "new.txt")]
    assert new["type"] == "add" and new["content"] == "brand new\n"
    dest = changes[str(workspace / "dest.txt")]
    assert dest["type"] == "update"
    assert "-original content" in dest["unified_diff"] and "+modified content" in dest["unified_diff"]
    assert "codex_reason" not in params and "codex_grant_root" not in params

    begin = [p["msg"] for p in client.events_for(rid) if p["msg"]["type"] == "patch_apply_begin"]
    assert begin and begin[0]["auto_approved"] is False


def test_declined_patch_leaves_files_unchanged(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    (workspace / "dest.txt").write_text("original content\n")
    call_id = scripted_model.apply_patch(PATCH)
    scripted_model.text("not patched")
    client = spawn_server(policy="decline")
    rid, result = run_codex(client, "patch")
    assert text_of(result) == "not patched"
    assert (workspace / "dest.txt").read_text() == "original content\n"
    assert not (workspace / "new.txt").exists()
    assert "rejected" in scripted_model.call_output(call_id)
    # Codex 0.147's order: the patch is announced, then asked, then ends as declined.
    types = event_types(client, rid)
    patch_events = [t for t in types if "patch" in t]
    assert patch_events == ["patch_apply_begin", "apply_patch_approval_request", "patch_apply_end"]
    end = next(p["msg"] for p in client.events_for(rid) if p["msg"]["type"] == "patch_apply_end")
    assert end["status"] == "declined" and end["success"] is False and "rejected" in end["stderr"]
    assert "turn_diff" not in types


def test_heredoc_patch_is_asked_as_a_patch(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    script = "apply_patch <<'EOF'\n*** Begin Patch\n*** Add File: via-shell.txt\n+hello\n*** End Patch\nEOF\n"
    scripted_model.tool_calls(shell_call(script, "heredoc-call"))
    scripted_model.text("done")
    client = spawn_server(policy="legacy-approve")
    _, result = run_codex(client, "patch via shell")
    assert text_of(result) == "done"
    requests = client.server_requests()
    assert [r["params"]["codex_elicitation"] for r in requests] == ["patch-approval"]
    assert list(requests[0]["params"]["codex_changes"]) == [str(workspace / "via-shell.txt")]
    assert (workspace / "via-shell.txt").read_text() == "hello\n"


def test_stdin_eof_resolves_a_pending_elicitation_as_denied(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    call_id = scripted_model.shell("touch after-eof.txt")
    scripted_model.text("finished without approval")
    client = spawn_server(policy="never")
    rid = client.call_tool("codex", {"prompt": "try", **UNTRUSTED})
    client.wait_for(lambda m: m.get("method") == "elicitation/create")
    client.close_stdin()
    result = result_of(client.wait_response(rid, timeout=15))
    assert text_of(result) == "finished without approval"
    assert not (workspace / "after-eof.txt").exists()
    assert "rejected" in scripted_model.call_output(call_id)
    assert client.wait_exit(10) == 0


def test_approval_needed_after_stdin_eof_is_denied_without_asking(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    gate = scripted_model.hold(then=Turn("calls", calls=[shell_call("touch late-ask.txt", "late-ask")]))
    scripted_model.text("done anyway")
    client = spawn_server(policy="accept-mcp")
    rid = client.call_tool("codex", {"prompt": "try", **UNTRUSTED})
    gate.wait_arrived(1)
    client.close_stdin()
    gate.release()
    result = result_of(client.wait_response(rid, timeout=15))
    assert text_of(result) == "done anyway"
    assert client.server_requests() == [], "nobody can answer an elicitation after EOF"
    assert not (workspace / "late-ask.txt").exists()
    assert "rejected" in scripted_model.call_output("late-ask")
    assert client.wait_exit(10) == 0


def approve_for_session_mcp(message: dict[str, Any]) -> dict[str, Any]:
    return {"action": "accept", "content": {"decision": "approved_for_session"}}


def test_patch_approved_for_session_is_remembered(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    first = "*** Begin Patch\n*** Add File: session.txt\n+one\n*** End Patch"
    second = "*** Begin Patch\n*** Update File: session.txt\n@@\n-one\n+two\n*** End Patch"
    scripted_model.apply_patch(first)
    scripted_model.apply_patch(second)
    scripted_model.text("patched twice")
    client = spawn_server(policy=approve_for_session_mcp)
    _, result = run_codex(client, "two patches")
    assert text_of(result) == "patched twice"
    assert (workspace / "session.txt").read_text() == "two\n"
    assert len(client.server_requests()) == 1, "the same file was approved for the session"


def test_resumed_thread_keeps_its_approval_policy(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, codex_home: Path
) -> None:
    # A resumed thread's sandbox is the person's current one (its rollout may only narrow
    # it), so the person's config allows the full access this thread was started with.
    write_config(codex_home, scripted_model, extra='sandbox_mode = "danger-full-access"')
    scripted_model.text("hello")
    first = spawn_server()
    _, result = run_codex(first, "start")
    thread_id = result["structuredContent"]["threadId"]
    first.close_stdin()
    assert first.wait_exit(10) == 0

    scripted_model.shell("touch resumed.txt")
    scripted_model.text("resumed and ran")
    second = spawn_server(policy="legacy-approve")
    rid = second.call_tool("codex-reply", {"threadId": thread_id, "prompt": "now run it"})
    reply = result_of(second.wait_response(rid))
    assert text_of(reply) == "resumed and ran"
    requests = second.server_requests()
    assert len(requests) == 1, "approval-policy untrusted must survive the restart"
    assert requests[0]["params"]["threadId"] == thread_id
    assert (workspace / "resumed.txt").exists()
    rollout = next((codex_home / "sessions").glob(f"*/*/*/rollout-*-{thread_id}.jsonl"))
    contexts = [
        json.loads(line)["payload"]
        for line in rollout.read_text().splitlines()
        if line.strip() and json.loads(line)["type"] == "turn_context"
    ]
    assert len(contexts) == 2
    assert contexts[-1]["approval_policy"] == "untrusted"
    assert contexts[-1]["sandbox_policy"] == contexts[0]["sandbox_policy"]
    assert contexts[-1]["sandbox_policy"]["type"] == "danger-full-access"


def test_two_pending_elicitations_answered_out_of_order(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.default = None
    scripted_model.tool_calls(shell_call("touch file-a.txt", "call-a"))
    scripted_model.tool_calls(shell_call("touch file-b.txt", "call-b"))
    scripted_model.text("first finished")
    scripted_model.text("second finished")
    client = spawn_server(policy="never")
    a = client.call_tool("codex", {"prompt": "A", **UNTRUSTED})
    first = client.wait_for(lambda m: m.get("method") == "elicitation/create")
    b = client.call_tool("codex", {"prompt": "B", **UNTRUSTED})
    second = client.wait_for(lambda m: m.get("method") == "elicitation/create" and m["id"] != first["id"])
    assert first["params"]["codex_mcp_tool_call_id"] == str(a)
    assert second["params"]["codex_mcp_tool_call_id"] == str(b)
    # Answer the later one first: approve B, then decline A.
    client.send({"jsonrpc": "2.0", "id": second["id"], "result": {"decision": "approved"}})
    client.send({"jsonrpc": "2.0", "id": first["id"], "result": {"action": "decline"}})
    result_of(client.wait_response(a))
    result_of(client.wait_response(b))
    assert (workspace / "file-b.txt").exists()
    assert not (workspace / "file-a.txt").exists()
    assert "rejected" in scripted_model.call_output("call-a")
    assert json.loads(scripted_model.call_output("call-b"))["metadata"]["exit_code"] == 0
