"""The tools offered per family: the wire contract (names, parameter schemas) is Codex
0.147's, measured on the wire; only the description texts are ours."""

from __future__ import annotations

import json
from typing import Any

import pytest

from codex_mcp.agent.families import FamilyOverrides, resolve_family
from codex_mcp.agent.tool_specs import ToolFeatures, tool_specs_for


def strip_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        # A property may itself be called "description": only drop description texts.
        return {
            k: strip_descriptions(v)
            for k, v in value.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(value, list):
        return [strip_descriptions(v) for v in value]
    return value


def names(tools: list[dict[str, Any]]) -> list[str]:
    return [str(t.get("name", t["type"])) for t in tools]


def by_name(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(t.get("name", t["type"])): t for t in tools}


STRING = {"type": "string"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
APPROVAL = {
    "justification": STRING,
    "prefix_rule": {"type": "array", "items": STRING},
    "sandbox_permissions": {"type": "string", "enum": ["use_default", "require_escalated"]},
}


def function(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
    }


# The reference's schemas for gpt-5.5, descriptions removed.
EXPECTED = {
    "exec_command": function(
        "exec_command",
        {
            "cmd": STRING,
            **APPROVAL,
            "login": BOOLEAN,
            "max_output_tokens": NUMBER,
            "shell": STRING,
            "tty": BOOLEAN,
            "workdir": STRING,
            "yield_time_ms": NUMBER,
        },
        ["cmd"],
    ),
    "write_stdin": function(
        "write_stdin",
        {"chars": STRING, "max_output_tokens": NUMBER, "session_id": NUMBER, "yield_time_ms": NUMBER},
        ["session_id"],
    ),
    "update_plan": function(
        "update_plan",
        {
            "explanation": STRING,
            "plan": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                        "step": STRING,
                    },
                    "required": ["step", "status"],
                    "additionalProperties": False,
                },
            },
        },
        ["plan"],
    ),
    "request_user_input": function(
        "request_user_input",
        {
            "questions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "header": STRING,
                        "id": STRING,
                        "options": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"description": STRING, "label": STRING},
                                "required": ["label", "description"],
                                "additionalProperties": False,
                            },
                        },
                        "question": STRING,
                    },
                    "required": ["id", "header", "question", "options"],
                    "additionalProperties": False,
                },
            }
        },
        ["questions"],
    ),
    "view_image": function(
        "view_image",
        {"detail": {"type": "string", "enum": ["high", "original"]}, "path": STRING},
        ["path"],
    ),
    "shell_command": function(
        "shell_command",
        {"command": STRING, **APPROVAL, "login": BOOLEAN, "timeout_ms": NUMBER, "workdir": STRING},
        ["command"],
    ),
    "shell": function(
        "shell",
        {"command": {"type": "array", "items": STRING}, **APPROVAL, "timeout_ms": NUMBER, "workdir": STRING},
        ["command"],
    ),
}


def test_gpt_5_5_gets_the_reference_tools_in_the_reference_order() -> None:
    tools = tool_specs_for(resolve_family("gpt-5.5"))
    assert names(tools) == [
        "exec_command",
        "write_stdin",
        "update_plan",
        "request_user_input",
        "apply_patch",
        "view_image",
        "web_search",
    ]
    found = by_name(tools)
    for name in ("exec_command", "write_stdin", "update_plan", "request_user_input", "view_image"):
        assert strip_descriptions(found[name]) == EXPECTED[name], name
    patch = found["apply_patch"]
    assert (patch["type"], patch["format"]["type"], patch["format"]["syntax"]) == (
        "custom",
        "grammar",
        "lark",
    )
    assert found["web_search"] == {
        "type": "web_search",
        "external_web_access": False,
        "search_content_types": ["text", "image"],
    }


def test_without_unified_exec_the_shell_is_shell_command() -> None:
    tools = tool_specs_for(resolve_family("gpt-5.5", FamilyOverrides(unified_exec=False)))
    assert names(tools)[0] == "shell_command" and "write_stdin" not in names(tools)
    assert strip_descriptions(tools[0]) == EXPECTED["shell_command"]
    # A server that does not serve exec sessions offers the same fallback.
    fallback = tool_specs_for(resolve_family("gpt-5.5"), ToolFeatures(exec_sessions=False))
    assert fallback == tools


