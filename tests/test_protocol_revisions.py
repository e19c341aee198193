"""Protocol version negotiation through the real server process, and what each revision gets.

A client asking for 2025-11-25 (Claude Code, the `mcp` SDK) gets it, with that revision's features
(icons, titled approval forms defaulting to deny); 2025-06-18 and older clients keep exactly what
they had; an unknown version gets the latest. Every answer is held to the generated models of the
negotiated revision, keys included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from codex_mcp._generated import mcp_2025_06_18 as r0618
from codex_mcp._generated import mcp_2025_11_25 as r1125
from tests.support.http_server import HttpServerProcess, RawHttp
from tests.support.raw_client import RawClient, result_of, text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, initialize, server_env
from tests.support.wire import revision_module, undeclared

pytestmark = pytest.mark.timeout(60)

UNTRUSTED = {"sandbox": "danger-full-access", "approval-policy": "untrusted"}
CATALOGUE_EXTRAS = {"$.tools[].inputSchema.additionalProperties"}


def _negotiate(client: RawClient, requested: str, answered: str, **caps: Any) -> dict[str, Any]:
    result = initialize(client, version=requested, capabilities=caps or None)
    assert result["protocolVersion"] == answered
    model = revision_module(answered).InitializeResult.model_validate(result)
    assert undeclared(model) == set()
    return result


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2024-11-05"),
        ("2099-01-01", "2025-11-25"),  # unknown (future): our latest
        ("2025-11-24", "2025-11-25"),  # unknown (a near miss): our latest, never echoed
    ],
)
def test_negotiation_and_catalogue_follow_the_revision(
    spawn_server: ServerFactory, requested: str, answered: str
) -> None:
    client = spawn_server(init=False)
    result = _negotiate(client, requested, answered)
    listed = result_of(client.call("tools/list"))
    model = revision_module(answered).ListToolsResult.model_validate(listed)
    assert undeclared(model) == CATALOGUE_EXTRAS
    assert [t.name for t in model.tools] == ["codex", "codex-reply"]
    assert [t.title for t in model.tools] == ["Codex", "Codex Reply"]
    modern = answered == "2025-11-25"
    assert ("icons" in result["serverInfo"]) is modern
    assert all(("icons" in tool) is modern for tool in listed["tools"])
    if modern:
        icons = r1125.ListToolsResult.model_validate(listed).tools[0].icons
        assert (
            icons and icons[0].src.startswith("data:image/png;base64,") and icons[0].mime_type == "image/png"
        )
    assert client.call("ping")["result"] == {}


def _approve_once(
    scripted_model: ScriptedModel, client: RawClient, workspace: Path, name: str
) -> dict[str, Any]:
    """One approval-gated command through the real server; returns the elicitation params."""
    scripted_model.shell(f"touch {name}")
    scripted_model.text("done")
    rid = client.call_tool("codex", {"prompt": "make a file", **UNTRUSTED})
    result = result_of(client.wait_response(rid))
    assert text_of(result) == "done"
    assert (workspace / name).exists()
    requests = client.server_requests("elicitation/create")
    assert len(requests) == 1
    return dict(requests[0]["params"])


def test_approval_form_at_2025_11_25(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    client = spawn_server(init=False, policy="accept-mcp")
    _negotiate(client, "2025-11-25", "2025-11-25", elicitation={"form": {}})
    params = _approve_once(scripted_model, client, workspace, "modern.txt")
    assert params["mode"] == "form"
    form = r1125.ElicitRequestFormParams.model_validate(params)
    assert {p for p in undeclared(form) if not p.startswith("$.requestedSchema.properties.")} >= {
        "$.codex_elicitation",
        "$.threadId",
    }
    decision = r1125.TitledSingleSelectEnumSchema.model_validate(
        params["requestedSchema"]["properties"]["decision"]
    )
    assert undeclared(decision) == set()
    assert decision.default == "denied"
    assert [o.const for o in decision.one_of] == ["approved", "approved_for_session", "denied", "abort"]


def test_approval_form_at_2025_06_18_is_unchanged(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    client = spawn_server(init=False, policy="accept-mcp")
    _negotiate(client, "2025-06-18", "2025-06-18", elicitation={})
    params = _approve_once(scripted_model, client, workspace, "classic.txt")
    assert "mode" not in params
    r0618.ElicitRequestParams.model_validate(params)
    decision = r0618.EnumSchema.model_validate(params["requestedSchema"]["properties"]["decision"])
    assert undeclared(decision) == set(), "no 2025-11-25 `default` in a 2025-06-18 form"
    assert decision.enum == ["approved", "approved_for_session", "denied", "abort"]


@pytest.mark.parametrize("caps", [{"elicitation": {"url": {}}}, {"elicitation": {"form": True}}])
def test_a_2025_11_25_client_that_cannot_show_forms_is_never_asked(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, caps: dict[str, Any]
) -> None:
    """Declaring only URL elicitation (or a malformed form capability) denies, without asking."""
    call_id = scripted_model.shell("touch url-only.txt")
    scripted_model.text("could not")
    client = spawn_server(init=False, policy="accept-mcp")
    _negotiate(client, "2025-11-25", "2025-11-25", **caps)
    rid = client.call_tool("codex", {"prompt": "try", **UNTRUSTED})
    assert text_of(result_of(client.wait_response(rid))) == "could not"
    assert client.server_requests() == []
    assert not (workspace / "url-only.txt").exists()
    output = scripted_model.call_output(call_id)
    assert "rejected" in output and "elicitation" in output


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_http_session_at_2025_11_25(codex_home: Path, workspace: Path, anyio_backend: str) -> None:
    """Over `--http` the negotiated revision is accepted in `MCP-Protocol-Version` and shapes answers."""
    server = HttpServerProcess(["--http", "127.0.0.1:0"], server_env(codex_home), workspace)
    try:
        async with httpx.AsyncClient(timeout=30.0, trust_env=False) as client:
            raw = RawHttp(client, server.url(), protocol="2025-11-25")
            result = await raw.initialize()
            assert result["protocolVersion"] == "2025-11-25"
            assert undeclared(r1125.InitializeResult.model_validate(result)) == set()
            listed = await raw.call(1, "tools/list")
            tools = r1125.ListToolsResult.model_validate(listed["result"])
            assert undeclared(tools) == CATALOGUE_EXTRAS
            assert all(tool.icons for tool in tools.tools)
            old = await raw.post(
                {"jsonrpc": "2.0", "id": 2, "method": "ping"}, {"mcp-protocol-version": "2025-06-18"}
            )
            assert old.status_code == 200, "a supported version in the header is accepted"
            bad = await raw.post(
                {"jsonrpc": "2.0", "id": 3, "method": "ping"}, {"mcp-protocol-version": "2025-11-24"}
            )
            assert bad.status_code == 400 and "2025-11-25" in bad.json()["error"]["message"]
    finally:
        assert server.terminate() == 0
