"""Fuzzing the wire: random and mutated JSON-RPC lines against one real server process.

Each test function starts ONE server and keeps it for all its hypothesis examples.  An
example is a list of lines (mutated requests, junk notifications, responses to unknown
ids, cancellations of unknown ids, batches, invalid UTF-8, deep nesting, huge ids...);
after sending it the test sends a `ping` as a barrier (non-`tools/call` requests are
answered inline, in arrival order) and then checks, for that example:

* the server is still running;
* every output line is well-formed JSON-RPC;
* every request (valid id + method) got EXACTLY ONE response, with its id; every line
  that does not parse got exactly one error with id null; notifications and responses got
  none; invalid objects got at most one error (with their id or null);
* the barrier `ping` is answered.

Nothing here calls the model: `tools/call`s carry invalid arguments (they come back as
quick `isError` results or -32602 errors).  The scripted model has no turns, so even a
call that slipped through would fail fast with a single response.

The counts of inputs tried are printed (`-s`) and written as JSON under the test's tmp dir.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_mcp.agent.apply_patch import parse_patch
from codex_mcp.agent.apply_patch.errors import ApplyPatchError
from codex_mcp.agent.config.overrides import parse_override
from codex_mcp.errors import ConfigError
from tests.reliability.harness import record_numbers
from tests.support.raw_client import RawClient, same_id
from tests.support.server import ServerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

BARRIER_TIMEOUT = 20.0
FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# -- what each line is owed ------------------------------------------------------------

NONE = "none"  # notification or response: no reply at all
ONE = "one"  # a request with a valid id: exactly one reply with that id
NULL = "null"  # unparseable / not an object: exactly one error with id null
MAYBE = "maybe"  # an invalid object: at most one error, with its id (if usable) or null
EITHER = "either"  # a valid request nested so deeply that the server may refuse to decode
# it (a recursion limit): exactly one reply, with its id or null
DEEP = 200


@dataclass
class Line:
    data: bytes
    owed: str
    id: Any = None
    kind: str = ""


def valid_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _strict_loads(text: str) -> Any:
    def reject(constant: str) -> Any:
        raise ValueError(f"non-standard constant {constant}")

    return json.loads(text, parse_constant=reject)


def depth(value: Any) -> int:
    """Nesting depth, iteratively (the value may be nested close to the recursion limit)."""
    best, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            best = max(best, d)
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return best


def owed_for(data: bytes) -> tuple[str, Any]:
    """What JSON-RPC 2.0 (as MCP uses it: no batches) says this line is owed."""
    if not data.strip():
        return NONE, None  # a blank line is not a message
    try:
        obj = _strict_loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        try:
            lenient = json.loads(data)  # NaN, a UTF-8 BOM, UTF-16 detection: a lenient decoder's choice
        except (UnicodeDecodeError, ValueError, RecursionError):
            return NULL, None
        rid = lenient.get("id") if isinstance(lenient, dict) else None
        return MAYBE, rid if valid_id(rid) else None
    owed, rid = _owed_for_object(obj)
    if owed == ONE and depth(obj) > DEEP:
        return EITHER, rid
    return owed, rid


def _owed_for_object(obj: Any) -> tuple[str, Any]:
    if not isinstance(obj, dict):
        return NULL, None  # a batch or a scalar: Invalid Request, id null
    rid = obj.get("id")
    usable = rid if valid_id(rid) else None
    well_framed = obj.get("jsonrpc") == "2.0"
    if "method" in obj:
        if not well_framed or not isinstance(obj["method"], str):
            return MAYBE, usable
        if "id" not in obj:
            return NONE, None
        if usable is None:
            return MAYBE, None
        return ONE, usable
    if ("result" in obj or "error" in obj) and well_framed and usable is not None:
        return NONE, None  # a response to an id we never sent
    return MAYBE, usable


# -- strategies --------------------------------------------------------------------------

_tags = itertools.count(1)
"""Makes ids unique.  No draw's bounds may depend on it (hypothesis replays draws)."""

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**70, -(2**70), 2**63, 2**53 + 1, -1, 0])
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
invalid_ids = st.sampled_from([None, True, False, 1.5, -0.0, 1e300, [], {}, [1], {"id": 1}])