def test_argv_shell_and_local_shell_families() -> None:
    o3 = tool_specs_for(resolve_family("o3"))
    assert names(o3) == ["shell", "update_plan", "request_user_input", "view_image", "web_search"]
    assert strip_descriptions(o3[0]) == EXPECTED["shell"]
    assert tool_specs_for(resolve_family("codex-mini-latest"))[0] == {"type": "local_shell"}


def test_unknown_slugs_get_the_apply_patch_tool_and_no_image_detail() -> None:
    tools = tool_specs_for(resolve_family("mock-model"))
    assert names(tools) == [
        "exec_command",
        "write_stdin",
        "update_plan",
        "request_user_input",
        "apply_patch",
        "view_image",
        "web_search",
    ]
    assert "detail" not in by_name(tools)["view_image"]["parameters"]["properties"]
    assert by_name(tools)["web_search"] == {"type": "web_search", "external_web_access": False}


def test_codex_families_get_shell_command_and_the_freeform_patch() -> None:
    tools = tool_specs_for(resolve_family("gpt-5-codex"))
    assert names(tools)[:4] == ["shell_command", "update_plan", "request_user_input", "apply_patch"]
    assert by_name(tools)["apply_patch"]["type"] == "custom"


def test_chat_wire_gets_function_tools_only() -> None:
    chat = ToolFeatures(wire_api="chat")
    tools = tool_specs_for(resolve_family("gpt-5.5"), chat)
    assert {t["type"] for t in tools} == {"function"}
    assert by_name(tools)["apply_patch"]["parameters"]["required"] == ["input"]
    assert "web_search" not in names(tools)
    assert names(tool_specs_for(resolve_family("codex-mini-latest"), chat))[0] == "shell"
    oss = tool_specs_for(resolve_family("gpt-oss-120b"), chat)
    assert names(oss) == ["shell", "update_plan", "request_user_input", "apply_patch"]  # text-only model


@pytest.mark.parametrize(
    ("mode", "sandbox", "external"),
    [
        ("cached", "workspace-write", False),
        ("cached", "read-only", False),
        ("cached", "danger-full-access", True),
        ("live", "workspace-write", True),
        ("live", "read-only", True),
    ],
)
def test_web_search_is_live_when_configured_or_unsandboxed(mode: str, sandbox: Any, external: bool) -> None:
    family = resolve_family("gpt-5.2", FamilyOverrides(web_search=mode))  # type: ignore[arg-type]
    tools = by_name(tool_specs_for(family, ToolFeatures(sandbox_mode=sandbox)))
    assert tools["web_search"] == {"type": "web_search", "external_web_access": external}


def test_disabled_features_remove_their_tools() -> None:
    family = resolve_family(
        "gpt-5.5", FamilyOverrides(web_search="disabled", view_image=False, shell_tool=False)
    )
    tools = tool_specs_for(family, ToolFeatures(update_plan=False, request_user_input=False))
    assert names(tools) == ["apply_patch"]


@pytest.mark.parametrize(
    "slug", ["gpt-5.5", "gpt-5.4-mini", "gpt-5.2", "gpt-5-codex", "o3", "mock-model", "gpt-oss-20b"]
)
def test_every_function_tool_follows_the_wire_rules(slug: str) -> None:
    for tool in tool_specs_for(resolve_family(slug)):
        if tool["type"] != "function":
            continue
        params = tool["parameters"]
        assert tool["strict"] is False and params["additionalProperties"] is False
        assert list(params["properties"]) == sorted(params["properties"]), tool["name"]
        assert set(params["required"]) <= set(params["properties"])
        assert tool["description"].strip()
        for name, prop in params["properties"].items():
            assert list(prop)[:2] == ["type", "description"] and prop["description"].strip(), (
                tool["name"],
                name,
            )


def test_specs_are_fresh_copies() -> None:
    """A caller that mutates one request's tools must not change the next request's."""
    first = tool_specs_for(resolve_family("gpt-5.5"))
    first[0]["parameters"]["properties"].clear()
    assert tool_specs_for(resolve_family("gpt-5.5"))[0]["parameters"]["properties"]
    assert json.dumps(tool_specs_for(resolve_family("o3"))) == json.dumps(
        tool_specs_for(resolve_family("o3"))
    )
