"""JSON-RPC 2.0 framing: turn one line into a classified message, or into the error owed for it.

Pure functions only.  Everything that can be wrong with a line is decided here, so the
server loop never sees a half-valid message and never dies on input: a line is either a
`Request`, a `Notification`, a `Response`, or an `ErrorReply` that the loop writes back.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from codex_mcp.json_bounds import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH, excess_description, nesting_exceeds

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

RequestId = str | int
"""JSON-RPC ids as MCP allows them.  `1` and `"1"` are different ids: keep the JSON type."""

_MAX_NESTING_HINT = f"message nested more than {MAX_JSON_DEPTH} levels deep"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Request:
    """A JSON-RPC request: it wants one response with its id."""

    id: RequestId
    method: str
    params: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Notification:
    """A JSON-RPC notification: no id, no response."""

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
    """Classify one newline-delimited frame.  Never raises.

    A frame with more than `MAX_JSON_CONTAINERS` arrays/objects, or nested deeper than
    `MAX_JSON_DEPTH`, is a parse error: decoding the first would cost seconds, and the second
    decodes here but fails wherever it is used or echoed at a deeper stack.
    """
    if len(line) > MAX_JSON_CONTAINERS and _brackets(line) > MAX_JSON_CONTAINERS:
        return ErrorReply(
            None, PARSE_ERROR, f"Parse error: message {excess_description(line, MAX_JSON_CONTAINERS)}"
        )
    try:
        obj = json.loads(line)
    except RecursionError:
        return ErrorReply(None, PARSE_ERROR, f"Parse error: {_MAX_NESTING_HINT}")
    except (ValueError, UnicodeDecodeError) as exc:
        return ErrorReply(None, PARSE_ERROR, f"Parse error: {exc}")
    incoming = classify(obj)
    if len(line) > 2 * MAX_JSON_DEPTH and nesting_exceeds(obj):
        return _too_deep(incoming)
    return incoming


def _too_deep(incoming: Incoming) -> Incoming:
    """A message that decoded but nests beyond `MAX_JSON_DEPTH`, made harmless.

    A request gets a parse error with its id; a notification loses its params; a response
    (to an elicitation we sent) becomes an error response, so the waiting request fails
    closed.  Nothing is ever replied to a response or a notification.
    """
    message = f"Parse error: {_MAX_NESTING_HINT}"
    if isinstance(incoming, Request):
        return ErrorReply(incoming.id, PARSE_ERROR, message)
    if isinstance(incoming, Notification):
        return Notification(incoming.method, None)
    if isinstance(incoming, Response):
        return Response(incoming.id, None, {"code": PARSE_ERROR, "message": message})
    return incoming


def _brackets(line: bytes | str) -> int:
    if isinstance(line, str):
        return line.count("[") + line.count("{")
    return line.count(b"[") + line.count(b"{")


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


_COMPACT = (",", ":")
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=_COMPACT, allow_nan=False).encode
"""Built once: `json.dumps` with options builds a new encoder per call, on the hot path."""
_UNICODE_LINE_BREAKS = (("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\x85", "\\u0085"))
"""Characters that JSON leaves unescaped but that some readers treat as line ends (JavaScript
before ES2019, Python's `str.splitlines`): escaped, so that one frame is one line for all."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame: compact JSON on one line, then `\\n`.  Never raises.

    Every writer of frames uses this (stdio, the HTTP transport, the MCP client), so the
    guarantees hold everywhere:

    * no line break inside a frame: JSON escapes `\\n` and `\\r`, and U+2028, U+2029 and
      U+0085 are escaped here too (only when the text is not pure ASCII, a constant-time test);
    * lone surrogates (which a peer can smuggle in as `\\ud800`) cannot be UTF-8 encoded; such
      a message falls back to ASCII escapes, which stay valid JSON;
    * NaN and infinities become null (bare `NaN` is not JSON);
    * a message that cannot be JSON at all (nested beyond the recursion limit, a value of
      the wrong type) becomes an error reply to the same id, or for a notification
      a logging notification saying so, instead of an exception in the writer task.
    """
    try:
        text = _ENCODE(message)
    except ValueError as exc:
        # NaN and infinities are not JSON (Python would write them as bare `NaN`): null.
        try:
            message = _finite(message)
            text = _ENCODE(message)
        except (RecursionError, ValueError, TypeError):
            return _unencodable(message, exc)
    except (RecursionError, TypeError) as exc:
        return _unencodable(message, exc)
    if text.isascii():
        return text.encode("ascii") + b"\n"
    for char, escape in _UNICODE_LINE_BREAKS:
        if char in text:
            text = text.replace(char, escape)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        return json.dumps(message, separators=_COMPACT, allow_nan=False).encode("ascii") + b"\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _unencodable(message: dict[str, Any], exc: BaseException) -> bytes:
    reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
    raw_id = message.get("id") if isinstance(message, dict) else None
    is_reply = isinstance(message, dict) and "method" not in message
    if is_reply and (raw_id is None or is_request_id(raw_id)):
        log.error("a reply could not be encoded as JSON (%s)", reason)
        fallback = error_response(raw_id, INTERNAL_ERROR, f"the reply could not be encoded as JSON: {reason}")
    else:
        method = message.get("method") if isinstance(message, dict) else None
        what = f"a `{method[:100]}` message" if isinstance(method, str) else "a message"
        log.error("%s could not be encoded as JSON (%s); it was not sent", what, reason)
        fallback = {
            "jsonrpc": "2.0",
            "method": "notifications/message",
            "params": {
                "level": "error",
                "logger": "codex-mcp",
                "data": f"{what} could not be encoded as JSON ({reason}); it was not sent",
            },
        }
    return json.dumps(fallback, separators=_COMPACT).encode("ascii") + b"\n"
