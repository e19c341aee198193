"""The JSON-RPC/MCP layer of the real server process: handshake, catalogue, bad input, shutdown."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.raw_client import RawClient, result_of, text_of
from tests.support.scripted_model import ScriptedModel, text_turn
from tests.support.server import ServerFactory, initialize

pytestmark = pytest.mark.timeout(40)

SUPPORTED = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")


def barrier(client: RawClient) -> int:
    """Send a ping and wait for its answer; returns the message count *before* the answer.

    The server answers non-call requests in arrival order, so anything it owed for an
    earlier line has been written before this ping's answer.
    """
    rid = client.request("ping")
    answer = client.wait_response(rid)
    assert answer["result"] == {}
    return client.index_of(answer)


def messages_between(client: RawClient, start: int, end: int) -> list[dict[str, Any]]:
    return client.messages[start:end]


# -- initialize ------------------------------------------------------------------------


@pytest.mark.parametrize("version", SUPPORTED)
def test_initialize_echoes_a_supported_version(spawn_server: ServerFactory, version: str) -> None:
    client = spawn_server(init=False)
    result = initialize(client, version=version)
    assert result["protocolVersion"] == version
    assert result["serverInfo"]["name"] == "codex-mcp-server"
    assert result["serverInfo"]["title"] == "Codex"
    assert isinstance(result["serverInfo"]["version"], str) and result["serverInfo"]["version"]


def test_initialize_negotiates_an_unknown_version_and_declares_capabilities(
    spawn_server: ServerFactory,
) -> None:
    client = spawn_server(init=False)
    result = initialize(client, version="2099-01-01")
    assert result["protocolVersion"] in SUPPORTED
    assert result["protocolVersion"] == max(SUPPORTED)
    caps = result["capabilities"]
    assert "tools" in caps
    assert "codex/sandbox-state" in caps["experimental"]
    assert "codex/sandbox-state-meta" in caps["experimental"]


def test_second_initialize_is_an_invalid_request(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    again = client.call(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}},
    )
    assert again["error"]["code"] == -32600
    assert "more than once" in again["error"]["message"]
    assert client.call("ping")["result"] == {}


def test_ping(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    response = client.call("ping")
    assert response == {"jsonrpc": "2.0", "id": response["id"], "result": {}}


# -- tools/list ------------------------------------------------------------------------


def test_tools_list_schemas(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    tools = {t["name"]: t for t in result_of(client.call("tools/list"))["tools"]}
    assert set(tools) == {"codex", "codex-reply"}

    codex = tools["codex"]
    assert codex["title"] == "Codex"
    assert codex["description"]
    schema = codex["inputSchema"]
    assert schema["type"] == "object"
    assert schema["required"] == ["prompt"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    expected = {
        "prompt",
        "model",
        "cwd",
        "approval-policy",
        "sandbox",
        "config",
        "base-instructions",
        "developer-instructions",
        "compact-prompt",
    }
    assert expected <= set(props)
    for name in props:
        assert "_" not in name and re.fullmatch(r"[a-z]+(-[a-z]+)*", name), f"{name} is not kebab-case"
    assert {"untrusted", "on-request", "never"} <= set(props["approval-policy"]["enum"])
    assert props["sandbox"]["enum"] == ["read-only", "workspace-write", "danger-full-access"]
    assert props["config"]["type"] == "object"
    for name in ("prompt", "model", "cwd", "base-instructions", "developer-instructions", "compact-prompt"):
        assert props[name]["type"] == "string"
    assert "$schema" not in schema and "title" not in schema

    reply = tools["codex-reply"]
    assert reply["title"] == "Codex Reply"
    rschema = reply["inputSchema"]
    assert rschema["required"] == ["prompt"]
    assert set(rschema["properties"]) == {"prompt", "threadId", "conversationId"}
    assert all(p["type"] == "string" for p in rschema["properties"].values())

    output = {
        "type": "object",
        "properties": {"threadId": {"type": "string"}, "content": {"type": "string"}},
        "required": ["threadId", "content"],
    }
    for tool in tools.values():
        assert tool["outputSchema"]["type"] == output["type"]
        assert tool["outputSchema"]["properties"] == output["properties"]
        assert sorted(tool["outputSchema"]["required"]) == sorted(output["required"])


# -- bad input -------------------------------------------------------------------------


def test_unknown_method_is_method_not_found_with_data(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    response = client.call("foo/bar", {})
    assert response["error"]["code"] == -32601
    assert "foo/bar" in response["error"]["message"]
    assert response["error"]["data"] == {"method": "foo/bar"}


def test_malformed_json_is_a_parse_error_with_null_id(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    start = client.count()
    client.send_raw("{this is not json")
    end = barrier(client)
    between = messages_between(client, start, end)
    assert len(between) == 1, between
    assert between[0]["id"] is None
    assert between[0]["error"]["code"] == -32700


@pytest.mark.parametrize(
    ("line", "expected_id"),
    [
        ('[{"jsonrpc":"2.0","id":5,"method":"ping"}]', None),
        ('{"jsonrpc":"1.0","id":6,"method":"ping"}', 6),
        ('{"jsonrpc":"2.0","id":7,"method":42}', 7),
    ],
    ids=["batch", "jsonrpc-1.0", "method-not-a-string"],
)
def test_invalid_requests(spawn_server: ServerFactory, line: str, expected_id: Any) -> None:
    client = spawn_server()
    start = client.count()
    client.send_raw(line)
    end = barrier(client)
    between = messages_between(client, start, end)
    assert len(between) == 1, between
    assert between[0]["error"]["code"] == -32600
    assert between[0]["id"] == expected_id


def test_tools_call_without_name_or_with_bad_arguments_is_invalid_params(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    client = spawn_server()
    no_name = client.call("tools/call", {"arguments": {"prompt": "hi"}})
    assert no_name["error"]["code"] == -32602
    assert "name" in no_name["error"]["message"]
    bad_args = client.call("tools/call", {"name": "codex", "arguments": ["prompt", "hi"]})
    assert bad_args["error"]["code"] == -32602
    assert "arguments" in bad_args["error"]["message"]
    assert scripted_model.requests == []


def test_unsupported_lists_are_answered(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    for method, key in (
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
        ("prompts/list", "prompts"),
    ):
        response = client.call(method, {})
        assert response.get("result") == {key: []}, response
    for method in ("resources/read", "prompts/get", "completion/complete", "tasks/get"):
        response = client.call(method, {})
        assert response["error"]["code"] == -32601, response


def test_responses_to_unknown_ids_and_unknown_cancels_are_ignored(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    start = client.count()
    client.send({"jsonrpc": "2.0", "id": 999, "result": {"decision": "approved"}})
    client.send({"jsonrpc": "2.0", "id": "nobody", "error": {"code": -1, "message": "x"}})
    client.notify("notifications/cancelled", {"requestId": 4242, "reason": "test"})
    client.notify("notifications/cancelled", {})
    client.notify("notifications/unknown_thing", {"x": 1})
    end = barrier(client)
    assert messages_between(client, start, end) == []


def test_huge_line_and_invalid_utf8_get_one_answer_each(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    big = json.dumps({"jsonrpc": "2.0", "id": "big", "method": "ping", "params": {"pad": "x" * (5 << 20)}})
    assert len(big) > 5_000_000
    start = client.count()
    client.send_raw(big)
    end = barrier(client)
    between = messages_between(client, start, end)
    assert between == [{"jsonrpc": "2.0", "id": "big", "result": {}}]

    start = client.count()
    client.send_raw(b"{" + b"x" * (5 << 20))  # 5 MB that is not JSON
    end = barrier(client)
    between = messages_between(client, start, end)
    assert len(between) == 1 and between[0]["error"]["code"] == -32700, between[:1]

    start = client.count()
    client.send_raw(b'{"jsonrpc":"2.0","id":8,"method":"ping","params":{"x":"\xff\xfe"}}')
    end = barrier(client)
    between = messages_between(client, start, end)
    assert len(between) == 1, between
    assert between[0]["error"]["code"] == -32700
    assert between[0]["id"] is None
    assert client.call("ping")["result"] == {}


# -- shutdown --------------------------------------------------------------------------


def test_stdin_eof_while_idle_exits_zero(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    assert client.call("ping")["result"] == {}
    client.close_stdin()
    assert client.wait_exit(timeout=5) == 0


def test_stdin_eof_while_a_call_runs_still_delivers_its_result(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    gate = scripted_model.hold(then=text_turn("finished after EOF"))
    client = spawn_server()
    rid = client.call_tool("codex", {"prompt": "slow one", "sandbox": "danger-full-access"})
    gate.wait_arrived(1)
    client.close_stdin()
    assert client.proc.poll() is None, "the server must not exit while a call is running"
    gate.release()
    result = result_of(client.wait_response(rid))
    assert text_of(result) == "finished after EOF"
    assert not result.get("isError")
    assert client.wait_exit(timeout=10) == 0
    assert len(client.responses_to(rid)) == 1


def test_server_exits_when_the_client_closes_stdout(spawn_server: ServerFactory) -> None:
    client = spawn_server()
    client.close_stdout()
    # The server only notices when it writes: give it something to answer.
    for _ in range(3):
        try:
            client.request("ping")
        except OSError:
            break
    client.wait_exit(timeout=15)
    assert client.proc.returncode is not None
