"""JSON-RPC 2.0 framing: turn one line into a classified message, or into the error owed for it.

Pure functions only.  Everything that can be wrong with a line is decided here, so the
server loop never sees a half-valid message and never dies on input: a line is either a
`Request`, a `Notification`, a `Response`, or an `ErrorReply` that the loop writes back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

RequestId = str | int
"""JSON-RPC ids as MCP allows them.  `1` and `"1"` are different ids: keep the JSON type."""

_MAX_NESTING_HINT = "message nested too deeply"


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    params: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Response:
    """A reply from the client to a request we sent (result or error)."""

    id: RequestId
    result: Any = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error response we owe the peer for an unusable line."""

    id: RequestId | None
    code: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return error_response(self.id, self.code, self.message)


Incoming = Request | Notification | Response | ErrorReply


def is_request_id(value: object) -> bool:
    # bool is an int subclass in Python but never a valid JSON-RPC id.
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def parse_message(line: bytes | str) -> Incoming:
    """Classify one newline-delimited frame.  Never raises."""
    try:
        obj = json.loads(line)
    except RecursionError:
        return ErrorReply(None, PARSE_ERROR, f"Parse error: {_MAX_NESTING_HINT}")
    except (ValueError, UnicodeDecodeError) as exc:
        return ErrorReply(None, PARSE_ERROR, f"Parse error: {exc}")
    return classify(obj)


def classify(obj: Any) -> Incoming:
    """Classify an already-decoded JSON value."""
    if isinstance(obj, list):
        return ErrorReply(None, INVALID_REQUEST, "Invalid Request: batches are not supported")
    if not isinstance(obj, dict):
        return ErrorReply(None, INVALID_REQUEST, "Invalid Request: a message must be a JSON object")
    raw_id = obj.get("id")
    usable_id: RequestId | None = raw_id if is_request_id(raw_id) else None
    if obj.get("jsonrpc") != "2.0":
        return ErrorReply(usable_id, INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')

    if "method" in obj:
        method = obj["method"]
        if not isinstance(method, str):
            return ErrorReply(usable_id, INVALID_REQUEST, 'Invalid Request: "method" must be a string')
        params = obj.get("params")
        if params is not None and not isinstance(params, dict):
            if "id" in obj and usable_id is not None:
                return ErrorReply(usable_id, INVALID_PARAMS, 'Invalid params: "params" must be an object')
            if "id" not in obj:
                # A notification with bad params cannot be answered; treat it as absent.
                return Notification(method, None)
        if "id" not in obj:
            return Notification(method, params)
        if usable_id is None:
            return ErrorReply(None, INVALID_REQUEST, 'Invalid Request: "id" must be a string or an integer')
        return Request(usable_id, method, params)

    if "result" in obj or "error" in obj:
        if usable_id is None:
            return ErrorReply(None, INVALID_REQUEST, "Invalid Request: a response needs a valid id")
        error = obj.get("error")
        if error is not None and not isinstance(error, dict):
            error = {"code": INTERNAL_ERROR, "message": str(error)}
        return Response(usable_id, obj.get("result"), error)

    return ErrorReply(
        usable_id, INVALID_REQUEST, "Invalid Request: neither a request, a notification nor a response"
    )


def error_response(id: RequestId | None, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id, "error": err}


def result_response(id: RequestId, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "result": result}


def method_not_found(id: RequestId, method: str) -> dict[str, Any]:
    return error_response(id, METHOD_NOT_FOUND, f"method not found: {method}", {"method": method})


def encode(message: dict[str, Any]) -> bytes:
    """One frame: compact JSON, no embedded newlines (json escapes them), then `\\n`.

    Lone surrogates (which a peer can smuggle in as `\\ud800`) cannot be UTF-8 encoded;
    such a message falls back to ASCII escapes, which stay valid JSON.
    """
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(message, separators=(",", ":")).encode("ascii") + b"\n"
