"""The hand-checked call path agrees with the MCP and argument models it stands in for.

A well-formed call is accepted without pydantic (`tools/call_args.py`, the server's params
check, the result and progress dicts, the approval answers); these tests hold each hand path
to the model it replaces: the same fields, the same verdict and values on generated inputs,
the same wire dicts key for key.
"""

from __future__ import annotations

import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from codex_mcp import mcp_types
from codex_mcp.server import _plainly_valid_call_params
from codex_mcp.tools import args as models
from codex_mcp.tools import call_args
from codex_mcp.tools.approvals import _elicit_result
from codex_mcp.tools.relay import progress_params
from codex_mcp.tools.results import error_result, success_result

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.text(max_size=6),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _field_table(model: type[Any]) -> list[tuple[str, str, Any]]:
    """(attribute, wire name, accepted) of a pydantic model, in the table's notation."""
    out = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        inner = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
        kind = inner[0]
        if typing.get_origin(kind) is typing.Literal:
            accepted: Any = typing.get_args(kind)
        elif typing.get_origin(kind) is dict:
            accepted = dict
        else:
            accepted = kind
        out.append((name, info.alias or name, accepted))
    return out


@pytest.mark.parametrize(
    ("model", "table"),
    [(models.CodexToolArgs, call_args.CODEX_FIELDS), (models.CodexReplyArgs, call_args.REPLY_FIELDS)],
)
def test_the_hand_table_is_the_models_fields(model: type[Any], table: tuple[Any, ...]) -> None:
    assert _field_table(model) == list(table)
    required = {name for name, info in model.model_fields.items() if info.is_required()}
    assert required == set(call_args.REQUIRED)


def _arguments(fields: tuple[call_args.FieldSpec, ...]) -> st.SearchStrategy[dict[str, Any]]:
    keys = sorted({k for attr, wire, _ in fields for k in (attr, wire)} | {"extra", "threadid"})
    plausible: list[Any] = [*call_args.APPROVAL_POLICIES, *call_args.SANDBOX_MODES, "x", None, {"a": 1}]
    values = st.one_of(st.sampled_from(plausible), JSON_VALUES)
    return st.dictionaries(st.sampled_from(keys), values, max_size=5)


def _with_prompt(arguments: dict[str, Any], prompt: Any) -> dict[str, Any]:
    return {"prompt": prompt, **arguments} if prompt is not ... else arguments


@settings(max_examples=600, deadline=None)
@given(_arguments(call_args.CODEX_FIELDS), st.sampled_from(["do it", None, 3, ...]))
def test_codex_arguments_get_the_models_verdict(arguments: dict[str, Any], prompt: Any) -> None:
    arguments = _with_prompt(arguments, prompt)
    expected = models.validate_codex_args(arguments)
    got = call_args.parse_codex_args(arguments)
    assert got == (expected if isinstance(expected, str) else call_args.CodexArgs(**expected))


@settings(max_examples=600, deadline=None)
@given(_arguments(call_args.REPLY_FIELDS), st.sampled_from(["go on", None, ...]))
def test_reply_arguments_get_the_models_verdict(arguments: dict[str, Any], prompt: Any) -> None:
    arguments = _with_prompt(arguments, prompt)
    expected = models.validate_reply_args(arguments)
    got = call_args.parse_reply_args(arguments)
    if isinstance(expected, str):
        assert got == expected
    else:
        assert isinstance(got, str) or got[0] == call_args.ReplyArgs(**expected)


def test_a_plain_call_is_accepted_without_the_models() -> None:
    arguments = {"prompt": "p", "approval-policy": "never", "sandbox": "read-only", "config": {"a": 1}}
    parsed = call_args.fast_fields(arguments, call_args.CODEX_FIELDS, extra_allowed=False)
    assert parsed == {"prompt": "p", "approval_policy": "never", "sandbox": "read-only", "config": {"a": 1}}
    result = call_args.parse_codex_args(arguments)
    assert isinstance(result, call_args.CodexArgs)
    assert result.config == {"a": 1} and result.config is not arguments["config"]


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"prompt": None},
        {"prompt": 1},
        {"prompt": "p", "sandbox": "yolo"},
        {"prompt": "p", "unknown": 1},
        {"prompt": "p", "approval-policy": "never", "approval_policy": "never"},
    ],
)
def test_anything_else_is_left_to_the_models(arguments: dict[str, Any]) -> None:
    assert call_args.fast_fields(arguments, call_args.CODEX_FIELDS, extra_allowed=False) is None
    assert isinstance(call_args.parse_codex_args(arguments), str)


