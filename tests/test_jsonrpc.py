"""The framing core: every line classifies to exactly one message or one error, never raises."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp import jsonrpc
from codex_mcp.jsonrpc import ErrorReply, Notification, Request, Response


def test_request_notification_response() -> None:
    assert jsonrpc.parse_message(b'{"jsonrpc":"2.0","id":1,"method":"ping"}') == Request(1, "ping", None)
    assert jsonrpc.parse_message(b'{"jsonrpc":"2.0","id":"a","method":"x","params":{"k":1}}') == Request(
        "a", "x", {"k": 1}
    )
    assert jsonrpc.parse_message(b'{"jsonrpc":"2.0","method":"n"}') == Notification("n", None)
    assert jsonrpc.parse_message(b'{"jsonrpc":"2.0","id":0,"result":{}}') == Response(0, {}, None)
    err = jsonrpc.parse_message(b'{"jsonrpc":"2.0","id":0,"error":{"code":-1,"message":"m"}}')
    assert isinstance(err, Response) and err.error == {"code": -1, "message": "m"}


def test_malformed_json_is_parse_error_with_null_id() -> None:
    reply = jsonrpc.parse_message(b"{this is not json")
    assert isinstance(reply, ErrorReply) and reply.code == jsonrpc.PARSE_ERROR and reply.id is None
    assert reply.to_json()["id"] is None


def test_invalid_utf8_is_parse_error() -> None:
    reply = jsonrpc.parse_message(b'{"jsonrpc":"2.0","id":1,"method":"\xff"}')
    assert isinstance(reply, ErrorReply) and reply.code == jsonrpc.PARSE_ERROR


def test_not_jsonrpc_is_invalid_request() -> None:
    for line, expected_id in [
        (b"[]", None),
        (b'"just a string"', None),
        (b'{"jsonrpc":"2.0","id":123}', 123),
        (b'{"jsonrpc":"1.0","id":5,"method":"ping"}', 5),
        (b'{"id":5,"method":"ping"}', 5),
        (b'{"jsonrpc":"2.0","id":7,"method":42}', 7),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', None),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', None),
    ]:
        reply = jsonrpc.parse_message(line)
        assert isinstance(reply, ErrorReply), line
        assert reply.code == jsonrpc.INVALID_REQUEST, line
        assert reply.id == expected_id, line


def test_params_must_be_an_object() -> None:
    reply = jsonrpc.parse_message(b'{"jsonrpc":"2.0","id":3,"method":"x","params":[1]}')
    assert isinstance(reply, ErrorReply) and reply.code == jsonrpc.INVALID_PARAMS and reply.id == 3


def test_ids_keep_their_json_type() -> None:
    one = jsonrpc.parse_message(b'{"jsonrpc":"2.0","id":1,"method":"ping"}')
    one_str = jsonrpc.parse_message(b'{"jsonrpc":"2.0","id":"1","method":"ping"}')
    assert isinstance(one, Request) and isinstance(one_str, Request)
    assert one.id == 1 and one_str.id == "1"


def test_deep_nesting_does_not_raise() -> None:
    line = b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    assert isinstance(jsonrpc.parse_message(line), (ErrorReply, Request))


def test_encode_is_one_line_and_survives_lone_surrogates() -> None:
    data = jsonrpc.encode({"text": "a\nb", "bad": "\ud800"})
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data)["text"] == "a\nb"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert isinstance(jsonrpc.parse_message(data), (Request, Notification, Response, ErrorReply))


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises(value: object) -> None:
    message = jsonrpc.parse_message(json.dumps(value))
    assert isinstance(message, (Request, Notification, Response, ErrorReply))
    if isinstance(message, ErrorReply):
        encoded = json.loads(message.to_json() and jsonrpc.encode(message.to_json()))
        assert encoded["jsonrpc"] == "2.0" and "error" in encoded and "id" in encoded


# --- framing guarantees against hostile content ---------------------------------------------


def test_encode_escapes_unicode_line_breaks() -> None:
    text = "a\u2028b\u2029c\x85d é"
    data = jsonrpc.encode({"t": text})
    assert data.count(b"\n") == 1 and data.endswith(b"\n")
    for raw in ("\u2028", "\u2029", "\x85"):
        assert raw.encode() not in data
    assert len(data.decode().splitlines()) == 1
    assert json.loads(data)["t"] == text


def test_encode_writes_non_finite_numbers_as_null() -> None:
    data = jsonrpc.encode({"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5]})
    assert json.loads(data) == {"a": None, "b": [None, None, 1.5]}
    assert b"NaN" not in data and b"Infinity" not in data


def deep(n: int) -> list[object]:
    value: list[object] = []
    for _ in range(n):
        value = [value]
    return value


def test_encode_of_an_unencodable_reply_is_an_error_reply_to_the_same_id() -> None:
    data = jsonrpc.encode({"jsonrpc": "2.0", "id": "r-1", "result": deep(5000)})
    reply = json.loads(data)
    assert reply["id"] == "r-1" and reply["error"]["code"] == jsonrpc.INTERNAL_ERROR
    assert "nested too deeply" in reply["error"]["message"]


def test_encode_of_an_unencodable_notification_is_a_log_notification() -> None:
    data = jsonrpc.encode({"jsonrpc": "2.0", "method": "codex/event", "params": {"x": deep(5000)}})
    note = json.loads(data)
    assert note["method"] == "notifications/message" and "id" not in note
    assert "`codex/event`" in note["params"]["data"]
    data = jsonrpc.encode({"jsonrpc": "2.0", "method": "x", "params": {"o": object()}})
    assert json.loads(data)["method"] == "notifications/message"


def test_parse_refuses_deep_and_bracket_heavy_frames_with_specific_errors() -> None:
    deep_line = (
        '{"jsonrpc": "2.0", "id": 4, "method": "ping", "params": {"x": ' + "[" * 150 + "]" * 150 + "}}"
    )
    reply = jsonrpc.parse_message(deep_line)
    assert isinstance(reply, ErrorReply) and reply.id == 4 and reply.code == jsonrpc.PARSE_ERROR
    assert "nested more than 100 levels deep" in reply.message
    deep_x = "[" * 150 + "]" * 150
    note = jsonrpc.parse_message('{"jsonrpc": "2.0", "method": "n", "params": {"x": ' + deep_x + "}}")
    assert note == Notification("n", None)
    answer = jsonrpc.parse_message('{"jsonrpc": "2.0", "id": 3, "result": {"x": ' + deep_x + "}}")
    assert isinstance(answer, Response) and answer.id == 3 and answer.result is None
    assert answer.error is not None and answer.error["code"] == jsonrpc.PARSE_ERROR
    very_deep = "[" * 100_000 + "]" * 100_000
    reply = jsonrpc.parse_message(very_deep)
    assert isinstance(reply, ErrorReply) and "levels deep" in reply.message
    bomb = '{"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"p": [' + "{}," * 200_000 + "{}]}}"
    reply = jsonrpc.parse_message(bomb.encode())
    assert isinstance(reply, ErrorReply) and "more than 100000 opening brackets" in reply.message
    ok = '{"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"s": "' + "[" * 10 + '"}}'
    assert isinstance(jsonrpc.parse_message(ok), Request)