@st.composite
def request_ids(draw: st.DrawFn) -> Any:
    """A valid id, unique for the server's lifetime (so replies can be matched)."""
    tag = next(_tags)
    kind = draw(st.sampled_from(["small", "huge", "negative", "string", "long", "unicode", "empty-ish"]))
    if kind == "small":
        return 1_000_003 + tag * 7
    if kind == "huge":
        return 2**70 + tag
    if kind == "negative":
        return -(2**70) - tag
    if kind == "string":
        return f"{draw(st.text(max_size=12))}#{tag}"
    if kind == "long":
        return "L" * draw(st.integers(1000, 20_000)) + f"#{tag}"
    if kind == "unicode":
        return f"\u00e9\u4e2d\U0001f600\u200b{tag}"
    return f"{tag}"  # looks like an int, is a string


METHODS = [
    "ping",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
    "logging/setLevel",
    "initialize",
    "codex/sandbox-state/update",
    "no/such/method",
    "",
    "\u0000",
    "tools/list\n",
]


@st.composite
def invalid_tool_call_params(draw: st.DrawFn) -> Any:
    """`tools/call` params that can never start a turn."""
    return draw(
        st.sampled_from(
            [
                {"name": 42, "arguments": {}},
                {"arguments": {"prompt": "x"}},
                {"name": "codex", "arguments": "not an object"},
                {"name": "codex", "arguments": {}},
                {"name": "codex", "arguments": {"prompt": 7}},
                {"name": "codex", "arguments": {"prompt": "x", "no-such-argument": 1}},
                {"name": "codex", "arguments": {"prompt": "x", "sandbox": "nonsense"}},
                {"name": "codex", "arguments": {"prompt": ["x"]}},
                {"name": "codex-reply", "arguments": {"prompt": "x", "threadId": "not-a-uuid"}},
                {"name": "codex-reply", "arguments": {"prompt": "x", "threadId": str(uuid.uuid4())}},
                {"name": "codex-reply", "arguments": {"threadId": str(uuid.uuid4())}},
                {"name": "no-such-tool", "arguments": {"prompt": "x"}},
                {"name": "codex", "arguments": None},
                {"name": "codex", "arguments": {}, "_meta": "junk"},
                {"name": "codex", "arguments": {"prompt": 1}, "_meta": {"progressToken": [1]}},
            ]
        )
        | st.fixed_dictionaries(
            {"name": junk.filter(lambda v: v not in ("codex",)), "arguments": junk},
        ).filter(lambda p: not (p["name"] == "codex-reply" and isinstance(p["arguments"], dict)))
    )


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    rid = draw(request_ids())
    if draw(st.integers(0, 4)) == 0:
        return {
            "jsonrpc": "2.0",
            "id": f"tc-{uuid.uuid4()}",
            "method": "tools/call",
            "params": draw(invalid_tool_call_params()),
        }
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": draw(st.sampled_from(METHODS) | st.text())}
    if draw(st.booleans()):
        msg["params"] = draw(st.dictionaries(st.text(max_size=8), junk, max_size=4))
    if msg["method"] == "tools/call":
        msg["params"] = draw(invalid_tool_call_params())
    return msg


