"""Parser of the apply_patch language, the tool specs, and parser fuzzing."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_mcp.agent.apply_patch import (
    GRAMMAR,
    AddFile,
    ApplyPatchError,
    DeleteFile,
    ParseError,
    Patch,
    UpdateChunk,
    UpdateFile,
    apply_patch_text,
    custom_tool_spec,
    function_tool_spec,
    parse_patch,
)


def wrap(*body: str) -> str:
    return "\n".join(["*** Begin Patch", *body, "*** End Patch"])


def error_text(text: str) -> str:
    with pytest.raises(ParseError) as info:
        parse_patch(text)
    return str(info.value)


# --- grammar elements ---------------------------------------------------------------


def test_empty_patch_has_no_hunks() -> None:
    assert parse_patch(wrap()).hunks == ()


def test_add_file_lines_become_contents() -> None:
    patch = parse_patch(wrap("*** Add File: dir/new.txt", "+hello", "+", "+  indented"))
    assert patch.hunks == (AddFile(path="dir/new.txt", contents="hello\n\n  indented\n"),)


def test_add_file_without_lines_is_empty() -> None:
    assert parse_patch(wrap("*** Add File: empty.txt")).hunks == (AddFile("empty.txt", ""),)


def test_delete_file() -> None:
    assert parse_patch(wrap("*** Delete File: gone.txt")).hunks == (DeleteFile("gone.txt"),)


def test_update_with_move_context_and_lines() -> None:
    patch = parse_patch(
        wrap(
            "*** Update File: src/a.py",
            "*** Move to: src/b.py",
            "@@ def main():",
            " keep",
            "-old",
            "+new",
            "@@",
            " tail",
            "+more",
            "*** End of File",
        )
    )
    assert patch.hunks == (
        UpdateFile(
            path="src/a.py",
            move_path="src/b.py",
            chunks=(
                UpdateChunk("def main():", ("keep", "old"), ("keep", "new"), False),
                UpdateChunk(None, ("tail",), ("tail", "more"), True),
            ),
        ),
    )


def test_first_chunk_may_omit_marker_and_empty_line_is_context() -> None:
    patch = parse_patch(wrap("*** Update File: f", " a", "", "-b", "+c"))
    (hunk,) = patch.hunks
    assert isinstance(hunk, UpdateFile)
    assert hunk.chunks == (UpdateChunk(None, ("a", "", "b"), ("a", "", "c")),)


def test_blank_lines_between_chunks_and_hunks_are_skipped() -> None:
    patch = parse_patch(
        wrap("*** Update File: f", "@@", "-a", "+b", "", "  ", "@@", "-c", "", "*** Delete File: g")
    )
    assert len(patch.hunks) == 2
    hunk = patch.hunks[0]
    assert isinstance(hunk, UpdateFile)
    # the blank line right after "-c" belongs to the chunk as an empty context line
    assert hunk.chunks[1] == UpdateChunk(None, ("c", ""), ("",))


def test_several_hunks_keep_their_order() -> None:
    patch = parse_patch(wrap("*** Delete File: a", "*** Add File: b", "+x", "*** Update File: c", "@@", "+y"))
    assert [type(h).__name__ for h in patch.hunks] == ["DeleteFile", "AddFile", "UpdateFile"]


def test_headers_and_markers_are_trimmed() -> None:
    text = "\n\n  *** Begin Patch  \n*** Add File: a.txt   \n+x\n *** End Patch \n\n"
    assert parse_patch(text).hunks == (AddFile("a.txt", "x\n"),)


def test_crlf_patch() -> None:
    text = "*** Begin Patch\r\n*** Update File: f\r\n@@\r\n-a\r\n+b\r\n*** End Patch\r\n"
    (hunk,) = parse_patch(text).hunks
    assert isinstance(hunk, UpdateFile)
    assert hunk.chunks == (UpdateChunk(None, ("a",), ("b",)),)


def test_end_of_file_marker_tolerates_trailing_whitespace() -> None:
    (hunk,) = parse_patch(wrap("*** Update File: f", "@@", "-a", "*** End of File  ")).hunks
    assert isinstance(hunk, UpdateFile)
    assert hunk.chunks[0].is_end_of_file


def test_end_marker_newline_is_optional() -> None:
    assert parse_patch(wrap("*** Delete File: a")) == parse_patch(wrap("*** Delete File: a") + "\n")


def test_patch_equality_ignores_text() -> None:
    assert Patch(hunks=(), text="x") == Patch(hunks=(), text="y")


# --- lenient heredoc form ---------------------------------------------------------


@pytest.mark.parametrize("opener", ["<<EOF", "<<'EOF'", '<<"EOF"'])
def test_heredoc_wrapper_is_removed(opener: str) -> None:
    body = wrap("*** Add File: a", "+x")
    assert parse_patch(f"{opener}\n{body}\nEOF\n").hunks == (AddFile("a", "x\n"),)


def test_heredoc_wrapper_inner_error_is_reported() -> None:
    text = "<<'EOF'\n*** Begin Patch\n*** Add File: a\n+x\nEOF"
    assert error_text(text) == "invalid patch: The last line of the patch must be '*** End Patch'"


def test_heredoc_needs_four_lines() -> None:
    text = "<<'EOF'\n*** Begin Patch\nEOF"
    assert error_text(text) == "invalid patch: The first line of the patch must be '*** Begin Patch'"


def test_other_heredoc_delimiters_are_not_unwrapped() -> None:
    text = "<<'PATCH'\n" + wrap("*** Delete File: a") + "\nPATCH"
    assert error_text(text).startswith("invalid patch: The first line")


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "invalid patch: The first line of the patch must be '*** Begin Patch'"),
        ("bad\n*** End Patch", "invalid patch: The first line of the patch must be '*** Begin Patch'"),
        ("*** Begin Patch", "invalid patch: The last line of the patch must be '*** End Patch'"),
        (
            "*** Begin Patch\n*** Add File: a\n+x",
            "invalid patch: The last line of the patch must be '*** End Patch'",
        ),
        (
            wrap("*** Frobnicate File: a"),
            "invalid hunk at line 2, '*** Frobnicate File: a' is not a valid hunk header. "
            "Valid hunk headers: '*** Add File: {path}', '*** Delete File: {path}', "
            "'*** Update File: {path}'",
        ),
        (wrap("*** Update File: a.py"), "invalid hunk at line 2, Update file hunk for path 'a.py' is empty"),
        (
            wrap("*** Update File: a.py", "*** Move to: b.py"),
            "invalid hunk at line 2, Update file hunk for path 'a.py' is empty",
        ),
        (wrap("*** Update File: a", "@@"), "invalid hunk at line 4, Update hunk does not contain any lines"),
        (
            wrap("*** Update File: a", "@@", "*** End of File"),
            "invalid hunk at line 4, Update hunk does not contain any lines",
        ),
        (
            wrap("*** Update File: a", "@@", "bad"),
            "invalid hunk at line 4, Unexpected line found in update hunk: 'bad'. Every line should start "
            "with ' ' (context line), '+' (added line), or '-' (removed line)",
        ),
        (
            wrap("*** Update File: a", "bad"),
            "invalid hunk at line 3, Unexpected line found in update hunk: 'bad'. Every line should start "
            "with ' ' (context line), '+' (added line), or '-' (removed line)",
        ),
        (
            wrap("*** Update File: a", "@@", "-x", "bad"),
            "invalid hunk at line 5, Expected update hunk to start with a @@ context marker, got: 'bad'",
        ),
        (
            wrap("*** Add File: a", "+x", "oops"),
            "invalid hunk at line 4, 'oops' is not a valid hunk header. Valid hunk headers: "
            "'*** Add File: {path}', '*** Delete File: {path}', '*** Update File: {path}'",
        ),
    ],
)
def test_error_messages(text: str, expected: str) -> None:
    assert error_text(text) == expected


def test_parse_error_fields() -> None:
    with pytest.raises(ParseError) as info:
        parse_patch(wrap("*** Update File: a"))
    assert info.value.line_number == 2
    assert info.value.message == "Update file hunk for path 'a' is empty"
    assert isinstance(info.value, ApplyPatchError)


# --- tool specs -----------------------------------------------------------------------


def test_custom_tool_spec_shape() -> None:
    spec = custom_tool_spec()
    assert spec["type"] == "custom"
    assert spec["name"] == "apply_patch"
    assert spec["description"]
    assert spec["format"] == {"type": "grammar", "syntax": "lark", "definition": GRAMMAR}


def test_function_tool_spec_shape() -> None:
    spec = function_tool_spec()
    assert spec["type"] == "function"
    assert spec["name"] == "apply_patch"
    assert spec["strict"] is False
    params = spec["parameters"]
    assert params["type"] == "object"
    assert params["required"] == ["input"]
    assert params["additionalProperties"] is False
    assert list(params["properties"]) == ["input"]
    assert params["properties"]["input"]["type"] == "string"
    assert "*** Begin Patch" in spec["description"]


def test_grammar_is_closed_and_covers_the_language() -> None:
    defined = set(re.findall(r"^([A-Za-z_]+):", GRAMMAR, re.MULTILINE))
    bodies = re.sub(r'"(?:[^"\\]|\\.)*"|/(?:[^/\\]|\\.)+/', "", GRAMMAR)
    used = {sym for sym in re.findall(r"\b([A-Za-z_]+)\b", bodies)} - defined
    assert used == set(), used
    assert {"start"} <= defined
    for literal in (
        "*** Begin Patch",
        "*** End Patch",
        "*** Add File: ",
        "*** Delete File: ",
        "*** Update File: ",
        "*** Move to: ",
        "*** End of File",
        '"@@"',
        '"@@ "',
    ):
        assert literal in GRAMMAR


# --- fuzzing -----------------------------------------------------------------------------

_TRICKY_LINES = [
    "*** Begin Patch",
    "*** End Patch",
    "*** Add File: a.txt",
    "*** Add File: ",
    "*** Delete File: b.txt",
    "*** Update File: c.txt",
    "*** Move to: d.txt",
    "*** End of File",
    "***",
    "@@",
    "@@ ",
    "@@ def f():",
    "",
    " ",
    "\t",
    "+",
    "-",
    "+added",
    "-removed",
    " context",
    "<<'EOF'",
    "<<EOF",
    "EOF",
    "\r",
    "\x00",
    "\u2028",
    "\ufeff",
    "*",
]

_VALID = wrap(
    "*** Add File: a.txt",
    "+one",
    "+",
    "*** Update File: c.txt",
    "*** Move to: d.txt",
    "@@ class C:",
    " keep",
    "-old",
    "+new",
    "@@",
    "+tail",
    "*** End of File",
    "*** Delete File: b.txt",
)


def _parse_or_parse_error(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse_patch(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(text: str) -> None:
    _parse_or_parse_error(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TRICKY_LINES) | st.text(max_size=12), max_size=20), st.booleans())
def test_fuzz_line_soup(lines: list[str], framed: bool) -> None:
    text = wrap(*lines) if framed else "\n".join(lines)
    _parse_or_parse_error(text)


@st.composite
def mutated_patch(draw: st.DrawFn) -> str:
    lines = _VALID.split("\n")
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "truncate", "swap"]))
        index = draw(st.integers(0, max(len(lines) - 1, 0)))
        if kind == "insert":
            lines.insert(index, draw(st.sampled_from(_TRICKY_LINES)))
        elif not lines:
            continue
        elif kind == "delete":
            del lines[index]
        elif kind == "replace":
            lines[index] = draw(st.sampled_from(_TRICKY_LINES))
        elif kind == "duplicate":
            lines.insert(index, lines[index])
        elif kind == "truncate":
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
        else:
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], lines[index]
    return "\n".join(lines)


@settings(max_examples=400, deadline=None)
@given(mutated_patch())
def test_fuzz_mutated_valid_patch(text: str) -> None:
    _parse_or_parse_error(text)


def test_valid_fuzz_seed_parses() -> None:
    assert len(parse_patch(_VALID).hunks) == 3


@settings(max_examples=150, deadline=None)
@given(mutated_patch())
def test_fuzz_mutated_patch_end_to_end(text: str) -> None:
    """Applying any mutated patch raises only ApplyPatchError subclasses."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("a.txt", "b.txt", "c.txt"):
            (root / name).write_text("keep\nold\nz\n")
        with contextlib.suppress(ApplyPatchError):
            apply_patch_text(text, root)
        assert not [name for name in os.listdir(root) if "apply_patch" in name]
