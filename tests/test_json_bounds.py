"""Bounded JSON decoding: container counts before decoding, nesting after, never a RecursionError."""

from __future__ import annotations

import json

import pytest

from codex_mcp.json_bounds import (
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    JsonLimitError,
    container_count_exceeds,
    excess_description,
    loads_bounded,
    nesting_exceeds,
)


def nested(depth: int, leaf: object = 1) -> object:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_ordinary_values_pass() -> None:
    text = json.dumps({"command": ["bash", "-lc", "echo [{}]" * 1000], "workdir": "/w"})
    assert loads_bounded(text)["workdir"] == "/w"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH])
def test_depth_up_to_the_limit_passes(depth: int) -> None:
    assert not nesting_exceeds(nested(depth))
    loads_bounded(json.dumps(nested(depth)))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 900])
def test_deeper_values_are_refused(depth: int) -> None:
    assert nesting_exceeds(nested(depth))
    with pytest.raises(JsonLimitError, match=f"nested more than {MAX_JSON_DEPTH} levels deep"):
        loads_bounded(json.dumps(nested(depth)))


def test_nesting_beyond_the_recursion_limit_is_a_limit_error() -> None:
    with pytest.raises(JsonLimitError, match="levels deep"):
        loads_bounded("[" * 50_000 + "]" * 50_000)
    with pytest.raises(JsonLimitError, match="levels deep"):
        loads_bounded('{"a":' * 50_000 + "1" + "}" * 50_000)


def test_bracket_bombs_are_refused_before_decoding() -> None:
    bomb = "[" + "[]," * MAX_JSON_CONTAINERS + "[]]"
    assert container_count_exceeds(bomb)
    with pytest.raises(JsonLimitError, match=f"more than {MAX_JSON_CONTAINERS} opening brackets"):
        loads_bounded(bomb)


def test_the_count_is_an_upper_bound_that_includes_strings() -> None:
    text = json.dumps({"s": "[" * (MAX_JSON_CONTAINERS + 1)})
    assert container_count_exceeds(text)
    assert not container_count_exceeds(json.dumps({"s": "[" * 10}))


def test_excess_description_recognises_a_run_of_brackets() -> None:
    assert "levels deep" in excess_description("[" * 200, 10)
    assert "levels deep" in excess_description(b"[" * 200, 10)
    assert "opening brackets" in excess_description("[[],[],[]]" * 100, 10)


def test_walking_is_over_containers_only() -> None:
    wide = [[{"a": "x" * 1000}] for _ in range(10_000)]
    assert not nesting_exceeds(wide, 3)
    assert nesting_exceeds(wide, 2)
    assert not nesting_exceeds("just a string", 0)


def test_malformed_json_still_raises_value_error() -> None:
    with pytest.raises(ValueError) as info:
        loads_bounded("{nope")
    assert not isinstance(info.value, JsonLimitError)
