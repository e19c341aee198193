"""`$CODEX_HOME/rules/*.rules` decide before the approval policy, through the real server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.raw_client import result_of, text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, server_env, write_config

RULES = """
# Pushing is never allowed; some files may always be touched; one needs a person.
prefix_rule(
    pattern = ["git", "push"],
    decision = "forbidden",
    justification = "publishing is a human decision",
)
prefix_rule(pattern = ["touch", ["allowed.txt", "also-allowed.txt"]], decision = "allow")
prefix_rule(pattern = ["touch", "asked.txt"], decision = "prompt")
"""


@pytest.fixture(autouse=True)
def rules_file(codex_home: Path) -> Path:
    path = codex_home / "rules" / "default.rules"
    path.parent.mkdir()
    path.write_text(RULES)
    return path


def run(client: object, prompt: str, **args: str) -> dict[str, object]:
    rid = client.call_tool("codex", {"prompt": prompt, **args})  # type: ignore[attr-defined]
    return result_of(client.wait_response(rid, 30))  # type: ignore[attr-defined]


def test_forbidden_rule_rejects_with_its_justification(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    call_id = scripted_model.shell(["git", "push", "origin", "main"])
    scripted_model.text("understood")
    client = spawn_server(policy="legacy-approve")
    result = run(client, "push it", **{"approval-policy": "never", "sandbox": "danger-full-access"})
    assert text_of(result) == "understood"
    output = scripted_model.call_output(call_id)
    assert output == "`git push origin main` rejected: publishing is a human decision"
    assert client.server_requests() == []


# The temp dirs are not writable roots here, so the rules in CODEX_HOME (under the test's temp
# dir) are out of the sandbox's reach and therefore trusted.
TRUSTED_HOME = "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n"


def test_allow_rule_runs_without_asking_even_when_untrusted_but_in_the_sandbox(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, codex_home: Path
) -> None:
    """`allow` spares the question; the command still runs in the sandbox (unlike Codex,
    where it ran unsandboxed): under read-only the same touch is denied, not run."""
    write_config(codex_home, scripted_model, extra=TRUSTED_HOME)
    scripted_model.shell(["touch", "allowed.txt"])
    scripted_model.text("done")
    denied_id = scripted_model.shell(["touch", "also-allowed.txt"])
    scripted_model.text("denied")
    client = spawn_server(policy="decline")
    result = run(client, "touch", **{"approval-policy": "untrusted", "sandbox": "workspace-write"})
    assert text_of(result) == "done"
    assert client.server_requests() == [], "an allow rule must not ask"
    assert (workspace / "allowed.txt").exists()

    result = run(client, "touch", **{"approval-policy": "never", "sandbox": "read-only"})
    assert text_of(result) == "denied"
    assert client.server_requests() == []
    assert not (workspace / "also-allowed.txt").exists(), "allow must not lift the read-only sandbox"
    assert '"exit_code":0' not in scripted_model.call_output(denied_id)


def test_prompt_rule_asks_even_where_the_policy_would_not(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.shell(["touch", "asked.txt"])
    scripted_model.text("done")
    client = spawn_server(policy="legacy-approve")
    run(client, "touch", **{"approval-policy": "on-request", "sandbox": "danger-full-access"})
    asked = client.server_requests()
    assert [r["params"]["codex_command"] for r in asked] == [["touch", "asked.txt"]]
    assert (workspace / "asked.txt").exists()


def test_prompt_rule_under_never_is_rejected(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    call_id = scripted_model.shell(["touch", "asked.txt"])
    scripted_model.text("fine")
    client = spawn_server(policy="legacy-approve")
    run(client, "touch", **{"approval-policy": "never", "sandbox": "danger-full-access"})
    assert client.server_requests() == []
    assert "approval required by policy" in scripted_model.call_output(call_id)


def test_a_malformed_rules_file_stops_the_server_naming_file_and_line(
    codex_home: Path, rules_file: Path
) -> None:
    rules_file.write_text(
        'prefix_rule(pattern = ["ok"])\nprefix_rule(pattern = ["rm"], decision = "maybe")\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "codex_mcp"],
        input=b"",
        capture_output=True,
        env=server_env(codex_home),
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stdout == b"", "nothing may reach the client before the check"
    assert f"{rules_file}:2:" in proc.stderr.decode() and "decision" in proc.stderr.decode()
