"""What we send conforms to the generated models of the protocol revision it was negotiated for.

initialize / tools/list are answered from plain dicts so that the start path does not import
pydantic, and the approval form is a dict too; these tests hold them to each revision's
schema-generated models, keys included (`tests/support/wire.py`): a 2025-11-25 field leaking into a
2025-06-18 answer fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, TypeAdapter

from codex_mcp import handshake, jsonrpc
from codex_mcp._generated import mcp_2025_06_18 as r0618
from codex_mcp._generated import mcp_2025_11_25 as r1125
from codex_mcp._generated.tool_catalogue import TOOLS
from codex_mcp.tools import approvals
from mcp_types_gen.schema import REVISIONS
from tests.support.wire import revision_module, undeclared

NEGOTIATION = [
    ("2024-11-05", "2024-11-05"),
    ("2025-03-26", "2025-03-26"),
    ("2025-06-18", "2025-06-18"),
    ("2025-11-25", "2025-11-25"),
    ("2099-01-01", "2025-11-25"),
    ("", "2025-11-25"),
    (20251125, "2025-11-25"),
    (None, "2025-11-25"),
]


def _state(version: object, capabilities: dict[str, Any] | None = None) -> handshake.ConnectionState:
    state = handshake.ConnectionState(version="1.2.3")
    params = {"protocolVersion": version, "capabilities": capabilities or {}, "clientInfo": {}}
    assert "result" in handshake.initialize(state, 1, params)
    return state


# -- initialize ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("requested", "answered"), NEGOTIATION)
def test_initialize_answer_is_exactly_the_negotiated_revision(requested: object, answered: str) -> None:
    state = handshake.ConnectionState(version="1.2.3")
    response = handshake.initialize(
        state, 1, {"protocolVersion": requested, "capabilities": {}, "clientInfo": {}}
    )
    module = revision_module(answered)
    result = module.InitializeResult.model_validate(response["result"])
    assert result.protocol_version == answered == state.protocol_version
    assert result.capabilities.tools is not None
    assert undeclared(result) == set()
    has_icons = "icons" in response["result"]["serverInfo"]
    assert has_icons == (answered == "2025-11-25")


def test_every_supported_version_has_generated_models() -> None:
    """Each version from 2025-06-18 on has its own generated models (older ones answer as 2025-06-18)."""
    supported = handshake.SUPPORTED_PROTOCOL_VERSIONS
    assert list(supported) == sorted(supported) and supported[-1] == handshake.LATEST_PROTOCOL_VERSION
    assert {r.version for r in REVISIONS} == {v for v in supported if v >= "2025-06-18"}
    for version in supported:
        if version >= "2025-06-18":
            assert version == revision_module(version).MCP_SCHEMA_VERSION


# -- tools/list ----------------------------------------------------------------------------------


def _tools_list(state: handshake.ConnectionState) -> dict[str, Any]:
    response = handshake.answer_request(state, jsonrpc.Request(id=2, method="tools/list", params=None))
    assert response is not None and "result" in response
    return dict(response["result"])


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
def test_tools_list_is_exactly_the_negotiated_revision(version: str) -> None:
    result = _tools_list(_state(version))
    model = revision_module(version).ListToolsResult.model_validate(result)
    assert [t.name for t in model.tools] == ["codex", "codex-reply"]
    assert [t.title for t in model.tools] == ["Codex", "Codex Reply"]
    for tool in model.tools:
        assert tool.input_schema.type == "object" and tool.output_schema is not None
    # `additionalProperties` is JSON Schema inside inputSchema, which MCP leaves open.
    assert undeclared(model) == {"$.tools[].inputSchema.additionalProperties"}
    icons = [tool.get("icons") for tool in result["tools"]]
    if version >= "2025-11-25":
        assert all(i and i[0]["src"].startswith("data:image/png;base64,") for i in icons)
    else:
        assert icons == [None, None]


def test_tool_names_and_schemas_follow_2025_11_25_guidance() -> None:
    """Tool names within the recommended charset and length; schemas valid as JSON Schema 2020-12,
    the dialect 2025-11-25 assumes when `$schema` is absent (and valid draft-07 for older clients)."""
    for tool in TOOLS:
        assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", tool["name"]), tool["name"]
        for key in ("inputSchema", "outputSchema"):
            jsonschema.Draft202012Validator.check_schema(tool[key])
            jsonschema.Draft7Validator.check_schema(tool[key])
    jsonschema.Draft202012Validator(TOOLS[0]["inputSchema"]).validate(
        {"prompt": "hi", "sandbox": "read-only"}
    )


def test_tool_catalogue_is_fresh() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codex_mcp.tools.schema_gen", "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- elicitation -----------------------------------------------------------------------------------

CODEX_EXTRAS = {
    "$.threadId",
    "$.codex_elicitation",
    "$.codex_mcp_tool_call_id",
    "$.codex_event_id",
    "$.codex_call_id",
}
EXEC_MSG = {"call_id": "c", "command": ["ls", "-l"], "cwd": "/w", "parsed_cmd": [], "reason": "why"}


def _both_kinds(version: str | None) -> list[dict[str, Any]]:
    extra = () if version is None else (version,)
    return [
        approvals.exec_elicitation_params(EXEC_MSG, "t", 7, "e", *extra),
        approvals.patch_elicitation_params({"call_id": "c", "changes": {}}, "t", "r", "e", *extra),
    ]


def _extras_outside_schema(params: BaseModel) -> set[str]:
    """Undeclared keys, leaving out the requested schema's fields (checked one by one below)."""
    return {p for p in undeclared(params) if not p.startswith("$.requestedSchema.properties.")}


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18", None])
def test_approval_form_before_2025_11_25(version: str | None) -> None:
    for params in _both_kinds(version):
        model = r0618.ElicitRequestParams.model_validate(params)
        extras = _extras_outside_schema(model)
        assert extras >= CODEX_EXTRAS and all(re.fullmatch(r"\$\.(codex_\w+|threadId)", p) for p in extras)
        assert "mode" not in params, "`mode` does not exist before 2025-11-25"
        decision = r0618.EnumSchema.model_validate(params["requestedSchema"]["properties"]["decision"])
        assert undeclared(decision) == set(), "no `default` or other 2025-11-25 keys in a 2025-06-18 form"
        assert decision.enum == ["approved", "approved_for_session", "denied", "abort"]
        assert decision.enum_names is not None and len(decision.enum_names) == 4
        # The same form is still a valid (legacy) 2025-11-25 form, so the default shape is safe for all.
        r1125.LegacyTitledEnumSchema.model_validate(params["requestedSchema"]["properties"]["decision"])
        r1125.ElicitRequestFormParams.model_validate(params)
    assert _both_kinds(None) == _both_kinds("2025-06-18")


