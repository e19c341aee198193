"""The patch writer's containment: resolved once, written through held directories, and an
`allow` predicate that refuses before anything changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_mcp.agent.apply_patch import (
    VerificationError,
    WriteError,
    apply_planned,
    compute_changes,
    parse_patch,
    plan_changes,
)
from codex_mcp.agent.apply_patch.fsops import DirCache, PathChangedError


def wrap(*body: str) -> str:
    return "\n".join(["*** Begin Patch", *body, "*** End Patch"])


def test_plan_resolves_symlinks_once_and_deletes_links_themselves(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("a\n")
    (tmp_path / "dir").symlink_to(tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real" / "f")
    text = wrap("*** Update File: dir/f", "@@", "-a", "+b", "*** Delete File: link")
    plan = plan_changes(compute_changes(parse_patch(text), tmp_path))
    assert plan.touched == (str(tmp_path / "real" / "f"), str(tmp_path / "link"))
    assert plan.named[str(tmp_path / "real" / "f")] == tmp_path / "dir" / "f"


def test_allow_refuses_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("a\n")
    text = wrap("*** Update File: keep.txt", "@@", "-a", "+b", "*** Add File: blocked/new.txt", "+x")
    plan = plan_changes(compute_changes(parse_patch(text), tmp_path))
    with pytest.raises(WriteError, match="outside the places this session may write"):
        apply_planned(plan, allow=lambda path: "blocked" not in path)
    assert (tmp_path / "keep.txt").read_text() == "a\n"
    assert not (tmp_path / "blocked").exists()


def test_a_directory_swapped_for_a_symlink_after_planning_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    plan = plan_changes(compute_changes(parse_patch(wrap("*** Add File: d/x.txt", "+x")), tmp_path))
    (tmp_path / "d").rmdir()
    (tmp_path / "d").symlink_to(outside)
    with pytest.raises(WriteError, match="changed while the patch was being applied"):
        apply_planned(plan)
    assert list(outside.iterdir()) == []


def test_a_file_swapped_for_a_symlink_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep\n")
    (tmp_path / "f").write_text("a\n")
    plan = plan_changes(compute_changes(parse_patch(wrap("*** Update File: f", "@@", "-a", "+b")), tmp_path))
    (tmp_path / "f").unlink()
    (tmp_path / "f").symlink_to(outside)
    apply_planned(plan)
    assert outside.read_text() == "keep\n"
    assert not (tmp_path / "f").is_symlink() and (tmp_path / "f").read_text() == "b\n"


def test_dir_cache_refuses_symlinked_components_and_creates_missing_ones(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path)
    with DirCache() as dirs:
        with pytest.raises(PathChangedError):
            dirs.open(str(tmp_path / "link" / "x"), create=True)
        fd = dirs.open(str(tmp_path / "a" / "b"), create=True)
        assert os.path.samestat(os.fstat(fd), os.stat(tmp_path / "a" / "b"))
        assert [name for _, name in dirs.created] == ["a", "b"]
        dirs.rollback_created()
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("make", ["fifo", "dev", "dir", "big"])
def test_unreadable_targets_are_verification_errors(tmp_path: Path, make: str) -> None:
    target = tmp_path / "t"
    if make == "fifo":
        os.mkfifo(target)
    elif make == "dev":
        target.symlink_to("/dev/zero")
    elif make == "dir":
        target.mkdir()
    else:
        with open(target, "wb") as fh:
            fh.truncate(17 << 20)
    with pytest.raises(VerificationError, match="Failed to read file to update"):
        compute_changes(parse_patch(wrap("*** Update File: t", "@@", "-a", "+b")), tmp_path)
