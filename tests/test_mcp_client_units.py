"""Pure parts of the MCP client: config entries, tool names, schemas, model output, and the
sandbox-state forms (round-tripped through the parser our own server uses for them)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_mcp.agent.mcp_client.config import (
    DEFAULT_STARTUP_TIMEOUT_SEC,
    DEFAULT_TOOL_TIMEOUT_SEC,
    HttpTransportConfig,
    StdioTransportConfig,
    parse_servers,
)
from codex_mcp.agent.mcp_client.output import result_to_model_output
from codex_mcp.agent.mcp_client.tools import clean_input_schema, clean_schema, qualified_name, qualify_tools
from codex_mcp.agent.mcp_client.transport import stdio_env
from codex_mcp.sandbox.policy import (
    PROTECTED_SUBPATHS,
    SandboxPolicy,
    parse_permission_profile,
    parse_sandbox_policy_json,
)
from codex_mcp.sandbox.state import (
    parse_sandbox_state,
    permission_profile,
    sandbox_state_meta,
    sandbox_state_update_params,
)

# --- config ---------------------------------------------------------------------------------


def test_config_entries() -> None:
    servers, problems = parse_servers(
        {
            "s": {
                "command": "srv",
                "args": ["-v"],
                "env": {"A": "1"},
                "cwd": "/w",
                "startup_timeout_ms": 2500,
            },
            "h": {"url": "https://example.test/mcp", "bearer_token_env_var": "T", "tool_timeout_sec": 5},
            "off": {"command": "x", "enabled": False},
            "bad name": {"command": "x"},
            "both": {"command": "x", "url": "http://127.0.0.1/"},
            "badtimeout": {"command": "x", "startup_timeout_sec": -1},
            "badargs": {"command": "x", "args": "not a list"},
        }
    )
    by_name = {s.name: s for s in servers}
    assert set(by_name) == {"s", "h"}
    s = by_name["s"]
    assert s.transport == StdioTransportConfig("srv", ("-v",), {"A": "1"}, (), "/w")
    assert s.startup_timeout_sec == 2.5 and s.tool_timeout_sec == DEFAULT_TOOL_TIMEOUT_SEC
    h = by_name["h"]
    assert isinstance(h.transport, HttpTransportConfig) and h.transport.bearer_token_env_var == "T"
    assert h.startup_timeout_sec == DEFAULT_STARTUP_TIMEOUT_SEC and h.tool_timeout_sec == 5
    errors = {p.server: p.error for p in problems}
    assert set(errors) == {"bad name", "both", "badtimeout", "badargs"}
    assert errors["bad name"] == "Invalid MCP server name 'bad name': must match pattern ^[a-zA-Z0-9_-]+$"
    assert "startup_timeout_sec" in errors["badtimeout"] and "args" in errors["badargs"]


def test_tool_filters() -> None:
    (server,), _ = parse_servers(
        {"a": {"command": "x", "enabled_tools": ["x", "y"], "disabled_tools": ["y"]}}
    )
    assert [server.tool_allowed(t) for t in ("x", "y", "z")] == [True, False, False]


def test_stdio_env_keeps_only_core_variables_and_the_entry() -> None:
    base = {
        "PATH": "/bin",
        "HOME": "/h",
        "LANG": "C",
        "AWS_SECRET_ACCESS_KEY": "s",
        "OPENAI_API_KEY": "k",
        "V": "v",
    }
    config = StdioTransportConfig("x", env={"PATH": "/override", "NEW": "1"}, env_vars=("V",))
    assert stdio_env(config, base) == {"PATH": "/override", "HOME": "/h", "LANG": "C", "V": "v", "NEW": "1"}


# --- names and schemas ----------------------------------------------------------------------


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=120))
def test_qualified_names_are_valid_for_the_model_api(server: str, tool: str) -> None:
    name = qualified_name(server, tool)
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name)
    assert name.startswith("mcp__")


def test_long_names_get_a_hash_suffix_and_stay_distinct() -> None:
    a = qualified_name("srv", "x" * 80 + "a")
    b = qualified_name("srv", "x" * 80 + "b")
    assert len(a) == len(b) == 64 and a != b
    assert qualified_name("srv", "short") == "mcp__srv__short"
    assert qualified_name("srv", "dotted.name") == "mcp__srv__dotted_name"


def test_qualify_tools_sorts_and_drops_duplicates() -> None:
    tools, warnings = qualify_tools(
        {"b": [{"name": "z"}, {"name": "a.b"}, {"name": "a_b"}], "a": [{"name": "q", "inputSchema": {}}]}
    )
    assert [t.qualified_name for t in tools] == ["mcp__a__q", "mcp__b__a_b", "mcp__b__z"]
    assert tools[1].tool == "a.b" and len(warnings) == 1


def test_schema_cleaning() -> None:
    assert clean_schema(True) == {"type": "string"}
    assert clean_schema({"enum": ["a"]}) == {"enum": ["a"], "type": "string"}
    assert clean_schema({"items": {}}) == {"items": {"type": "string"}, "type": "array"}
    assert clean_schema({"maximum": 3}) == {"maximum": 3, "type": "number"}
    assert clean_schema({"anyOf": [{"type": "string"}, {"type": "null"}]}) == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }
    recursive = {"type": "object", "properties": {"next": {"$ref": "#"}}}
    cleaned = clean_input_schema(recursive)
    assert json.dumps(cleaned)  # finite, no cycles
    assert clean_input_schema(None) == {"type": "object", "properties": {}}
    assert clean_input_schema({"$schema": "x", "required": ["a"]}) == {
        "type": "object",
        "required": ["a"],
        "properties": {},
    }
    with pytest.raises(ValueError):
        clean_input_schema({"type": "string"})


# --- output ---------------------------------------------------------------------------------


def test_model_output_forms() -> None:
    text = {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    assert result_to_model_output(text) == "a\nb"
    structured = {"content": [{"type": "text", "text": "ignored"}], "structuredContent": {"k": [1]}}
    assert result_to_model_output(structured) == '{"k": [1]}'
    png = base64.b64encode(b"\x89PNG").decode()
    mixed = {
        "content": [{"type": "image", "data": png, "mimeType": "image/png"}, {"type": "text", "text": "t"}]
    }
    assert result_to_model_output(mixed) == [
        {"type": "input_image", "image_url": f"data:image/png;base64,{png}"},
        {"type": "input_text", "text": "t"},
    ]
    resource = {"content": [{"type": "resource", "resource": {"uri": "file:///a", "text": "body"}}]}
    assert result_to_model_output(resource) == "body"
    huge = {"content": [{"type": "text", "text": "line\n" * 100_000}]}
    out = result_to_model_output(huge)
    assert isinstance(out, str) and len(out) < 11_000 and "omitted" in out


# --- sandbox state --------------------------------------------------------------------------

ROOT_READ = {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"}


def test_permission_profiles_as_codex_0_147_sends_them() -> None:
    cwd = Path("/home/u/proj")
    assert permission_profile(SandboxPolicy("danger-full-access"), cwd) == {"type": "disabled"}
    assert permission_profile(SandboxPolicy("read-only"), cwd) == {
        "type": "managed",
        "file_system": {"type": "restricted", "entries": [ROOT_READ]},
        "network": "restricted",
    }
    profile = permission_profile(SandboxPolicy("workspace-write"), cwd)
    assert profile["network"] == "restricted"
    assert profile["file_system"]["entries"] == [
        ROOT_READ,
        {"path": {"type": "path", "path": "/home/u/proj"}, "access": "write"},
        {"path": {"type": "special", "value": {"kind": "slash_tmp"}}, "access": "write"},
        {"path": {"type": "special", "value": {"kind": "tmpdir"}}, "access": "write"},
        *(
            {
                "path": {"type": "path", "path": f"/home/u/proj/{n}"},
                "access": "read",
                "missing_path_behavior": "skip",
            }
            for n in (".git", ".agents", ".codex")
        ),
    ]
    meta = sandbox_state_meta(SandboxPolicy("read-only"), Path("/a b"))
    assert meta["sandboxCwd"] == "file:///a%20b"
    assert set(meta) == {"permissionProfile", "sandboxCwd", "codexLinuxSandboxExe", "useLegacyLandlock"}


policies = st.one_of(
    st.sampled_from([SandboxPolicy("read-only"), SandboxPolicy("danger-full-access")]),
    st.builds(
        SandboxPolicy,
        mode=st.just("workspace-write"),
        writable_roots=st.lists(st.sampled_from(["/data", "/srv/x", "/opt/y z"]), unique=True).map(tuple),
        network_access=st.booleans(),
        exclude_tmpdir_env_var=st.booleans(),
        exclude_slash_tmp=st.booleans(),
    ),
)


@given(policies)
def test_both_forms_round_trip_through_our_own_parsers(policy: SandboxPolicy) -> None:
    cwd = Path("/work/proj")
    meta = sandbox_state_meta(policy, cwd)
    assert parse_permission_profile(meta["permissionProfile"], cwd=meta["sandboxCwd"]) == policy
    assert parse_sandbox_state(meta) == (policy, str(cwd))
    update = sandbox_state_update_params(policy, cwd)
    assert parse_sandbox_policy_json(update["sandboxPolicy"]) == policy
    assert parse_sandbox_state(update) == (policy, str(cwd))


def test_the_profile_carves_out_exactly_the_protected_subpaths(tmp_path: Path) -> None:
    profile = permission_profile(SandboxPolicy("workspace-write"), tmp_path)
    entries = profile["file_system"]["entries"]
    carved = {Path(e["path"]["path"]).name for e in entries if e.get("missing_path_behavior") == "skip"}
    assert carved == set(PROTECTED_SUBPATHS)