def test_approval_form_of_2025_11_25_is_titled_and_defaults_to_deny() -> None:
    for params in _both_kinds("2025-11-25"):
        assert params["mode"] == "form"
        parsed = TypeAdapter(r1125.ElicitRequestParams).validate_python(params)
        assert isinstance(parsed, r1125.ElicitRequestFormParams)
        extras = _extras_outside_schema(parsed)
        assert extras >= CODEX_EXTRAS and all(re.fullmatch(r"\$\.(codex_\w+|threadId)", p) for p in extras)
        raw = params["requestedSchema"]["properties"]["decision"]
        decision = r1125.TitledSingleSelectEnumSchema.model_validate(raw)
        assert undeclared(decision) == set()
        values = [option.const for option in decision.one_of]
        assert values == ["approved", "approved_for_session", "denied", "abort"]
        assert all(option.title for option in decision.one_of)
        assert decision.default == "denied" and decision.default in values
        assert approvals.read_answer(
            {"action": "accept", "content": {"decision": decision.default}}
        ).decision == ("denied")
    exec_params = _both_kinds("2025-11-25")[0]
    assert exec_params["codex_mcp_tool_call_id"] == "7"
    assert exec_params["message"].startswith("why\nAllow Codex to run")


@pytest.mark.parametrize(
    ("version", "capability", "supported"),
    [
        ("2025-06-18", {"elicitation": {}}, True),
        ("2025-06-18", {"elicitation": {"url": {}}}, True),  # before 2025-11-25 there are no modes
        ("2025-06-18", {}, False),
        ("2025-06-18", {"elicitation": True}, False),
        ("2025-11-25", {"elicitation": {}}, True),  # empty: forms, for backwards compatibility
        ("2025-11-25", {"elicitation": {"form": {}}}, True),
        ("2025-11-25", {"elicitation": {"form": {}, "url": {}}}, True),
        ("2025-11-25", {"elicitation": {"url": {}}}, False),  # URLs only: it cannot show a form
        ("2025-11-25", {"elicitation": {"form": True}}, False),
        ("2025-11-25", {"elicitation": []}, False),
        ("2025-11-25", {}, False),
    ],
)
def test_form_elicitation_capability_by_revision(
    version: str, capability: dict[str, Any], supported: bool
) -> None:
    assert _state(version, capability).supports_elicitation is supported


@pytest.mark.parametrize(
    ("answer", "decision", "explained"),
    [
        (
            {"action": "accept", "content": {"decision": "approved_for_session"}},
            "approved_for_session",
            False,
        ),
        ({"action": "accept"}, "approved", False),
        ({"action": "accept", "content": {}}, "approved", False),
        # 2025-11-25 content values may be string arrays (multi-select); ours is single-select.
        ({"action": "accept", "content": {"decision": "denied", "other": ["a", "b"]}}, "denied", False),
        ({"action": "accept", "content": {"decision": ["approved"]}}, "denied", True),
        ({"action": "decline"}, "denied", False),
        # A dismissed request (or a client that cannot ask) denies this one action, and says so;
        # only an explicit abort decision stops the turn.
        ({"action": "cancel"}, "denied", True),
        ({"action": "cancel", "content": {"decision": "abort"}}, "denied", True),
        ({"action": "accept", "content": {"decision": "abort"}}, "abort", False),
        ({"action": "decline", "content": {"decision": "abort"}}, "denied", False),
        ({"decision": "approved"}, "approved", False),
        ({"decision": "abort"}, "abort", False),
        (
            {"decision": {"approved_execpolicy_amendment": {"proposed_execpolicy_amendment": ["ls"]}}},
            "approved",
            False,
        ),
        ({"decision": "maybe"}, "denied", True),
        ({"action": "accept", "content": {"decision": "yes please"}}, "denied", True),
        ({"action": "shrug"}, "denied", True),
        ([], "denied", True),
    ],
)
def test_every_answer_shape_maps_to_a_decision(answer: object, decision: str, explained: bool) -> None:
    verdict = approvals.read_answer(answer)
    assert verdict.decision == decision
    assert (verdict.reason is not None) == explained
