"""A thread's model contract (`agent.request`): what each request carries, from the config."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from codex_mcp.agent.config.model import Config, ServerSettings
from codex_mcp.agent.families import FamilyOverrides
from codex_mcp.agent.handlers.registry import SERVED_SHELL_KINDS
from codex_mcp.agent.ids import item_id, uuid7
from codex_mcp.agent.items import normalize_model_item, with_item_ids
from codex_mcp.agent.model.provider import ModelProviderInfo
from codex_mcp.agent.model.responses import build_responses_body
from codex_mcp.agent.request import ORIGINATOR_ENV, make_contract
from codex_mcp.sandbox.policy import SandboxPolicy


def config(tmp_path: Path, **kw: object) -> Config:
    return Config(codex_home=tmp_path, cwd=tmp_path, **kw)  # type: ignore[arg-type]


def contract(cfg: Config, env: dict[str, str] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return make_contract(cfg, env=env or {}, installation_id="inst-1", shell_kinds=SERVED_SHELL_KINDS, **kw)  # type: ignore[arg-type]


def test_the_family_decides_the_fields_and_the_tools(tmp_path: Path) -> None:
    c = contract(config(tmp_path, model="gpt-5.5"))
    prompt = c.prompt([], thread_id="t-1", turn_id="turn-1")
    body = build_responses_body(prompt, "gpt-5.5")
    assert body["parallel_tool_calls"] is True
    assert body["reasoning"] == {"effort": "medium"}
    assert body["text"] == {"verbosity": "low"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["store"] is False and body["prompt_cache_key"] == "t-1"
    assert "max_output_tokens" not in body
    names = [t.get("name") or t["type"] for t in body["tools"]]
    assert names[-1] == "web_search" and "request_user_input" in names and "apply_patch" in names
    meta = body["client_metadata"]
    assert meta["thread_id"] == "t-1" and meta["turn_id"] == "turn-1" and meta["x-codex-window-id"] == "t-1:0"
    assert json.loads(meta["x-codex-turn-metadata"])["installation_id"] == "inst-1"


def test_the_instructions_describe_the_shell_tool_actually_served(tmp_path: Path) -> None:
    c = contract(config(tmp_path, model="gpt-5.5"))
    offered = {t.get("name") for t in c.tools}
    served = c.shell
    assert served in SERVED_SHELL_KINDS
    if served == "shell":
        assert "shell" in offered and "exec_command" not in offered
        assert "exec_command" not in c.instructions


def test_overrides_and_instruction_sources(tmp_path: Path) -> None:
    overrides = FamilyOverrides(reasoning_effort="high", verbosity="high", context_window=100_000)
    c = contract(config(tmp_path, model="gpt-5.5", family_overrides=overrides))
    body = build_responses_body(c.prompt([], thread_id="t", turn_id="u"), "gpt-5.5")
    assert body["reasoning"] == {"effort": "high"} and body["text"] == {"verbosity": "high"}
    assert c.family.effective_context_window == 95_000
    assert contract(config(tmp_path, base_instructions="BASE")).instructions == "BASE"
    assert contract(config(tmp_path, user_instructions=" CFG \n")).instructions == "CFG"
    assert contract(config(tmp_path), instructions="RECORDED").instructions == "RECORDED"


def test_unknown_and_code_mode_slugs_warn(tmp_path: Path) -> None:
    assert "`mock-model`" in contract(config(tmp_path, model="mock-model")).warnings[0]
    assert "code mode" in contract(config(tmp_path, model="gpt-5.6-sol")).warnings[0]
    assert contract(config(tmp_path, model="gpt-5.5")).warnings == []


@pytest.mark.parametrize(
    ("provider", "azure"),
    [
        (
            ModelProviderInfo(
                id="azure", name="Azure", base_url="https://x.example/v1", wire_api="responses"
            ),
            True,
        ),
        (
            ModelProviderInfo(
                id="corp", name="c", base_url="https://r.openai.azure.com/openai/v1", wire_api="responses"
            ),
            True,
        ),
        (
            ModelProviderInfo(id="corp", name="c", base_url="https://r.openai.azure.com/v1", wire_api="chat"),
            False,
        ),
        (
            ModelProviderInfo(id="mock", name="mock", base_url="http://127.0.0.1:1/v1", wire_api="responses"),
            False,
        ),
    ],
)
def test_azure_responses_endpoints_store_their_items(
    tmp_path: Path, provider: ModelProviderInfo, azure: bool
) -> None:
    c = contract(config(tmp_path, model_provider=provider))
    assert c.azure is azure
    assert build_responses_body(c.prompt([], thread_id="t", turn_id="u"), "m")["store"] is azure


def test_headers_name_the_client_and_never_the_beta(tmp_path: Path) -> None:
    mock = ModelProviderInfo(id="mock", name="mock", base_url="http://127.0.0.1:1/v1", wire_api="responses")
    cfg = config(tmp_path, model_provider=mock)
    c = contract(cfg, env={"TERM": "xterm-256color"}, client=("claude-code", "2.1.0"))
    headers = c.prompt([], thread_id="t", turn_id="u").headers
    assert headers["originator"] == "codex_mcp"
    assert headers["user-agent"].startswith("codex_mcp/")
    assert headers["user-agent"].endswith(" xterm-256color (claude-code; 2.1.0)")
    assert "openai-beta" not in {k.lower() for k in headers} and "session_id" not in headers
    assert "version" not in headers  # only for the built-in OpenAI provider
    assert contract(config(tmp_path)).prompt([], thread_id="t", turn_id="u").headers["version"]
    other = c.with_client("inspector", None)
    assert other.prompt([], thread_id="t", turn_id="u").headers["user-agent"].endswith("(inspector; unknown)")


def test_a_hostile_client_name_cannot_add_headers(tmp_path: Path) -> None:
    c = contract(config(tmp_path), client=("evil\r\nX-Injected: 1", "1\n2"))
    headers = c.prompt([], thread_id="t", turn_id="u").headers
    assert all("\r" not in v and "\n" not in v for v in headers.values())
    assert "x-injected" not in {k.lower() for k in headers}


def test_the_originator_is_configurable(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert contract(cfg, env={ORIGINATOR_ENV: "my_tool"}).identity.originator == "my_tool"
    mine = replace(cfg, server=ServerSettings(originator="from_config"))
    assert contract(mine, env={ORIGINATOR_ENV: "my_tool"}).identity.originator == "from_config"
    sneaky = replace(cfg, server=ServerSettings(originator="a\r\nb: c"))
    assert "\n" not in contract(sneaky).prompt([], thread_id="t", turn_id="u").headers["originator"]


def test_uuid7_is_time_ordered_and_well_formed() -> None:
    ids = [uuid7() for _ in range(50)]
    assert all(i[14] == "7" and i[19] in "89ab" for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)
    assert item_id("msg").startswith("msg_") and len(item_id("fco")) == len("fco_") + 36


def test_items_we_make_get_ids_and_model_items_keep_theirs() -> None:
    items = [
        {"type": "message", "role": "user", "content": []},
        {"type": "function_call_output", "call_id": "c", "output": "x"},
        {"type": "custom_tool_call_output", "call_id": "d", "output": "y"},
        {"type": "message", "id": "msg_model", "role": "assistant", "content": []},
        {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "n", "arguments": "{}"},
    ]
    out = with_item_ids(items, lambda prefix: f"{prefix}_new")
    assert [i.get("id") for i in out] == ["msg_new", "fco_new", "ctco_new", "msg_model", "fc_1"]
    assert list(out[0]) == ["type", "id", "role", "content"]


def test_model_items_are_kept_in_the_shape_codex_replays() -> None:
    message = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "hi", "annotations": [], "logprobs": []}],
    }
    assert normalize_model_item(message) == {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "hi"}],
    }
    reasoning = {"type": "reasoning", "id": "rs", "summary": [], "encrypted_content": "E", "status": None}
    assert normalize_model_item(reasoning) == {
        "type": "reasoning",
        "id": "rs",
        "summary": [],
        "content": None,
        "encrypted_content": "E",
    }
    call = {
        "type": "function_call",
        "id": "fc",
        "status": "completed",
        "name": "n",
        "arguments": "{}",
        "call_id": "c",
    }
    assert list(normalize_model_item(call)) == ["type", "id", "name", "arguments", "call_id"]


def test_a_workspace_policy_is_reported_as_codex_reports_it(tmp_path: Path) -> None:
    from codex_mcp.agent.context_items import permission_profile_json

    policy = SandboxPolicy(mode="workspace-write", exclude_slash_tmp=True)
    profile = permission_profile_json(policy, tmp_path)
    entries = profile["file_system"]["entries"]
    assert entries[0] == {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"}
    assert {"path": {"type": "path", "path": str(tmp_path)}, "access": "write"} in entries
    assert not any(e["path"].get("value") == {"kind": "slash_tmp"} for e in entries)
    assert entries[-1]["missing_path_behavior"] == "skip" and profile["network"] == "restricted"
    assert permission_profile_json(SandboxPolicy(mode="danger-full-access"), tmp_path) == {"type": "disabled"}
