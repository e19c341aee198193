"""The combined glob expression decides exactly as matching each pattern with `fnmatchcase`."""

from __future__ import annotations

from fnmatch import fnmatchcase

from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp.sandbox.env_policy import DEFAULT_EXCLUDE_PATTERNS, looks_secret, matches_any

NAME_CHARS = st.sampled_from("AKEYSECRTOPWDUTH_abckey1[]*?-.")
PATTERN_CHARS = st.sampled_from("AKEYSECRTOPWD_ab*?[]!-")


@settings(max_examples=800, deadline=None)
@given(
    st.text(NAME_CHARS, max_size=12),
    st.lists(st.text(PATTERN_CHARS, max_size=6), max_size=4) | st.just(list(DEFAULT_EXCLUDE_PATTERNS)),
)
def test_combined_globs_decide_as_fnmatchcase(name: str, patterns: list[str]) -> None:
    expected = any(fnmatchcase(name.upper(), p.upper()) for p in patterns)
    assert matches_any(name, patterns) is expected


def test_remembered_verdicts_are_the_computed_ones() -> None:
    assert looks_secret("GITHUB_TOKEN", "x") and looks_secret("GITHUB_TOKEN", "x")
    assert not looks_secret("PATH", "/usr/bin") and not looks_secret("PATH", "/usr/bin")
    assert looks_secret("URL", "https://u:pw@host/") and not looks_secret("URL", "https://host/")
    assert not matches_any("ANYTHING", [])