@st.composite
def notifications(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(
        st.sampled_from(["notifications/initialized", "notifications/cancelled", "notifications/progress"])
        | st.text(max_size=20)
    )
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if method == "notifications/cancelled":
        # Ids of nothing we ever sent: a disjoint namespace.
        target = draw(
            st.sampled_from([f"cancel-unknown-{next(_tags)}", -(10**40) - next(_tags)]) | invalid_ids | junk
        )
        msg["params"] = {"requestId": target, "reason": draw(junk)}
    elif draw(st.booleans()):
        msg["params"] = draw(junk)  # junk params, even non-objects: still a notification
    return msg


@st.composite
def responses(draw: st.DrawFn) -> dict[str, Any]:
    """Answers to requests the server never sent (its own ids are small ints: use others too)."""
    rid = draw(st.sampled_from([10**30 + next(_tags), f"never-sent-{next(_tags)}", 2**70 + 2**69]))
    if draw(st.booleans()):
        return {"jsonrpc": "2.0", "id": rid, "result": draw(junk)}
    return {"jsonrpc": "2.0", "id": rid, "error": draw(junk | st.fixed_dictionaries({"code": junk}))}


FIELDS = ["jsonrpc", "id", "method", "params", "result", "error"]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed message with one to three fields deleted, retyped or added."""
    msg = dict(draw(requests() | notifications() | responses()))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*FIELDS, "extra"]))
        action = draw(st.sampled_from(["delete", "retype", "invalid-id"]))
        if action == "delete":
            msg.pop(key, None)
        elif action == "invalid-id":
            msg["id"] = draw(invalid_ids)
        else:
            msg[key] = draw(junk)
            if key == "id" and valid_id(msg["id"]):
                msg["id"] = draw(request_ids())  # keep replies attributable
    if msg.get("method") == "tools/call" or "tools/call" in str(msg.get("method")):
        msg["params"] = draw(invalid_tool_call_params())
    return msg


def encode(obj: Any) -> bytes:
    return json.dumps(obj).encode()  # ASCII: lone surrogates travel as \\udXXX escapes


@st.composite
def raw_lines(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            [
                "bytes",
                "truncated",
                "deep-array",
                "deep-object",
                "deep-params",
                "bad-utf8",
                "surrogate",
                "blank",
                "nan",
                "bigint-literal",
                "trailing-garbage",
                "bom",
            ]
        )
    )
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "truncated":
        text = encode(draw(requests()))
        return text[: draw(st.integers(0, 9_999)) * len(text) // 10_000]  # bounds independent of ids
    if kind == "deep-array":
        n = draw(st.sampled_from([500, 990, 1000, 5000, 100_000]))
        return b"[" * n + b"]" * n
    if kind == "deep-object":
        n = draw(st.sampled_from([500, 999, 3000, 50_000]))
        return b'{"a":' * n + b"1" + b"}" * n
    if kind == "deep-params":
        n = draw(st.sampled_from([100, 900, 980, 2000, 20_000]))
        rid = draw(request_ids())
        head = json.dumps(
            {"jsonrpc": "2.0", "id": rid, "method": draw(st.sampled_from(["ping", "tools/call", "x"]))}
        )
        return head[:-1].encode() + b', "params": {"x": ' + b"[" * n + b"]" * n + b"}}"
    if kind == "bad-utf8":
        text = encode(draw(requests()))
        cut = draw(st.integers(0, 10_000)) * len(text) // 10_000
        return (
            text[:cut]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
            + text[cut:]
        )
    if kind == "surrogate":
        rid = draw(request_ids())
        method = draw(st.sampled_from(["\\ud800", "ping\\udfff", "\\ud83d\\ude00"]))
        return f'{{"jsonrpc":"2.0","id":{json.dumps(rid)},"method":"{method}"}}'.encode()
    if kind == "blank":
        return draw(st.sampled_from([b"", b" ", b"\t", b"\r", b"  \t \r"]))
    if kind == "nan":
        rid = draw(request_ids())
        return f'{{"jsonrpc":"2.0","id":{json.dumps(rid)},"method":"ping","params":{{"x":NaN}}}}'.encode()
    if kind == "bigint-literal":
        return (
            b'{"jsonrpc":"2.0","id":'
            + b"9" * draw(st.sampled_from([19, 30, 4300, 5000]))
            + b',"method":"ping"}'
        )
    if kind == "trailing-garbage":
        return encode(draw(requests())) + draw(st.sampled_from([b"x", b"}", b" {}", b"\x00"]))
    return b"\xef\xbb\xbf" + encode(draw(requests()))


@st.composite
def batches(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(requests() | notifications() | responses() | junk, max_size=5))
    return encode(items)


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 9))
    if choice <= 1:
        data = encode(draw(requests()))
    elif choice == 2:
        data = encode(draw(notifications()))
    elif choice == 3:
        data = encode(draw(responses()))
    elif choice <= 6:
        data = encode(draw(mutated()))
    elif choice == 7:
        data = draw(batches())
    elif choice == 8:
        data = encode(draw(junk))
    else:
        data = draw(raw_lines())
    return data.replace(b"\n", b"")


# -- the checker -------------------------------------------------------------------------


def well_formed(msg: Any) -> str | None:
    """None when `msg` is a well-formed JSON-RPC response (or a server notification)."""
    if not isinstance(msg, dict):
        return "not an object"
    if msg.get("jsonrpc") != "2.0":
        return "jsonrpc is not 2.0"
    if "method" in msg:
        return None if isinstance(msg["method"], str) else "bad method"
    if "id" not in msg:
        return "response without id"
    if not (msg["id"] is None or valid_id(msg["id"])):
        return "bad id type"
    if ("result" in msg) == ("error" in msg):
        return "needs exactly one of result/error"
    if "error" in msg:
        err = msg["error"]
        code = err.get("code") if isinstance(err, dict) else None
        if not (valid_id(code) and isinstance(code, int) and isinstance(err.get("message"), str)):
            return "malformed error object"
    return None


@dataclass
class Stats:
    examples: int = 0
    lines: int = 0
    bytes: int = 0
    owed: Counter[str] = field(default_factory=Counter)
    replies: int = 0
    null_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "lines_sent": self.lines,
            "bytes_sent": self.bytes,
            "lines_by_expectation": dict(self.owed),
            "replies_checked": self.replies,
            "null_id_errors": self.null_errors,
            "server_exits": 0,
            "hangs": 0,
        }


class WireChecker:
    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.stats = Stats()
        self.barrier_ids = itertools.count(1)
        self.late: Counter[tuple[type, Any]] = Counter()

    def run(self, batch: list[bytes], joined: bool = False) -> None:
        client = self.client
        start = client.count()
        owed = [Line(data, *owed_for(data)) for data in batch]
        if joined:
            client.send_raw(b"\n".join(batch) + b"\n")
        else:
            for data in batch:
                client.send_raw(data + b"\n")
        barrier = f"barrier-{next(self.barrier_ids)}"
        client.request("ping", id=barrier)
        client.wait_response(barrier, BARRIER_TIMEOUT)
        # tools/call replies are produced by their own tasks and may follow the barrier.
        for line in owed:
            if line.owed == ONE:
                client.wait_response(line.id, BARRIER_TIMEOUT)
        assert client.proc.poll() is None, f"the server exited with {client.proc.returncode}"
        assert not client.unparsable, f"unparseable output: {client.unparsable[:3]}"
        with client._cond:
            new = list(client.messages[start:])
        self.check(owed, new, barrier)
        self.stats.examples += 1
        self.stats.lines += len(batch)
        self.stats.bytes += sum(len(d) + 1 for d in batch)
        self.stats.owed.update(line.owed for line in owed)

    def check(self, owed: list[Line], new: list[dict[str, Any]], barrier: str) -> None:
        replies = []
        for msg in new:
            problem = well_formed(msg)
            assert problem is None, f"malformed output ({problem}): {str(msg)[:500]}"
            if "method" in msg:
                raise AssertionError(f"unexpected server message during fuzzing: {str(msg)[:500]}")
            if not same_id(msg["id"], barrier):
                replies.append(msg)
        self.stats.replies += len(replies)
        by_id: Counter[tuple[type, Any]] = Counter()
        nulls = 0
        for r in replies:
            if r["id"] is None:
                assert "error" in r, f"a result with id null: {r}"
                nulls += 1
            else:
                by_id[(type(r["id"]), r["id"])] += 1
        self.stats.null_errors += nulls
        # Per id: how many replies at least / at most; the same for null-id errors and in all.
        low: Counter[tuple[type, Any]] = Counter()
        high: Counter[tuple[type, Any]] = Counter()
        kinds = Counter(line.owed for line in owed)
        for line in owed:
            if line.id is None:
                continue
            key = (type(line.id), line.id)
            if line.owed == ONE:
                low[key] += 1
            if line.owed in (ONE, MAYBE, EITHER):
                high[key] += 1
        late = 0
        for key, count in by_id.items():
            # A reply that may be owed is not waited for (a BOM-prefixed tools/call, say, which a
            # lenient decoder accepts and whose task answers when it is done), so it can land
            # after the barrier, in a later example: it counts against what was left owed then.
            allowed = high[key] + self.late[key]
            assert count <= allowed, f"{count} replies to id {key[1]!r:.200} (at most {allowed} owed)"
            carried = max(0, count - high[key])
            self.late[key] -= carried
            late += carried
        for key, limit in high.items():
            if low[key] < limit and by_id[key] < limit:
                self.late[key] += limit - max(low[key], by_id[key])
        for key, count in low.items():
            assert by_id[key] >= count, f"no reply to request id {key[1]!r:.200}"
        null_low, null_high = kinds[NULL], kinds[NULL] + kinds[MAYBE] + kinds[EITHER]
        total_low = kinds[ONE] + kinds[NULL] + kinds[EITHER]
        total_high = total_low + kinds[MAYBE]
        detail = f"lines: {[(line.owed, line.data[:80]) for line in owed]}"
        assert null_low <= nulls <= null_high, (
            f"{nulls} null-id errors, owed {null_low}..{null_high}; {detail}"
        )
        assert total_low <= len(replies) - late <= total_high, (
            f"{len(replies)} replies, owed {total_low}..{total_high}; {detail}"
        )

    def final_ping(self) -> None:
        response = self.client.call("ping", timeout=BARRIER_TIMEOUT)
        assert response.get("result") == {}, response
        assert self.client.proc.poll() is None


@pytest.fixture
def checker(spawn_server: ServerFactory) -> WireChecker:
    return WireChecker(spawn_server())


def _finish(name: str, checker: WireChecker, tmp_path: Path) -> None:
    checker.final_ping()
    record_numbers(name, checker.stats.as_dict(), tmp_path)


# -- the tests ---------------------------------------------------------------------------


def test_fuzz_random_and_mutated_lines(checker: WireChecker, tmp_path: Path) -> None:
    @settings(FUZZ_SETTINGS, max_examples=600)
    @given(st.lists(lines(), min_size=1, max_size=12), st.booleans())
    def run(batch: list[bytes], joined: bool) -> None:
        checker.run(batch, joined)

    run()
    _finish("fuzz_wire", checker, tmp_path)


def test_fuzz_interleaved_unknown_responses_and_cancellations(checker: WireChecker, tmp_path: Path) -> None:
    """Requests interleaved with answers to unknown ids and cancellations of unknown ids."""

    @settings(FUZZ_SETTINGS, max_examples=200)
    @given(st.lists(st.tuples(requests(), responses(), notifications()), min_size=1, max_size=8))
    def run(triples: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]) -> None:
        checker.run([encode(m) for triple in triples for m in triple], joined=True)

    run()
    _finish("fuzz_interleaved", checker, tmp_path)


TEN_MB = 10 * 1024 * 1024


@st.composite
def huge_lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["param", "id", "junk", "nested", "unterminated-string", "bad-utf8-tail"]))
    size = TEN_MB + draw(st.integers(0, 4096))
    if kind == "param":
        return encode(
            {"jsonrpc": "2.0", "id": next(_tags) + 5_000_000, "method": "ping", "params": {"x": "p" * size}}
        )
    if kind == "id":
        return encode({"jsonrpc": "2.0", "id": "i" * size + str(next(_tags)), "method": "no/such/method"})
    if kind == "junk":
        return bytes(range(256)).replace(b"\n", b"") * (size // 255)
    if kind == "nested":
        return b"[" * (size // 2) + b"]" * (size // 2)
    if kind == "unterminated-string":
        return b'{"jsonrpc":"2.0","id":1,"method":"' + b"m" * size
    return (
        encode({"jsonrpc": "2.0", "id": next(_tags) + 6_000_000, "method": "ping"})[:-1]
        + b"\xff" * size
        + b"}"
    )


def test_fuzz_ten_megabyte_lines(checker: WireChecker, tmp_path: Path) -> None:
    @settings(FUZZ_SETTINGS, max_examples=8)
    @given(huge_lines())
    def run(line: bytes) -> None:
        checker.run([line])

    run()
    # Over the 64 MiB frame limit: one error with id null; the frame is discarded unread.
    client = checker.client
    start = client.count()
    over = 65 * 1024 * 1024
    client.send_raw(
        b'{"jsonrpc":"2.0","id":"too-long","method":"ping","params":{"x":"' + b"x" * over + b'"}}\n'
    )
    client.request("ping", id="after-too-long")
    client.wait_response("after-too-long", BARRIER_TIMEOUT)
    with client._cond:
        new = [m for m in client.messages[start:] if not same_id(m.get("id"), "after-too-long")]
    assert len(new) == 1 and new[0]["id"] is None and new[0]["error"]["code"] == -32700, new
    checker.stats.lines += 1
    checker.stats.bytes += over
    _finish("fuzz_huge_lines", checker, tmp_path)


# -- the parsers -------------------------------------------------------------------------
# tests/test_config_overrides.py fuzzes parse_override with arbitrary short text and
# tests/test_apply_patch_parser.py fuzzes parse_patch with text, line soup and mutations.
# What they do not cover: override-shaped input (quoted dotted keys, escapes, nested and
# deeply nested TOML values, NUL/surrogates) and very large / deeply indented patches.

key_segments = st.text(min_size=0, max_size=6) | st.sampled_from(
    ['"a.b"', "'x=y'", '"\\u00e9"', '"', "'", ""]
)
override_values = st.sampled_from(
    [
        "1",
        "-0",
        "1e999",
        "nan",
        "inf",
        "true",
        '"s"',
        "'s'",
        '"\\ud800"',
        "[1, [2, [3]]]",
        "{a = {b = 1}}",
        "[" * 3000,
        "{a=" * 2000,
        "1\nb = 2",
        "\x00",
        '"""x"""',
        "[1, 'a', {x = 1}]",
    ]
) | st.text(max_size=30)


@given(
    st.lists(key_segments, min_size=1, max_size=4), st.sampled_from(["=", " = ", "==", ""]), override_values
)
@settings(max_examples=400, deadline=None, database=None)
def test_fuzz_override_shaped_input(segments: list[str], eq: str, value: str) -> None:
    text = ".".join(segments) + eq + value
    try:
        path, parsed = parse_override(text)
    except ConfigError:
        return
    assert path and all(isinstance(s, str) for s in path)
    if isinstance(parsed, float):
        assert math.isnan(parsed) or isinstance(parsed, float)


patch_line = st.sampled_from(
    [
        "*** Begin Patch",
        "*** End Patch",
        "*** Add File: a.txt",
        "*** Delete File: b.txt",
        "*** Update File: c.txt",
        "*** Move to: d.txt",
        "@@",
        "@@ def f():",
        "*** End of File",
        "+x",
        "-x",
        " x",
        "",
        "\t+tab",
        "+\x00",
        "+\ud800",
        "+\r",
        "*** Update File: ",
        "*** Add File: ../../etc/passwd",
    ]
) | st.text(max_size=10)


@given(st.lists(patch_line, max_size=40), st.integers(1, 300), st.booleans())
@settings(max_examples=150, deadline=None, database=None)
def test_fuzz_large_repeated_patches(body: list[str], repeat: int, framed: bool) -> None:
    lines_ = body * repeat
    if framed:
        lines_ = ["*** Begin Patch", *lines_, "*** End Patch"]
    with contextlib.suppress(ApplyPatchError):
        parse_patch("\n".join(lines_))
