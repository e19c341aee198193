"""Context matching, change computation, unified diffs and atomic application."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp.agent.apply_patch import (
    AddChange,
    ApplyPatchError,
    DeleteChange,
    NoChangesError,
    UpdateChange,
    VerificationError,
    WriteError,
    apply_changes,
    apply_patch_text,
    changes_to_json,
    compute_changes,
    file_change_to_json,
    parse_patch,
    seek_sequence,
    unified_diff,
)


def wrap(*body: str) -> str:
    return "\n".join(["*** Begin Patch", *body, "*** End Patch"])


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root: file bytes, or None for directories."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = None
        for name in filenames:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = Path(full).read_bytes()
    return out


# --- seek_sequence --------------------------------------------------------------------


def test_seek_exact_and_start() -> None:
    lines = ["a", "b", "a", "b"]
    assert seek_sequence(lines, ["a", "b"], 0, False) == 0
    assert seek_sequence(lines, ["a", "b"], 1, False) == 2
    assert seek_sequence(lines, [], 3, False) == 3
    assert seek_sequence(lines, ["a", "b", "a", "b", "a"], 0, False) is None
    assert seek_sequence(lines, ["c"], 0, False) is None


def test_seek_eof_anchors_at_end() -> None:
    lines = ["x", "y", "x", "y"]
    assert seek_sequence(lines, ["x", "y"], 0, True) == 2
    assert seek_sequence(lines, ["x"], 0, True) is None


@pytest.mark.parametrize(
    ("file_line", "pattern_line"),
    [
        ("value = 1   ", "value = 1"),  # tier 2: trailing whitespace
        ("    value = 1", "value = 1"),  # tier 3: trimmed
        ("x = \u201cquote\u201d \u2014 \u2018it\u2019s\u2019", "x = \"quote\" - 'it's'"),  # tier 4
        ("a\u00a0b\u3000c\u2212d", "a b c-d"),
        ("a-b", "a\u2011b"),  # normalisation applies to the pattern as well
    ],
)
def test_seek_tolerance_tiers(file_line: str, pattern_line: str) -> None:
    assert seek_sequence(["before", file_line, "after"], [pattern_line], 0, False) == 1


def test_seek_prefers_stricter_tier() -> None:
    lines = ["  foo", "foo  ", "foo"]
    assert seek_sequence(lines, ["foo"], 0, False) == 2
    assert seek_sequence(lines[:2], ["foo"], 0, False) == 1


# --- applying updates ---------------------------------------------------------------


def test_reference_example(tmp_path: Path) -> None:
    (tmp_path / "dest.txt").write_text("original content\n")
    text = wrap(
        "*** Add File: new.txt",
        "+brand new",
        "*** Update File: dest.txt",
        "@@",
        "-original content",
        "+modified content",
    )
    changes = compute_changes(parse_patch(text), tmp_path)
    assert changes_to_json(changes) == {
        str(tmp_path / "new.txt"): {"type": "add", "content": "brand new\n"},
        str(tmp_path / "dest.txt"): {
            "type": "update",
            "unified_diff": "@@ -1 +1 @@\n-original content\n+modified content\n",
            "move_path": None,
        },
    }
    result = apply_changes(changes)
    assert result.summary == "Success. Updated the following files:\nA new.txt\nM dest.txt\n"
    assert (tmp_path / "dest.txt").read_text() == "modified content\n"
    assert (tmp_path / "new.txt").read_text() == "brand new\n"


def test_summary_groups_and_uses_written_paths(tmp_path: Path) -> None:
    (tmp_path / "del.txt").write_text("bye\n")
    (tmp_path / "mod.txt").write_text("a\n")
    (tmp_path / "src.txt").write_text("s\n")
    text = wrap(
        "*** Delete File: del.txt",
        "*** Update File: ./mod.txt",
        "@@",
        "-a",
        "+b",
        "*** Add File: sub/dir/new.txt",
        "+n",
        "*** Update File: src.txt",
        "*** Move to: moved/dst.txt",
        "@@",
        "-s",
        "+t",
    )
    result = apply_patch_text(text, tmp_path)
    assert result.summary == (
        "Success. Updated the following files:\nA sub/dir/new.txt\nM ./mod.txt\nM moved/dst.txt\nD del.txt\n"
    )
    assert snapshot(tmp_path) == {
        "mod.txt": b"b\n",
        "sub": None,
        "sub/dir": None,
        "sub/dir/new.txt": b"n\n",
        "moved": None,
        "moved/dst.txt": b"t\n",
    }


def test_move_change_json_and_mode(tmp_path: Path) -> None:
    src = tmp_path / "run.sh"
    src.write_text("echo hi\n")
    src.chmod(0o751)
    text = wrap("*** Update File: run.sh", "*** Move to: bin/run.sh", "@@", "-echo hi", "+echo bye")
    changes = compute_changes(parse_patch(text), tmp_path)
    assert file_change_to_json(changes[src]) == {
        "type": "update",
        "unified_diff": "@@ -1 +1 @@\n-echo hi\n+echo bye\n",
        "move_path": str(tmp_path / "bin/run.sh"),
    }
    apply_changes(changes)
    assert not src.exists()
    dest = tmp_path / "bin/run.sh"
    assert dest.read_text() == "echo bye\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o751


def test_update_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "tool"
    target.write_text("a\n")
    target.chmod(0o700)
    apply_patch_text(wrap("*** Update File: tool", "@@", "-a", "+b"), tmp_path)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


def test_new_file_gets_default_mode(tmp_path: Path) -> None:
    apply_patch_text(wrap("*** Add File: f", "+x"), tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o666 & ~umask


def test_delete_change_carries_content(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("content\n")
    changes = compute_changes(parse_patch(wrap("*** Delete File: old.txt")), tmp_path)
    assert changes_to_json(changes) == {str(tmp_path / "old.txt"): {"type": "delete", "content": "content\n"}}


def test_absolute_paths_are_accepted(tmp_path: Path) -> None:
    target = tmp_path / "abs.txt"
    result = apply_patch_text(wrap(f"*** Add File: {target}", "+x"), Path("/"))
    assert target.read_text() == "x\n"
    assert result.added == (str(target),)


def test_add_overwrites_existing_file(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("old\n")
    changes = compute_changes(parse_patch(wrap("*** Add File: a", "+new")), tmp_path)
    assert isinstance(changes[tmp_path / "a"], AddChange)
    apply_changes(changes)
    assert (tmp_path / "a").read_text() == "new\n"


def update(tmp_path: Path, original: str, *body: str) -> str:
    (tmp_path / "f").write_bytes(original.encode())
    apply_patch_text(wrap("*** Update File: f", *body), tmp_path)
    return (tmp_path / "f").read_bytes().decode()


def test_change_context_selects_occurrence(tmp_path: Path) -> None:
    original = "def a():\n    x = 1\ndef b():\n    x = 1\n"
    result = update(tmp_path, original, "@@ def b():", "-    x = 1", "+    x = 2")
    assert result == "def a():\n    x = 1\ndef b():\n    x = 2\n"


def test_nested_contexts(tmp_path: Path) -> None:
    original = "class A:\n  def f():\n    pass\nclass B:\n  def f():\n    pass\n"
    result = update(tmp_path, original, "@@ class B:", "@@   def f():", "-    pass", "+    return 1")
    assert result.endswith("class B:\n  def f():\n    return 1\n")
    assert result.startswith("class A:\n  def f():\n    pass\n")


def test_multiple_chunks_in_order(tmp_path: Path) -> None:
    original = "".join(f"line{i}\n" for i in range(10))
    result = update(tmp_path, original, "@@", " line1", "-line2", "+two", "@@", "-line8", "+eight")
    assert result.splitlines() == [
        "line0", "line1", "two", "line3", "line4", "line5", "line6", "line7", "eight", "line9",
    ]  # fmt: skip


def test_end_of_file_anchor(tmp_path: Path) -> None:
    original = "x\nend\nx\nend\n"
    result = update(tmp_path, original, "@@", "-end", "+END", "*** End of File")
    assert result == "x\nend\nx\nEND\n"


def test_pure_addition_goes_to_end(tmp_path: Path) -> None:
    assert update(tmp_path, "a\nb\n", "@@", "+c") == "a\nb\nc\n"
    assert update(tmp_path, "", "@@", "+first") == "first\n"


def test_pure_addition_before_final_blank_line(tmp_path: Path) -> None:
    assert update(tmp_path, "a\n\n", "@@", "+c") == "a\nc\n\n"


def test_trailing_empty_line_is_retried_without(tmp_path: Path) -> None:
    assert update(tmp_path, "a\nb", "@@", "-b", "+c", "") == "a\nc\n"


def test_missing_final_newline_is_added(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a\nb")
    text = wrap("*** Update File: f", "@@", " a", "-b", "+c")
    changes = compute_changes(parse_patch(text), tmp_path)
    change = changes[tmp_path / "f"]
    assert isinstance(change, UpdateChange)
    assert change.unified_diff == "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n"
    apply_changes(changes)
    assert (tmp_path / "f").read_text() == "a\nc\n"


def test_fuzzy_tiers_through_a_patch(tmp_path: Path) -> None:
    original = "start\n  call(\u201cx\u201d)   \nend\n"
    assert update(tmp_path, original, "@@", " start", '-call("x")', '+call("y")') == 'start\ncall("y")\nend\n'


def test_crlf_file_keeps_crlf(tmp_path: Path) -> None:
    text = wrap("*** Update File: f", "@@", " a", "-b", "+c")
    (tmp_path / "f").write_bytes(b"a\r\nb\r\n")
    changes = compute_changes(parse_patch(text), tmp_path)
    change = changes[tmp_path / "f"]
    assert isinstance(change, UpdateChange)
    assert change.unified_diff == "@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    apply_changes(changes)
    assert (tmp_path / "f").read_bytes() == b"a\r\nc\r\n"


def test_writing_through_symlink_updates_target(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("a\n")
    (tmp_path / "link").symlink_to("real")
    apply_patch_text(wrap("*** Update File: link", "@@", "-a", "+b"), tmp_path)
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "real").read_text() == "b\n"


def test_same_file_touched_twice(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a\nb\n")
    text = wrap(
        "*** Update File: f", "@@", "-a", "+A", "*** Update File: f", "@@", "-b", "+B",
        "*** Add File: g", "+1", "*** Update File: g", "@@", "+2",
    )  # fmt: skip
    changes = compute_changes(parse_patch(text), tmp_path)
    assert file_change_to_json(changes[tmp_path / "f"])["unified_diff"] == "@@ -1,2 +1,2 @@\n-a\n-b\n+A\n+B\n"
    assert changes[tmp_path / "g"] == AddChange("1\n2\n")
    apply_changes(changes)
    assert (tmp_path / "f").read_text() == "A\nB\n"


def test_add_then_delete_is_no_change(tmp_path: Path) -> None:
    patch = parse_patch(wrap("*** Add File: tmp", "+x", "*** Delete File: tmp"))
    assert compute_changes(patch, tmp_path) == {}
    with pytest.raises(NoChangesError, match=r"^No files were modified\.$"):
        apply_patch_text(wrap("*** Add File: tmp", "+x", "*** Delete File: tmp"), tmp_path)


def test_empty_patch_modifies_nothing(tmp_path: Path) -> None:
    with pytest.raises(NoChangesError) as info:
        apply_patch_text(wrap(), tmp_path)
    assert str(info.value) == "No files were modified."


# --- errors ---------------------------------------------------------------------------


def test_error_context_not_found(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a\n")
    with pytest.raises(VerificationError) as info:
        apply_patch_text(wrap("*** Update File: f", "@@ def nope():", "-a", "+b"), tmp_path)
    assert str(info.value) == f"Failed to find context 'def nope():' in {tmp_path / 'f'}"


def test_error_lines_not_found(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a\n")
    with pytest.raises(VerificationError) as info:
        apply_patch_text(wrap("*** Update File: f", "@@", " x", "-y", "+z"), tmp_path)
    assert str(info.value) == f"Failed to find expected lines in {tmp_path / 'f'}:\nx\ny"


def test_error_update_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VerificationError) as info:
        apply_patch_text(wrap("*** Update File: nope", "@@", "-a"), tmp_path)
    assert str(info.value) == (
        f"Failed to read file to update {tmp_path / 'nope'}: No such file or directory (os error 2)"
    )


def test_error_delete_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VerificationError) as info:
        apply_patch_text(wrap("*** Delete File: nope"), tmp_path)
    assert str(info.value) == f"Failed to read {tmp_path / 'nope'}: No such file or directory (os error 2)"


def test_error_delete_directory(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(VerificationError, match=r"^Failed to read .*/d: Is a directory \(os error 21\)$"):
        apply_patch_text(wrap("*** Delete File: d"), tmp_path)


def test_error_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "bin").write_bytes(b"\xff\xfe\n")
    with pytest.raises(VerificationError, match="stream did not contain valid UTF-8"):
        apply_patch_text(wrap("*** Update File: bin", "@@", "+x"), tmp_path)


def test_error_update_after_delete(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a\n")
    with pytest.raises(VerificationError, match="Failed to read file to update"):
        apply_patch_text(wrap("*** Delete File: f", "*** Update File: f", "@@", "-a"), tmp_path)
    assert (tmp_path / "f").read_text() == "a\n"


def test_null_byte_path_is_an_apply_patch_error(tmp_path: Path) -> None:
    with pytest.raises(ApplyPatchError):
        apply_patch_text(wrap("*** Update File: a\x00b", "@@", "-a"), tmp_path)
    with pytest.raises(WriteError):
        apply_patch_text(wrap("*** Add File: a\x00b", "+x"), tmp_path)
    assert snapshot(tmp_path) == {}


# --- atomicity ------------------------------------------------------------------------


def _populate(root: Path) -> None:
    (root / "keep.txt").write_text("one\ntwo\n")
    (root / "gone.txt").write_text("bye\n")
    (root / "src.txt").write_text("move me\n")
    (root / "exec.sh").write_text("#!/bin/sh\n")
    (root / "exec.sh").chmod(0o755)


_MULTI = [
    "*** Add File: fresh/deep/new.txt",
    "+hello",
    "*** Update File: keep.txt",
    "@@",
    "-one",
    "+ONE",
    "*** Delete File: gone.txt",
    "*** Update File: src.txt",
    "*** Move to: elsewhere/dst.txt",
    "@@",
    "-move me",
    "+moved",
    "*** Update File: exec.sh",
    "@@",
    "+echo hi",
]


def test_failing_last_hunk_changes_nothing(tmp_path: Path) -> None:
    _populate(tmp_path)
    before = snapshot(tmp_path)
    text = wrap(*_MULTI, "*** Update File: keep.txt", "@@", "-not there", "+x")
    with pytest.raises(VerificationError):
        apply_patch_text(text, tmp_path)
    assert snapshot(tmp_path) == before


def test_staging_failure_rolls_back_dirs_and_temps(tmp_path: Path) -> None:
    _populate(tmp_path)
    (tmp_path / "blocker").write_text("I am a file\n")
    before = snapshot(tmp_path)
    text = wrap(*_MULTI, "*** Add File: blocker/child.txt", "+x")
    with pytest.raises(WriteError) as info:
        apply_patch_text(text, tmp_path)
    blocked = tmp_path / "blocker/child.txt"
    assert str(info.value).startswith(f"Failed to create parent directories for {blocked}:")
    assert snapshot(tmp_path) == before


def test_write_onto_directory_fails_cleanly(tmp_path: Path) -> None:
    _populate(tmp_path)
    (tmp_path / "adir").mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(WriteError, match=r"Failed to write file .*adir: Is a directory"):
        apply_patch_text(wrap(*_MULTI, "*** Add File: adir", "+x"), tmp_path)
    assert snapshot(tmp_path) == before


@contextmanager
def failing_call(calls: int, name: str) -> Iterator[None]:
    """Make the call number ``calls`` (0-based) of ``os.<name>`` fail once."""
    real = getattr(os, name)
    count = 0

    def flaky(*args: object, **kwargs: object) -> object:
        nonlocal count
        count += 1
        if count == calls + 1:
            raise OSError(5, "Input/output error")
        return real(*args, **kwargs)

    with mock.patch.object(os, name, flaky):
        yield


@pytest.mark.parametrize("name", ["replace", "link", "mkdir", "open", "write", "chmod"])
@pytest.mark.parametrize("calls", range(8))
def test_failure_at_any_step_leaves_everything_unchanged(calls: int, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _populate(root)
        before = snapshot(root)
        patch = parse_patch(wrap(*_MULTI))
        changes = compute_changes(patch, root)
        try:
            with failing_call(calls, name):
                apply_changes(changes)
        except WriteError:
            assert snapshot(root) == before
        else:
            after = snapshot(root)
            assert after["keep.txt"] == b"ONE\ntwo\n"
            assert "gone.txt" not in after
            assert after["elsewhere/dst.txt"] == b"moved\n"
            assert not [name for name in after if "apply_patch" in name]


# --- unified diff -----------------------------------------------------------------------


def apply_unified(old: str, diff: str) -> str:
    """Minimal unified-diff applier used to check the diffs we produce."""
    old_lines = old.split("\n")
    old_keep = [line + "\n" for line in old_lines[:-1]] + ([old_lines[-1]] if old_lines[-1] else [])
    out: list[str] = []
    pos = 0
    lines = diff.split("\n")[:-1] if diff else []
    i = 0
    while i < len(lines):
        header = lines[i]
        assert header.startswith("@@ -"), header
        old_range = header.split(" ")[1][1:]
        start = int(old_range.split(",")[0])
        length = int(old_range.split(",")[1]) if "," in old_range else 1
        first = start - 1 if length else start
        out.extend(old_keep[pos:first])
        pos = first
        i += 1
        while i < len(lines) and not lines[i].startswith("@@ "):
            sign, text = lines[i][0], lines[i][1:] + "\n"
            if i + 1 < len(lines) and lines[i + 1] == "\\ No newline at end of file":
                text = text[:-1]
                i += 1
            if sign in " -":
                assert old_keep[pos] == text
                pos += 1
            if sign in " +":
                out.append(text)
            i += 1
    out.extend(old_keep[pos:])
    return "".join(out)


small_lines = st.lists(st.sampled_from(["a", "b", "c", "", "d"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(small_lines, small_lines, st.booleans(), st.booleans())
def test_unified_diff_round_trips(a: list[str], b: list[str], a_nl: bool, b_nl: bool) -> None:
    old = "\n".join(a) + ("\n" if a_nl and a else "")
    new = "\n".join(b) + ("\n" if b_nl and b else "")
    diff = unified_diff(old, new)
    assert apply_unified(old, diff) == new
    assert (diff == "") == (old == new)


def test_unified_diff_hunks_split_with_one_line_context() -> None:
    old = "".join(f"{i}\n" for i in range(1, 11))
    new = old.replace("2\n", "two\n").replace("9\n", "nine\n")
    expected = "@@ -1,3 +1,3 @@\n 1\n-2\n+two\n 3\n@@ -8,3 +8,3 @@\n 8\n-9\n+nine\n 10\n"
    assert unified_diff(old, new) == expected
    assert unified_diff("", "x\n") == "@@ -0,0 +1 @@\n+x\n"
    assert unified_diff("x\n", "") == "@@ -1 +0,0 @@\n-x\n"


# --- property: patches built from random edits ---------------------------------------------

line_text = st.text(
    alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=["Cs"]), min_size=1, max_size=6
)


@st.composite
def file_with_edits(draw: st.DrawFn) -> tuple[list[str], bool, str, list[str]]:
    lines = draw(st.lists(line_text, unique=True, max_size=20))
    n = len(lines)
    edits: list[tuple[int, int, list[str]]] = []
    pos = 0
    while pos <= n and (not edits or draw(st.booleans())):
        start = draw(st.integers(pos, n))
        end = draw(st.integers(start, min(n, start + 3)))
        new = draw(st.lists(line_text, max_size=3))
        if start == end and not new:
            new = ["inserted"]
        edits.append((start, end, new))
        pos = end + 1
    body: list[str] = []
    chunk_end = 0
    for index, (start, end, new) in enumerate(edits):
        next_start = edits[index + 1][0] if index + 1 < len(edits) else n
        lead = max(chunk_end, start - draw(st.integers(0, 3)))
        tail = min(end + draw(st.integers(0, 3)), next_start)
        if lead == start == end == tail and start < n:
            tail = start + 1  # a pure insertion needs an anchor line
        if lead > chunk_end and draw(st.booleans()):
            body.append("@@ " + lines[draw(st.integers(chunk_end, lead - 1))])
        else:
            body.append("@@")
        body += [" " + line for line in lines[lead:start]]
        body += ["-" + line for line in lines[start:end]]
        body += ["+" + line for line in new]
        body += [" " + line for line in lines[end:tail]]
        if tail == n and lead < tail and draw(st.booleans()):
            body.append("*** End of File")
        chunk_end = tail
    expected = list(lines)
    for start, end, new in reversed(edits):
        expected[start:end] = new
    final_newline = draw(st.booleans())
    return lines, final_newline, wrap("*** Update File: file.txt", *body), expected


@settings(max_examples=150, deadline=None)
@given(file_with_edits())
def test_random_edits_apply_as_expected(case: tuple[list[str], bool, str, list[str]]) -> None:
    lines, final_newline, patch_text, expected = case
    original = "\n".join(lines) + ("\n" if final_newline and lines else "")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "file.txt").write_bytes(original.encode())
        changes = compute_changes(parse_patch(patch_text), root)
        change = changes[root / "file.txt"]
        assert isinstance(change, UpdateChange)
        want = "\n".join(expected) + "\n" if expected else ""
        assert change.new_content == want
        assert apply_unified(original, change.unified_diff) == want
        result = apply_changes(changes)
        assert result.modified == ("file.txt",)
        assert (root / "file.txt").read_bytes() == want.encode()
        assert sorted(os.listdir(root)) == ["file.txt"]


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d/e", "f/g/h"]), st.lists(line_text, max_size=4), max_size=4
    ),
    st.lists(
        st.tuples(st.sampled_from(["add", "delete"]), st.sampled_from(["a", "b", "x/y", "d/e"])), max_size=5
    ),
)
def test_random_add_delete_sequences(files: dict[str, list[str]], ops: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model: dict[str, str] = {}
        for name, content_lines in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            content = "".join(line + "\n" for line in content_lines)
            path.write_text(content)
            model[name] = content
        before = snapshot(root)
        body: list[str] = []
        expect_error = False
        for kind, name in ops:
            if kind == "add":
                body += [f"*** Add File: {name}", "+" + name]
                model[name] = name + "\n"
            else:
                body.append(f"*** Delete File: {name}")
                if name not in model:
                    expect_error = True
                model.pop(name, None)
        try:
            apply_patch_text(wrap(*body), root)
        except VerificationError:
            assert expect_error
            assert snapshot(root) == before
            return
        except NoChangesError:
            assert snapshot(root) == before
            return
        assert not expect_error
        files_after = {k: v for k, v in snapshot(root).items() if v is not None}
        assert files_after == {k: v.encode() for k, v in model.items()}


def test_change_dataclasses_json() -> None:
    assert file_change_to_json(AddChange("x")) == {"type": "add", "content": "x"}
    assert file_change_to_json(DeleteChange("y")) == {"type": "delete", "content": "y"}
    change = UpdateChange(unified_diff="d", move_path=Path("/m"), new_content="n")
    assert file_change_to_json(change) == {"type": "update", "unified_diff": "d", "move_path": "/m"}
