"""A hostile model abuses the command prefix it may propose with an escalation
(`prefix_rule`): a prefix that would let anything run later (a shell, an interpreter, a
wrapper), one that does not even cover the command it comes with, a harmless command with a
compound script after it.  And a client that answers with a prefix of its own.  Only a
narrow prefix that covers the command is ever put to the person, only that one can be
granted, and it only spares questions for commands made entirely of it.

Through the real server (workspace-write, on-request); judged from outside: the files the
later commands would create outside every writable root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.execwire_support import exec_command, exit_code_in
from tests.security.harness import outside_dir
from tests.support.raw_client import RawClient
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = [pytest.mark.timeout(90), pytest.mark.sandbox]

ESCALATE = {"sandbox_permissions": "require_escalated", "justification": "ok?"}


@pytest.fixture
def outside() -> Iterator[Path]:
    with outside_dir() as path:
        yield path


def amend_with(prefix: list[str]) -> dict[str, Any]:
    return {"decision": {"approved_execpolicy_amendment": {"proposed_execpolicy_amendment": prefix}}}


def answers(first: dict[str, Any]) -> Any:
    """The first question is answered with `first` (an amendment), every later one denied."""
    given: list[int] = []

    def answer(msg: dict[str, Any]) -> Any:
        given.append(1)
        return first if len(given) == 1 else {"decision": "denied"}

    return answer


def requests_of(client: RawClient, rid: Any) -> list[dict[str, Any]]:
    return [e["msg"] for e in client.events_for(rid) if e["msg"]["type"] == "exec_approval_request"]


def run(client: RawClient) -> Any:
    rid = client.call_tool(
        "codex", {"prompt": "go", "approval-policy": "on-request", "sandbox": "workspace-write"}
    )
    client.wait_response(rid, 60)
    return rid


@pytest.mark.parametrize(
    ("prefix", "first_cmd", "later_cmd"),
    [
        (["bash"], "bash -c 'touch {a}'", "bash -c 'touch {b}'"),
        (["bash", "-c"], "bash -c 'touch {a}'", "bash -c 'touch {b}'"),
        (["python3"], 'python3 -c \'open("{a}", "w")\'', 'python3 -c \'open("{b}", "w")\''),
        (["env"], "env touch {a}", "env touch {b}"),
        (["sudo"], "touch {a}", "touch {b}"),  # not even the command it came with
        (["rm"], "touch {a}", "rm -f {b}"),  # a prefix that does not cover this command
        ([], "touch {a}", "touch {b}"),
    ],
)
def test_a_broad_or_unrelated_prefix_is_never_put_to_the_person(
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    outside: Path,
    prefix: list[str],
    first_cmd: str,
    later_cmd: str,
) -> None:
    a, b = outside / "a", outside / "b"
    if "rm" in later_cmd:
        b.write_text("keep me")
    first = exec_command(scripted_model, first_cmd.format(a=a, b=b), prefix_rule=prefix, **ESCALATE)
    later = exec_command(scripted_model, later_cmd.format(a=a, b=b), **ESCALATE)
    scripted_model.text("done")
    client = spawn_server(policy=answers(amend_with(prefix)))
    rid = run(client)
    assert exit_code_in(scripted_model.call_output(first)) == 0 and a.exists()  # approved once
    # The client answered "approve with the amendment", yet nothing was granted beyond it:
    first_request, later_request = requests_of(client, rid)
    assert "proposed_execpolicy_amendment" not in first_request and "available_decisions" not in first_request
    assert later_request["command"][-1] == later_cmd.format(a=a, b=b)  # asked again, and denied
    assert (b.read_text() == "keep me") if "rm" in later_cmd else not b.exists()
    assert exit_code_in(scripted_model.call_output(later)) is None


def test_the_client_cannot_grant_a_prefix_of_its_own(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path
) -> None:
    a, b, c = outside / "a", outside / "b", outside / "c"
    exec_command(scripted_model, f"touch {a}", prefix_rule=["touch"], **ESCALATE)
    broad = exec_command(scripted_model, f"cp {a} {b}", **ESCALATE)
    covered = exec_command(scripted_model, f"touch {c}", **ESCALATE)
    scripted_model.text("done")
    # The answer names a broader prefix than the one proposed: only the proposed one counts.
    client = spawn_server(policy=answers(amend_with(["cp"])))
    rid = run(client)
    assert a.exists() and c.exists() and not b.exists()
    assert exit_code_in(scripted_model.call_output(covered)) == 0
    assert exit_code_in(scripted_model.call_output(broad)) is None
    assert [r["command"][-1] for r in requests_of(client, rid)] == [f"touch {a}", f"cp {a} {b}"]


@pytest.mark.parametrize(
    "smuggled",
    [
        "touch {b}; touch {c}x",  # every command is covered: allowed
        "touch {b} && cp {b} {c}",
        "touch {b} | sh",
        "touch $(cat {b})",
        "touch {b} > {c}",
        "touch `id`",
    ],
)
def test_a_granted_prefix_only_covers_commands_made_of_it(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, outside: Path, smuggled: str
) -> None:
    a, b, c = outside / "a", outside / "b", outside / "c"
    exec_command(scripted_model, f"touch {a}", prefix_rule=["touch"], **ESCALATE)
    exec_command(scripted_model, smuggled.format(b=b, c=c), **ESCALATE)
    scripted_model.text("done")
    client = spawn_server(policy=answers(amend_with(["touch"])))
    rid = run(client)
    asked_again = len(requests_of(client, rid)) == 2
    if smuggled.startswith("touch {b}; touch {c}x"):
        assert not asked_again and b.exists() and Path(f"{c}x").exists()
    else:
        assert asked_again and not c.exists()
