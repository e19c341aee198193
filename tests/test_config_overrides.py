"""`-c key=value` parsing and tree edits (codex_mcp.agent.config.overrides)."""

from __future__ import annotations

import copy
import math
import tomllib
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp.agent.config import ConfigError, apply_overrides, json_overrides, parse_override

# -- helpers ---------------------------------------------------------------------------------


def toml_string(text: str) -> str:
    """A TOML basic string for `text` (our own renderer, independent of the code under test)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def get_path(tree: Any, path: list[str]) -> Any:
    for segment in path:
        tree = tree[segment]
    return tree


def leaf_paths(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            paths.extend(leaf_paths(value, (*prefix, key)))
        else:
            paths.append((*prefix, key))
    return paths


SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
text_no_surrogates = st.text(st.characters(exclude_categories=SURROGATES), max_size=40)
bare_key = st.text(st.sampled_from("abcxyz_-019"), min_size=1, max_size=6)
key_paths = st.lists(bare_key, min_size=1, max_size=4)
scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False),
    text_no_surrogates,
)
trees = st.recursive(
    st.dictionaries(st.sampled_from("abcd"), scalars, max_size=3),
    lambda children: st.dictionaries(st.sampled_from("abcd"), st.one_of(scalars, children), max_size=3),
    max_leaves=12,
)


# -- parse_override --------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.text(max_size=60))
def test_parse_override_only_raises_config_error(text: str) -> None:
    try:
        path, _value = parse_override(text)
    except ConfigError:
        return
    assert path and all(isinstance(segment, str) for segment in path)


@given(key_paths, st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_round_trips_integers(path: list[str], value: int) -> None:
    assert parse_override(f"{'.'.join(path)}={value}") == (path, value)


@given(key_paths, st.floats())
def test_round_trips_floats(path: list[str], value: float) -> None:
    got_path, got = parse_override(f"{'.'.join(path)} = {toml_float(value)}")
    assert got_path == path
    assert isinstance(got, float)
    assert got == value or (math.isnan(got) and math.isnan(value))


@given(key_paths, st.booleans())
def test_round_trips_booleans(path: list[str], value: bool) -> None:
    assert parse_override(f"{'.'.join(path)}={'true' if value else 'false'}") == (path, value)


@given(key_paths, text_no_surrogates)
def test_round_trips_quoted_strings(path: list[str], value: str) -> None:
    assert parse_override(f"{'.'.join(path)}={toml_string(value)}") == (path, value)


@given(st.lists(st.integers(min_value=-100, max_value=100), max_size=5))
def test_round_trips_arrays(values: list[int]) -> None:
    assert parse_override(f"a=[{', '.join(map(str, values))}]") == (["a"], values)


@given(st.text(st.characters(exclude_categories=SURROGATES, exclude_characters="\n\r"), max_size=40))
def test_non_toml_values_fall_back_to_the_trimmed_raw_text(raw: str) -> None:
    _path, value = parse_override("k=" + raw)
    try:
        expected: Any = tomllib.loads(f"_x_ = {raw.strip()}")["_x_"]
    except tomllib.TOMLDecodeError:
        expected = raw.strip()
    if isinstance(expected, float) and math.isnan(expected):
        assert isinstance(value, float) and math.isnan(value)
    else:
        assert value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model=o3", (["model"], "o3")),
        ("model = gpt-5-codex ", (["model"], "gpt-5-codex")),
        ('model="o3"', (["model"], "o3")),
        ("sandbox_mode=workspace-write", (["sandbox_mode"], "workspace-write")),
        ("a.b.c=1", (["a", "b", "c"], 1)),
        (" a . b = true", (["a", "b"], True)),
        ("x=a=b", (["x"], "a=b")),
        ("x=", (["x"], "")),
        ("notify=[\"a\", 'b']", (["notify"], ["a", "b"])),
        ('t={a = 1, b = "x"}', (["t"], {"a": 1, "b": "x"})),
        ('model_providers."my.x".base_url="http://h"', (["model_providers", "my.x", "base_url"], "http://h")),
        ("p.'a=b'.c=2", (["p", "a=b", "c"], 2)),
        ("k=1\ny = 2", (["k"], "1\ny = 2")),  # a second key cannot be smuggled in
        ("k=1 # comment", (["k"], 1)),
    ],
)
def test_parse_override_examples(text: str, expected: tuple[list[str], Any]) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["model", "", "=1", "  = x", "a..b=1", ".a=1", "a.=1", 'a."b=1'])
def test_parse_override_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_override(text)


# -- apply_overrides -------------------------------------------------------------------------


@settings(max_examples=200)
@given(trees, key_paths, scalars)
def test_apply_sets_exactly_the_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    before = copy.deepcopy(tree)
    result = apply_overrides(tree, [(path, value)])
    assert tree == before  # pure
    assert get_path(result, path) == value
    for leaf in leaf_paths(before):
        n = min(len(leaf), len(path))
        if list(leaf[:n]) == path[:n]:
            continue  # on the edited path: either replaced or an ancestor of the new value
        assert get_path(result, list(leaf)) == get_path(before, list(leaf))
    for leaf in leaf_paths(result):
        n = min(len(leaf), len(path))
        if list(leaf[:n]) == path[:n]:
            continue
        assert get_path(before, list(leaf)) == get_path(result, list(leaf))  # nothing new elsewhere


def test_apply_creates_and_replaces_intermediates() -> None:
    tree = {"a": 1, "b": {"c": {"d": 1}, "e": 2}}
    out = apply_overrides(tree, [(["a", "x", "y"], 5), (["b", "c", "z"], 3), (["n", "m"], [1])])
    assert out == {"a": {"x": {"y": 5}}, "b": {"c": {"d": 1, "z": 3}, "e": 2}, "n": {"m": [1]}}
    assert tree == {"a": 1, "b": {"c": {"d": 1}, "e": 2}}


def test_apply_later_override_wins_and_values_are_not_mutated() -> None:
    value = {"k": 1}
    out = apply_overrides({}, [(["t"], value), (["t", "j"], 2), (["t", "k"], 3)])
    assert out == {"t": {"k": 3, "j": 2}}
    assert value == {"k": 1}


def test_apply_shares_untouched_subtrees() -> None:
    untouched = {"deep": {"x": 1}}
    out = apply_overrides({"keep": untouched, "edit": {}}, [(["edit", "y"], 1)])
    assert out["keep"] is untouched


# -- json_overrides --------------------------------------------------------------------------


def test_json_overrides() -> None:
    got = json_overrides(
        {
            "model": "m",
            "model_providers.mock.name": "x",
            'model_providers."a.b".wire_api': "chat",
            "sandbox_workspace_write": {"network_access": True, "writable_roots": ["/a", None]},
            "skipped": None,
            "n": 1.5,
        }
    )
    assert got == [
        (["model"], "m"),
        (["model_providers", "mock", "name"], "x"),
        (["model_providers", "a.b", "wire_api"], "chat"),
        (["sandbox_workspace_write"], {"network_access": True, "writable_roots": ["/a"]}),
        (["n"], 1.5),
    ]


@pytest.mark.parametrize("obj", [{"": 1}, {"a..b": 1}, {"a": object()}])
def test_json_overrides_errors(obj: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        json_overrides(obj)
    assert info.value.origin == "call"
