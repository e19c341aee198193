"""The hand-built start-path answers conform to the generated MCP models; the catalogue is fresh.

initialize / tools/list are answered from plain dicts so that the start path does not import
pydantic; these tests hold those dicts to the schema-generated models instead.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from codex_mcp import handshake, mcp_types
from codex_mcp.tools import approvals
from codex_mcp.tools.schemas import TOOLS


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18", "2099-01-01"])
def test_initialize_result_is_a_valid_initialize_result(version: str) -> None:
    state = handshake.ConnectionState(version="1.2.3")
    response = handshake.initialize(
        state, 1, {"protocolVersion": version, "capabilities": {}, "clientInfo": {}}
    )
    result = mcp_types.InitializeResult.model_validate(response["result"])
    assert result.protocol_version in ("2024-11-05", "2025-03-26", "2025-06-18")
    assert result.capabilities.tools is not None


def test_tools_list_is_a_valid_list_tools_result() -> None:
    result = mcp_types.ListToolsResult.model_validate({"tools": TOOLS})
    assert [t.name for t in result.tools] == ["codex", "codex-reply"]
    for tool in result.tools:
        assert tool.input_schema.type == "object" and tool.output_schema is not None


def test_tool_catalogue_is_fresh() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "codex_mcp.tools.schema_gen", "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_elicitation_params_are_valid_elicit_request_params() -> None:
    exec_params = approvals.exec_elicitation_params(
        {"call_id": "c", "command": ["ls", "-l"], "cwd": "/w", "parsed_cmd": []}, "t", 7, "e"
    )
    patch_params = approvals.patch_elicitation_params({"call_id": "c", "changes": {}}, "t", "r", "e")
    for params in (exec_params, patch_params):
        model = mcp_types.ElicitRequestParams.model_validate(params)
        assert model.requested_schema.type == "object"
        assert "decision" in model.requested_schema.properties
    assert exec_params["codex_mcp_tool_call_id"] == "7" and exec_params["message"].startswith(
        "Allow Codex to run"
    )


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
