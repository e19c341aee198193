"""Approvals of the current shell tools through the real server: `exec_command` (and
`shell_command`) asking to leave the sandbox with `sandbox_permissions: require_escalated`.

The session runs in the workspace-write sandbox under `on-request`; the commands write to a
directory outside every writable root, so a file there proves the command ran outside the
sandbox, and its absence that it did not run there.  Every way of not saying yes denies.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.execwire_support import exec_command, exit_code_in
from tests.security.harness import outside_dir, run_call
from tests.support.raw_client import RawClient
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, write_config

pytestmark = [pytest.mark.timeout(90), pytest.mark.sandbox]

ESCALATE = {"sandbox_permissions": "require_escalated", "justification": "Write the report outside?"}


@pytest.fixture
def outside() -> Iterator[Path]:
    with outside_dir() as path:
        yield path


def escalated(model: ScriptedModel, cmd: str, **extra: Any) -> str:
    return exec_command(model, cmd, yield_ms=5000, **{**ESCALATE, **extra})


def answering(*answers: Any) -> Any:
    """A client that answers the elicitations in turn (then denies)."""
    queue = list(answers)

    def answer(msg: dict[str, Any]) -> Any:
        return queue.pop(0) if queue else {"decision": "denied"}

    return answer


def go(client: RawClient, approval: str = "on-request") -> dict[str, Any]:
    return run_call(client, approval=approval, sandbox="workspace-write")


def asked(client: RawClient) -> list[dict[str, Any]]:
    return client.server_requests("elicitation/create")


def rejected(cmd: str, why: str = "rejected by user") -> str:
    argv = shlex.join(["/bin/bash", "-lc", cmd])
    return f'exec_command failed for `{argv}`: CreateProcess {{ message: "Rejected(\\"{why}\\")" }}'


def test_approved_once_runs_outside_the_sandbox_and_asks_again(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "once.txt"
    first = escalated(scripted_model, f"echo one >> {target}")
    second = escalated(scripted_model, f"echo one >> {target}")
    scripted_model.text("done")
    client = spawn_server(policy="legacy-approve")
    go(client)
    assert exit_code_in(scripted_model.call_output(first)) == 0
    assert exit_code_in(scripted_model.call_output(second)) == 0
    assert target.read_text() == "one\none\n"
    requests = asked(client)
    assert len(requests) == 2
    params = requests[0]["params"]
    assert params["codex_elicitation"] == "exec-approval" and "Write the report outside?" in params["message"]
    assert params["codex_command"][1:] == ["-lc", f"echo one >> {target}"]


def test_approved_for_the_session_runs_the_same_command_again_without_asking(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "session.txt"
    for _ in range(2):
        escalated(scripted_model, f"echo s >> {target}")
    other = escalated(scripted_model, f"echo other >> {target}")
    scripted_model.text("done")
    client = spawn_server(policy=answering({"decision": "approved_for_session"}, {"decision": "denied"}))
    go(client)
    assert target.read_text() == "s\ns\n"
    assert len(asked(client)) == 2  # the identical command was not asked again; another one was
    assert scripted_model.call_output(other) == rejected(f"echo other >> {target}")


@pytest.mark.parametrize("policy", ["legacy-deny", "decline", "cancel", "error"])
def test_every_way_of_not_approving_denies(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path, policy: str
) -> None:
    target = outside / "denied.txt"
    call = escalated(scripted_model, f"touch {target}")
    scripted_model.text("done")
    client = spawn_server(policy=policy)
    result = go(client)
    assert not result.get("isError"), result
    assert not target.exists()
    prefix = rejected(f"touch {target}").partition("rejected by user")[0] + "rejected by user"
    assert scripted_model.call_output(call).startswith(prefix), scripted_model.call_output(call)


def test_an_unanswered_question_denies_when_its_time_runs_out(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path, codex_home: Path
) -> None:
    write_config(codex_home, scripted_model, extra="[codex_mcp]\nelicitation_timeout_sec = 1\n")
    target = outside / "unanswered.txt"
    call = escalated(scripted_model, f"touch {target}")
    scripted_model.text("done")
    client = spawn_server(policy="never")
    go(client)
    assert not target.exists()
    assert scripted_model.call_output(call) == rejected(
        f"touch {target}", "rejected by user (no answer to the approval request within 1 s; denied)"
    )


def test_abort_stops_the_turn_and_runs_nothing(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "aborted.txt"
    escalated(scripted_model, f"touch {target}")
    scripted_model.text("never reached")
    client = spawn_server(policy="legacy-abort")
    rid = client.call_tool(
        "codex", {"prompt": "go", "approval-policy": "on-request", "sandbox": "workspace-write"}
    )
    client.wait_response(rid, 60)
    assert not target.exists()
    assert "turn_aborted" in client.event_types(rid)


@pytest.mark.parametrize("approval", ["never", "untrusted", "on-failure"])
def test_escalation_is_refused_outside_on_request(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path, approval: str
) -> None:
    target = outside / "refused.txt"
    call = escalated(scripted_model, f"touch {target}")
    scripted_model.text("done")
    client = spawn_server(policy="legacy-approve")
    go(client, approval)
    assert not target.exists() and asked(client) == []
    assert scripted_model.call_output(call).startswith(f"approval policy is {approval}; reject command")


def test_without_escalation_the_command_stays_in_the_sandbox(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "sandboxed.txt"
    call = exec_command(scripted_model, f"touch {target}", yield_ms=5000)
    scripted_model.text("done")
    client = spawn_server(policy="legacy-approve")
    go(client)
    assert not target.exists() and asked(client) == []
    assert exit_code_in(scripted_model.call_output(call)) not in (None, 0)


def test_a_sandbox_denial_under_on_failure_asks_to_retry_outside(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "retried.txt"
    call = exec_command(scripted_model, f"touch {target}", yield_ms=5000)
    scripted_model.text("done")
    client = spawn_server(policy="legacy-approve")
    rid = client.call_tool(
        "codex", {"prompt": "go", "approval-policy": "on-failure", "sandbox": "workspace-write"}
    )
    client.wait_response(rid, 60)
    assert target.exists()
    (request,) = asked(client)
    assert "retry without sandbox" in request["params"]["message"]
    assert exit_code_in(scripted_model.call_output(call)) == 0
    begins = [e["msg"] for e in client.events_for(rid) if e["msg"]["type"] == "exec_command_begin"]
    assert len(begins) == 2 and begins[0]["process_id"] != begins[1]["process_id"]


def test_an_approved_prefix_spares_later_questions_for_commands_it_covers(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    first, second, third = outside / "a", outside / "b", outside / "c"
    escalated(scripted_model, f"touch {first}", prefix_rule=["touch"])
    later = escalated(scripted_model, f"touch {second}")
    other = escalated(scripted_model, f"cp {first} {third}")
    scripted_model.text("done")
    amend = {"decision": {"approved_execpolicy_amendment": {"proposed_execpolicy_amendment": ["touch"]}}}
    client = spawn_server(policy=answering(amend, {"decision": "denied"}))
    rid = client.call_tool(
        "codex", {"prompt": "go", "approval-policy": "on-request", "sandbox": "workspace-write"}
    )
    client.wait_response(rid, 60)
    assert first.exists() and second.exists() and not third.exists()
    assert exit_code_in(scripted_model.call_output(later)) == 0
    assert scripted_model.call_output(other) == rejected(f"cp {first} {third}")
    assert len(asked(client)) == 2
    requests = [e["msg"] for e in client.events_for(rid) if e["msg"]["type"] == "exec_approval_request"]
    assert requests[0]["proposed_execpolicy_amendment"] == ["touch"]
    assert requests[0]["available_decisions"][1] == {
        "approved_execpolicy_amendment": {"proposed_execpolicy_amendment": ["touch"]}
    }
    assert "proposed_execpolicy_amendment" not in requests[1]


def test_shell_command_asks_the_same_way(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path, codex_home: Path
) -> None:
    config = codex_home / "config.toml"
    config.write_text(config.read_text() + "\n[features]\nunified_exec = false\n")
    target, denied = outside / "shell-command.txt", outside / "shell-denied.txt"
    ok = scripted_model.function("shell_command", {"command": f"touch {target}", **ESCALATE})
    no = scripted_model.function("shell_command", {"command": f"touch {denied}", **ESCALATE})
    scripted_model.text("done")
    client = spawn_server(policy=answering({"decision": "approved"}, {"decision": "denied"}))
    go(client)
    assert target.exists() and not denied.exists()
    assert scripted_model.call_output(ok).startswith("Exit code: 0\n")
    assert scripted_model.call_output(no) == "exec command rejected by user"
