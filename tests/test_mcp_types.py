"""The generated MCP 2025-06-18 wire models (`_generated/mcp_2025_06_18.py`): round trips, dump rules."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from codex_mcp._generated import mcp_2025_06_18 as m


def _has_null(value: Any, path: str = "$") -> str | None:
    """The path of the first None in a dumped message, outside free-form values."""
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                return f"{path}.{key}"
            found = _has_null(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _has_null(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _round_trip(model: type[m.WireModel], wire: dict[str, Any]) -> m.WireModel:
    parsed = model.model_validate(wire)
    assert parsed.to_wire() == wire
    assert json.loads(parsed.to_json()) == wire
    assert model.model_validate_json(json.dumps(wire)).to_wire() == wire
    return parsed


def _envelope_round_trip(wire: dict[str, Any]) -> m.WireModel:
    """A JSON-RPC request: the envelope, then its params through REQUEST_TYPES."""
    envelope = _round_trip(m.JSONRPCRequest, wire)
    assert isinstance(envelope, m.JSONRPCRequest)
    params_model, _ = m.REQUEST_TYPES[envelope.method]
    assert params_model is not None
    request = m.REQUEST_MODELS[envelope.method].model_validate(
        {"method": wire["method"], "params": wire.get("params", {})}
    )
    assert request.to_wire()["params"] == wire.get("params", {})
    return params_model.model_validate(wire.get("params", {}))


# -- lifecycle ---------------------------------------------------------------------------------


def test_initialize_request_and_result() -> None:
    params = _envelope_round_trip(
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {"elicitation": {}, "roots": {"listChanged": True}},
                "clientInfo": {"name": "probe", "version": "1.0", "title": "Probe"},
            },
        }
    )
    assert isinstance(params, m.InitializeRequestParams)
    assert params.protocol_version == "2025-06-18"
    assert params.client_info.name == "probe"
    assert params.capabilities.roots is not None and params.capabilities.roots.list_changed is True
    assert params.capabilities.sampling is None

    result = _round_trip(
        m.InitializeResult,
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": True}, "experimental": {"codex": {"x": 1}}},
            "serverInfo": {"name": "codex-mcp-server", "version": "0.1.0", "user_agent": "codex/0.1"},
            "instructions": "hello",
        },
    )
    assert isinstance(result, m.InitializeResult)
    assert result.server_info.model_extra == {"user_agent": "codex/0.1"}
    _, result_model = m.REQUEST_TYPES[m.METHOD_INITIALIZE]
    assert result_model is m.InitializeResult


def test_built_in_python_dumps_wire_names_and_omits_unset_optionals() -> None:
    result = m.InitializeResult(
        protocol_version="2025-06-18",
        capabilities=m.ServerCapabilities(tools=m.ServerCapabilitiesTools(list_changed=True)),
        server_info=m.Implementation(name="codex", version="1"),
    )
    wire = result.to_wire()
    assert wire == {
        "protocolVersion": "2025-06-18",
        "capabilities": {"tools": {"listChanged": True}},
        "serverInfo": {"name": "codex", "version": "1"},
    }
    assert _has_null(wire) is None
    # Even a plain model_dump (and an explicit exclude_none=False) leaves optional fields out.
    assert result.model_dump() == wire
    assert result.model_dump(exclude_none=False) == wire
    assert "null" not in result.model_dump_json()


def test_ping_and_empty_result() -> None:
    params = _envelope_round_trip({"jsonrpc": "2.0", "id": "p-1", "method": "ping"})
    assert params.to_wire() == {}
    assert m.PingRequest().to_wire() == {"method": "ping"}
    response = _round_trip(m.JSONRPCResponse, {"jsonrpc": "2.0", "id": "p-1", "result": {}})
    assert isinstance(response, m.JSONRPCResponse) and response.id == "p-1"
    assert m.REQUEST_TYPES[m.METHOD_PING] == (m.PingRequestParams, m.Result)
    assert m.EmptyResult is m.Result


def test_jsonrpc_defaults_and_request_ids() -> None:
    assert m.JSONRPC_VERSION == "2.0" and m.MCP_SCHEMA_VERSION == "2025-06-18"
    assert m.JSONRPCRequest(id=7, method="ping").to_wire() == {"jsonrpc": "2.0", "id": 7, "method": "ping"}
    assert m.JSONRPCNotification(method="x").to_wire() == {"jsonrpc": "2.0", "method": "x"}
    assert m.JSONRPCResponse(id="a", result=m.Result()).to_wire() == {
        "jsonrpc": "2.0",
        "id": "a",
        "result": {},
    }
    # Absent on input: defaulted; wrong: rejected.
    assert m.JSONRPCRequest.model_validate({"id": 1, "method": "ping"}).jsonrpc == "2.0"
    with pytest.raises(ValidationError):
        m.JSONRPCRequest.model_validate({"jsonrpc": "1.0", "id": 1, "method": "ping"})
    # Ids keep their JSON type; a boolean is not an id.
    assert m.JSONRPCRequest.model_validate_json('{"jsonrpc":"2.0","id":"1","method":"a"}').id == "1"
    assert m.JSONRPCRequest.model_validate_json('{"jsonrpc":"2.0","id":1,"method":"a"}').id == 1
    with pytest.raises(ValidationError):
        m.JSONRPCRequest.model_validate({"jsonrpc": "2.0", "id": True, "method": "a"})
    with pytest.raises(ValidationError):
        m.JSONRPCRequest.model_validate_json('{"jsonrpc":"2.0","id":true,"method":"a"}')


def test_jsonrpc_message_union_picks_each_kind() -> None:
    adapter: TypeAdapter[m.JSONRPCMessage] = TypeAdapter(m.JSONRPCMessage)
    cases: list[tuple[dict[str, Any], type[m.WireModel]]] = [
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}, m.JSONRPCRequest),
        ({"jsonrpc": "2.0", "method": "notifications/initialized"}, m.JSONRPCNotification),
        ({"jsonrpc": "2.0", "id": 1, "result": {"tools": []}}, m.JSONRPCResponse),
        ({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}}, m.JSONRPCError),
    ]
    for wire, expected in cases:
        parsed = adapter.validate_python(wire)
        assert type(parsed) is expected
        assert parsed.to_wire() == wire


def test_jsonrpc_error_with_and_without_data() -> None:
    error = _round_trip(
        m.JSONRPCError,
        {"jsonrpc": "2.0", "id": 3, "error": {"code": -32602, "message": "bad", "data": {"field": "x"}}},
    )
    assert isinstance(error, m.JSONRPCError) and error.error.code == -32602
    bare = m.JSONRPCError(id=3, error=m.JSONRPCErrorError(code=-32600, message="Invalid Request"))
    assert bare.to_wire() == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {"code": -32600, "message": "Invalid Request"},
    }


# -- tools ---------------------------------------------------------------------------------------


def test_tools_list_result_keeps_schemas_and_unknown_fields() -> None:
    wire = {
        "tools": [
            {
                "name": "codex",
                "title": "Codex",
                "description": "Run a Codex session.",
                "inputSchema": {
                    "type": "object",
                    "properties": {"prompt": {"type": "string"}, "cwd": {"type": "string"}},
                    "required": ["prompt"],
                    "additionalProperties": False,
                    "$schema": "http://json-schema.org/draft-07/schema#",
                },
                "outputSchema": {"type": "object", "properties": {"threadId": {"type": "string"}}},
                "annotations": {"readOnlyHint": False, "openWorldHint": True},
                "icons": [{"src": "https://example.com/i.png"}],
                "_meta": {"vendor": 1},
            }
        ],
        "nextCursor": "c2",
    }
    result = _round_trip(m.ListToolsResult, wire)
    assert isinstance(result, m.ListToolsResult)
    tool = result.tools[0]
    assert tool.input_schema.required == ["prompt"]
    assert tool.annotations is not None and tool.annotations.open_world_hint is True
    assert tool.meta == {"vendor": 1}
    assert tool.model_extra == {"icons": [{"src": "https://example.com/i.png"}]}
    # The input schema's type defaults to "object" and is always written.
    assert m.ToolInputSchema().to_wire() == {"type": "object"}
    assert m.REQUEST_TYPES[m.METHOD_TOOLS_LIST] == (m.ListToolsRequestParams, m.ListToolsResult)
    assert m.ListToolsRequest().to_wire() == {"method": "tools/list"}


def test_tools_call_request_and_result_with_content_blocks() -> None:
    params = _envelope_round_trip(
        {
            "jsonrpc": "2.0",
            "id": 5,
            "method": "tools/call",
            "params": {
                "name": "codex",
                "arguments": {"prompt": "hi", "config": {"a": None}},
                "_meta": {"progressToken": "tok"},
            },
        }
    )
    assert isinstance(params, m.CallToolRequestParams)
    assert params.arguments == {"prompt": "hi", "config": {"a": None}}
    # `_meta` (with the progress token) is inherited from the schema's base `Request.params`.
    assert params.meta is not None and params.meta.progress_token == "tok"

    wire = {
        "content": [
            {"type": "text", "text": "done", "annotations": {"audience": ["user"], "priority": 0.5}},
            {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
            {"type": "audio", "data": "UklGRg==", "mimeType": "audio/wav"},
            {"type": "resource_link", "uri": "file:///tmp/a b.txt", "name": "a b.txt", "size": 3},
            {
                "type": "resource",
                "resource": {"uri": "https://example.com", "text": "x", "mimeType": "text/plain"},
            },
            {"type": "resource", "resource": {"uri": "file:///bin/x", "blob": "AAEC"}},
        ],
        "structuredContent": {"threadId": "t-1", "nothing": None},
        "isError": False,
        "_meta": {"k": "v"},
    }
    result = _round_trip(m.CallToolResult, wire)
    assert isinstance(result, m.CallToolResult)
    kinds = [type(block) for block in result.content]
    assert kinds == [
        m.TextContent,
        m.ImageContent,
        m.AudioContent,
        m.ResourceLink,
        m.EmbeddedResource,
        m.EmbeddedResource,
    ]
    first, second = result.content[4], result.content[5]
    assert isinstance(first, m.EmbeddedResource) and isinstance(first.resource, m.TextResourceContents)
    assert isinstance(second, m.EmbeddedResource) and isinstance(second.resource, m.BlobResourceContents)
    # format: uri / byte stay plain strings, byte for byte.
    assert first.resource.uri == "https://example.com"
    assert second.resource.blob == "AAEC"
    assert result.is_error is False and result.structured_content == {"threadId": "t-1", "nothing": None}

    built = m.CallToolResult(content=[m.TextContent(text="x")], is_error=True)
    assert built.to_wire() == {"content": [{"type": "text", "text": "x"}], "isError": True}
    with pytest.raises(ValidationError):
        m.CallToolResult.model_validate({"content": [{"type": "video", "data": "x"}]})


def test_client_request_union_is_discriminated_by_method() -> None:
    adapter: TypeAdapter[m.ClientRequest] = TypeAdapter(m.ClientRequest)
    parsed = adapter.validate_python({"method": "tools/call", "params": {"name": "codex"}})
    assert isinstance(parsed, m.CallToolRequest)
    assert isinstance(adapter.validate_python({"method": "ping"}), m.PingRequest)
    with pytest.raises(ValidationError):
        adapter.validate_python({"method": "codex/unknown", "params": {}})
    server: TypeAdapter[m.ServerNotification] = TypeAdapter(m.ServerNotification)
    note = server.validate_python({"method": "notifications/message", "params": {"level": "info", "data": 1}})
    assert isinstance(note, m.LoggingMessageNotification)


# -- notifications ---------------------------------------------------------------------------------


def test_progress_and_cancelled_notifications() -> None:
    progress = _round_trip(
        m.ProgressNotification,
        {
            "method": "notifications/progress",
            "params": {"progressToken": 12, "progress": 1.5, "total": 10.0, "message": "step"},
        },
    )
    assert isinstance(progress, m.ProgressNotification) and progress.params.progress_token == 12
    built = m.ProgressNotification(params=m.ProgressNotificationParams(progress_token="t", progress=1.0))
    assert built.to_wire() == {
        "method": "notifications/progress",
        "params": {"progressToken": "t", "progress": 1.0},
    }

    cancelled = _round_trip(
        m.CancelledNotification,
        {"method": "notifications/cancelled", "params": {"requestId": "r-9", "reason": "user"}},
    )
    assert isinstance(cancelled, m.CancelledNotification) and cancelled.params.request_id == "r-9"
    assert m.NOTIFICATION_TYPES[m.METHOD_NOTIFICATIONS_CANCELLED] is m.CancelledNotificationParams
    assert m.InitializedNotification().to_wire() == {"method": "notifications/initialized"}


def test_logging_message_keeps_required_null_data() -> None:
    note = m.LoggingMessageNotification(params=m.LoggingMessageNotificationParams(level="warning", data=None))
    assert note.to_wire() == {"method": "notifications/message", "params": {"data": None, "level": "warning"}}
    _round_trip(
        m.LoggingMessageNotification,
        {
            "method": "notifications/message",
            "params": {"level": "error", "logger": "codex", "data": {"x": [1]}},
        },
    )
    with pytest.raises(ValidationError):
        m.LoggingMessageNotificationParams.model_validate({"level": "loud", "data": 1})


# -- server -> client requests ---------------------------------------------------------------------


def test_elicitation_request_and_results() -> None:
    wire = {
        "method": "elicitation/create",
        "params": {
            "message": "Allow running `rm -rf build`?",
            "requestedSchema": {
                "type": "object",
                "properties": {
                    "decision": {
                        "type": "string",
                        "enum": ["approved", "denied"],
                        "enumNames": ["Yes", "No"],
                    },
                    "note": {"type": "string", "format": "email", "maxLength": 20},
                    "count": {"type": "integer", "minimum": 0, "maximum": 2.5},
                    "remember": {"type": "boolean", "default": False},
                },
                "required": ["decision"],
            },
            "codex_elicitation": "exec-approval",
            "codex_call_id": "c1",
        },
    }
    request = _round_trip(m.ElicitRequest, wire)
    assert isinstance(request, m.ElicitRequest)
    props = request.params.requested_schema.properties
    assert [type(p) for p in props.values()] == [
        m.EnumSchema,
        m.StringSchema,
        m.NumberSchema,
        m.BooleanSchema,
    ]
    assert request.params.model_extra == {"codex_elicitation": "exec-approval", "codex_call_id": "c1"}
    assert m.REQUEST_TYPES[m.METHOD_ELICITATION_CREATE] == (m.ElicitRequestParams, m.ElicitResult)

    accept = _round_trip(
        m.ElicitResult, {"action": "accept", "content": {"decision": "approved", "n": 2, "b": True}}
    )
    assert isinstance(accept, m.ElicitResult)
    assert accept.content == {"decision": "approved", "n": 2, "b": True}
    assert type(accept.content["n"]) is int and type(accept.content["b"]) is bool
    for action in ("decline", "cancel"):
        assert _round_trip(m.ElicitResult, {"action": action}).to_wire() == {"action": action}
    with pytest.raises(ValidationError):
        m.ElicitResult.model_validate({"action": "maybe"})


def test_sampling_create_message_request_and_result() -> None:
    wire = {
        "method": "sampling/createMessage",
        "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
            "maxTokens": 100,
            "modelPreferences": {"hints": [{"name": "gpt"}], "speedPriority": 1},
            "includeContext": "none",
        },
    }
    request = _round_trip(m.CreateMessageRequest, wire)
    assert isinstance(request, m.CreateMessageRequest)
    assert request.params.model_preferences is not None
    with pytest.raises(ValidationError):
        m.ModelPreferences.model_validate({"costPriority": 2})
    result = _round_trip(
        m.CreateMessageResult,
        {
            "role": "assistant",
            "content": {"type": "text", "text": "hello"},
            "model": "m1",
            "stopReason": "endTurn",
        },
    )
    assert isinstance(result, m.CreateMessageResult) and isinstance(result.content, m.TextContent)


def test_resources_prompts_completion_round_trips() -> None:
    _round_trip(
        m.ReadResourceResult,
        {
            "contents": [
                {"uri": "file:///a", "text": "x"},
                {"uri": "file:///b", "blob": "AA==", "mimeType": "x/y"},
            ]
        },
    )
    _round_trip(
        m.GetPromptResult,
        {"messages": [{"role": "assistant", "content": {"type": "resource_link", "uri": "x:", "name": "n"}}]},
    )
    _round_trip(
        m.CompleteRequest,
        {
            "method": "completion/complete",
            "params": {"ref": {"type": "ref/prompt", "name": "p"}, "argument": {"name": "a", "value": "v"}},
        },
    )
    _round_trip(m.CompleteResult, {"completion": {"values": ["a"], "hasMore": False}})
    _round_trip(m.ListRootsResult, {"roots": [{"uri": "file:///w", "name": "w"}]})
    _round_trip(m.SetLevelRequest, {"method": "logging/setLevel", "params": {"level": "debug"}})


# -- names and tables ----------------------------------------------------------------------------


def test_aliases_accept_wire_and_python_names() -> None:
    by_wire = m.CallToolResult.model_validate({"content": [], "isError": True, "_meta": {"a": 1}})
    by_name = m.CallToolResult(content=[], is_error=True, meta={"a": 1})
    assert by_wire == by_name
    assert by_name.to_wire() == {"content": [], "isError": True, "_meta": {"a": 1}}
    params = m.InitializeRequestParams.model_validate(
        {"protocolVersion": "v", "capabilities": {}, "clientInfo": {"name": "n", "version": "1"}}
    )
    assert params.protocol_version == "v"


def _method_default(model: type[m.WireModel]) -> str | None:
    field = model.model_fields.get("method")
    if field is None or typing.get_origin(field.annotation) is not typing.Literal:
        return None
    default = field.default
    return default if isinstance(default, str) else None


def test_request_table_covers_every_request_with_a_method_const() -> None:
    requests = {
        name: obj
        for name in m.SCHEMA_DEFINITIONS
        if name.endswith("Request")
        and isinstance(obj := getattr(m, name), type)
        and issubclass(obj, m.WireModel)
        and _method_default(obj)
    }
    assert len(requests) == 16
    assert {_method_default(model) for model in requests.values()} == set(m.REQUEST_TYPES)
    for name, model in requests.items():
        method = _method_default(model)
        assert method is not None
        assert vars(model)["METHOD"] == method
        assert m.REQUEST_MODELS[method] is model
        params, result = m.REQUEST_TYPES[method]
        assert params is model.model_fields["params"].annotation or params is m.__dict__[f"{name}Params"]
        expected_result = getattr(m, name.removesuffix("Request") + "Result", m.Result)
        assert result is expected_result
    assert set(m.REQUEST_TYPES) == m.CLIENT_REQUEST_METHODS | m.SERVER_REQUEST_METHODS
    assert {m.METHOD_PING} == m.CLIENT_REQUEST_METHODS & m.SERVER_REQUEST_METHODS


def test_notification_table_covers_every_notification() -> None:
    notes = {
        name: obj
        for name in m.SCHEMA_DEFINITIONS
        if name.endswith("Notification")
        and isinstance(obj := getattr(m, name), type)
        and _method_default(obj)
    }
    assert {_method_default(model) for model in notes.values()} == set(m.NOTIFICATION_TYPES)
    assert set(m.NOTIFICATION_TYPES) == m.CLIENT_NOTIFICATION_METHODS | m.SERVER_NOTIFICATION_METHODS
    for method, params in m.NOTIFICATION_TYPES.items():
        assert params is not None
        assert m.NOTIFICATION_MODELS[method].model_fields["params"].annotation in (params, params | None)


def test_every_schema_definition_is_exported() -> None:
    assert len(m.SCHEMA_DEFINITIONS) == 91
    assert list(m.SCHEMA_DEFINITIONS) == sorted(m.SCHEMA_DEFINITIONS)
    for name in m.SCHEMA_DEFINITIONS:
        assert hasattr(m, name), name
    assert m.METHOD_SAMPLING_CREATE_MESSAGE == "sampling/createMessage"
    assert m.METHOD_NOTIFICATIONS_PROMPTS_LIST_CHANGED == "notifications/prompts/list_changed"