CALL_PARAM_KEYS = ["name", "arguments", "_meta", "meta", "task"]
META_VALUES = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(["progressToken", "progress_token", "other"]), JSON_VALUES, max_size=2),
    JSON_VALUES,
)
TASK_VALUES = st.dictionaries(st.sampled_from(["ttl", "other"]), JSON_VALUES, max_size=2)


@settings(max_examples=600, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(CALL_PARAM_KEYS),
        st.one_of(META_VALUES, TASK_VALUES, st.dictionaries(st.text(max_size=3), JSON_VALUES, max_size=2)),
        max_size=4,
    )
)
def test_call_params_accepted_by_hand_are_accepted_by_the_model(params: dict[str, Any]) -> None:
    if _plainly_valid_call_params(params):
        mcp_types.CallToolRequestParams.model_validate(params)


@pytest.mark.parametrize(
    "params",
    [
        {"name": "codex", "arguments": {"prompt": "x"}},
        {"name": "codex", "arguments": None, "_meta": {"progressToken": 7, "x": [1]}},
        {"name": "codex-reply", "_meta": {"progressToken": "t"}},
        {"name": "codex", "_meta": None},
        {"name": "codex", "arguments": {"prompt": "x"}, "task": {"ttl": 60000}},
        {"name": "codex-reply", "arguments": {}, "task": {}, "_meta": {"progressToken": 1}},
    ],
)
def test_what_clients_send_is_checked_by_hand(params: dict[str, Any]) -> None:
    assert _plainly_valid_call_params(params)


@pytest.mark.parametrize("thread_id", [None, "0e7ab1f2-1111-2222-3333-444455556666"])
@pytest.mark.parametrize("text", ["done", ""])
def test_results_are_the_models_wire_form(thread_id: str | None, text: str) -> None:
    def model(texts: list[str], is_error: bool) -> dict[str, Any]:
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(text=t) for t in texts],
            is_error=True if is_error else None,
            structured_content=None if thread_id is None else {"threadId": thread_id, "content": text},
        ).to_wire()

    error_texts = [text] + ([f"threadId: {thread_id}"] if thread_id else [])
    for got, want in [(error_result(text, thread_id), model(error_texts, True))] + (
        [(success_result(thread_id, text), model([text], False))] if thread_id else []
    ):
        assert got == want
        assert list(got) == list(want)
        assert [list(block) for block in got["content"]] == [list(block) for block in want["content"]]


@pytest.mark.parametrize("token", ["tok", 0, 12])
def test_progress_params_are_the_models_wire_form(token: str | int) -> None:
    want = mcp_types.ProgressNotificationParams(progress_token=token, progress=3, message="m").to_wire()
    got = progress_params(token, 3, "m")
    assert got == want and list(got) == list(want)
    assert type(got["progress"]) is type(want["progress"])


ELICIT_KEYS = ["action", "content", "_meta", "meta", "other"]
FORM_VALUES = st.one_of(JSON_VALUES, st.lists(st.text(max_size=3), max_size=2))


@settings(max_examples=600, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(ELICIT_KEYS),
        st.one_of(
            st.sampled_from(["accept", "decline", "cancel", "Accept"]),
            st.dictionaries(st.sampled_from(["decision", "x"]), FORM_VALUES, max_size=2),
            JSON_VALUES,
        ),
        max_size=4,
    )
)
def test_elicitation_answers_are_read_as_the_model_reads_them(result: dict[str, Any]) -> None:
    try:
        model = mcp_types.ElicitResult.model_validate(result)
    except ValidationError:
        expected = None
    else:
        expected = (model.action, model.content)
    assert _elicit_result(result) == expected
