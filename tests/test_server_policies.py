"""Approval policies with the real sandbox, through the real server.

on-failure asks to retry without the sandbox only after a denial; on-request asks only when
the model requests escalation; never asks nothing; patches inside writable roots need no
approval.  "Outside" is a directory under $HOME: workspace-write allows the temp dirs.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.raw_client import RawClient, result_of, text_of
from tests.support.scripted_model import ScriptedModel, shell_call
from tests.support.server import ServerFactory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses the Linux sandbox")

RETRY_REASON = "command failed; retry without sandbox?"


@pytest.fixture
def outside() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=".codex-mcp-policy-", dir=Path.home()))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(client: RawClient, policy: str, sandbox: str = "workspace-write") -> dict[str, Any]:
    rid = client.call_tool("codex", {"prompt": "go", "approval-policy": policy, "sandbox": sandbox})
    return result_of(client.wait_response(rid, 60))


def reasons(client: RawClient) -> list[str | None]:
    return [r["params"].get("codex_reason") for r in client.server_requests()]


def test_on_failure_asks_to_retry_unsandboxed_after_a_denial(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "escaped.txt"
    call_id = scripted_model.shell(["bash", "-c", f"echo out > {target}"])
    scripted_model.text("retried")
    client = spawn_server(policy="legacy-approve")
    assert text_of(run(client, "on-failure")) == "retried"
    assert reasons(client) == [RETRY_REASON], "exactly one ask, after the sandbox denied the write"
    assert target.read_text() == "out\n", "the approved retry runs without the sandbox"
    assert '"exit_code":0' in scripted_model.call_output(call_id)


def test_on_failure_declined_retry_leaves_the_denial(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "escaped.txt"
    call_id = scripted_model.shell(["bash", "-c", f"echo out > {target}"])
    scripted_model.text("not retried")
    client = spawn_server(policy="decline")
    run(client, "on-failure")
    assert reasons(client) == [RETRY_REASON]
    assert not target.exists()
    assert "rejected" in scripted_model.call_output(call_id)


def test_on_failure_does_not_ask_when_the_sandbox_allowed_the_command(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.shell(["bash", "-c", "echo in > inside.txt"])
    scripted_model.text("fine")
    client = spawn_server(policy="legacy-approve")
    run(client, "on-failure")
    assert client.server_requests() == []
    assert (workspace / "inside.txt").read_text() == "in\n"


def test_on_request_asks_for_an_escalation_with_its_justification(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "escalated.txt"
    scripted_model.tool_calls(
        shell_call(
            ["bash", "-c", f"echo up > {target}"],
            with_escalated_permissions=True,
            justification="the build cache lives outside the workspace",
        )
    )
    scripted_model.text("escalated")
    client = spawn_server(policy="legacy-approve")
    run(client, "on-request")
    assert reasons(client) == ["the build cache lives outside the workspace"]
    assert target.read_text() == "up\n"


def test_on_request_without_escalation_stays_in_the_sandbox_and_does_not_ask(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "denied.txt"
    call_id = scripted_model.shell(["bash", "-c", f"echo no > {target}"])
    scripted_model.text("denied by the sandbox")
    client = spawn_server(policy="legacy-approve")
    run(client, "on-request")
    assert client.server_requests() == []
    assert not target.exists()
    assert '"exit_code":0' not in scripted_model.call_output(call_id)


def test_never_rejects_escalation_requests_and_never_asks(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    target = outside / "never.txt"
    call_id = scripted_model.function(
        "shell",
        {
            "command": ["bash", "-c", f"echo x > {target}"],
            "with_escalated_permissions": True,
            "justification": "j",
        },
    )
    sandboxed_id = scripted_model.shell(["bash", "-c", f"echo y > {target}"])
    scripted_model.text("done")
    client = spawn_server(policy="legacy-approve")
    run(client, "never")
    assert client.server_requests() == []
    assert "approval policy is never" in scripted_model.call_output(call_id)
    assert '"exit_code":0' not in scripted_model.call_output(sandboxed_id), "the sandbox must deny it"
    assert not target.exists()


def test_patches_inside_writable_roots_need_no_approval_outside_ones_do(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, outside: Path
) -> None:
    inside_id = scripted_model.apply_patch("*** Begin Patch\n*** Add File: inside.txt\n+in\n*** End Patch")
    outside_file = outside / "outside.txt"
    outside_id = scripted_model.apply_patch(
        f"*** Begin Patch\n*** Add File: {outside_file}\n+out\n*** End Patch"
    )
    scripted_model.text("patched")
    client = spawn_server(policy="decline")
    run(client, "on-request")
    assert (workspace / "inside.txt").read_text() == "in\n"
    assert "Success." in scripted_model.call_output(inside_id)
    asked = client.server_requests()
    assert [r["params"]["codex_elicitation"] for r in asked] == ["patch-approval"]
    assert list(asked[0]["params"]["codex_changes"]) == [str(outside_file)]
    assert not outside_file.exists()
    assert "rejected" in scripted_model.call_output(outside_id)


def test_never_rejects_patches_outside_the_workspace(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    outside_file = outside / "outside.txt"
    call_id = scripted_model.apply_patch(
        f"*** Begin Patch\n*** Add File: {outside_file}\n+out\n*** End Patch"
    )
    scripted_model.text("done")
    client = spawn_server(policy="legacy-approve")
    run(client, "never")
    assert client.server_requests() == []
    assert "writing outside of the project" in scripted_model.call_output(call_id)
    assert not outside_file.exists()
