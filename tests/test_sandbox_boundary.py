"""The containment boundary is computed from the session alone (pure, over real paths)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_mcp.sandbox.boundary import BoundaryError, compute_boundary, is_within
from codex_mcp.sandbox.policy import SandboxPolicy

WW = SandboxPolicy("workspace-write", exclude_tmpdir_env_var=True, exclude_slash_tmp=True)


def test_read_only_and_full_access(tmp_path: Path) -> None:
    ro = compute_boundary(SandboxPolicy("read-only"), tmp_path)
    assert ro.writable_roots == () and not ro.allows_write(str(tmp_path / "x"))
    full = compute_boundary(SandboxPolicy("danger-full-access"), tmp_path)
    assert full.is_full_access and full.allows_write("/etc/passwd") and full.network


def test_writable_roots_are_the_session_cwd_and_configured_roots(tmp_path: Path) -> None:
    ws, extra, outside = tmp_path / "ws", tmp_path / "extra", tmp_path / "outside"
    for d in (ws, extra, outside):
        d.mkdir()
    b = compute_boundary(SandboxPolicy("workspace-write", (str(extra),), exclude_slash_tmp=True,
                                       exclude_tmpdir_env_var=True), ws)  # fmt: skip
    assert b.writable_roots == (str(ws), str(extra))
    assert b.allows_write(str(ws / "a" / "b")) and b.allows_write(str(extra / "f"))
    assert not b.allows_write(str(outside / "f")) and not b.allows_write(str(tmp_path))


def test_protected_names_in_every_root_and_codex_home(tmp_path: Path) -> None:
    ws, extra, home = tmp_path / "ws", tmp_path / "extra", tmp_path / "extra" / "codex_home"
    for d in (ws / ".git", extra / ".git", extra / ".agents", home):
        d.mkdir(parents=True)
    policy = SandboxPolicy(
        "workspace-write", (str(extra),), exclude_slash_tmp=True, exclude_tmpdir_env_var=True
    )
    b = compute_boundary(policy, ws, codex_home=home)
    assert set(b.read_only_paths) == {
        str(ws / ".git"),
        str(extra / ".git"),
        str(extra / ".agents"),
        str(home),
    }
    for denied in (ws / ".git" / "config", extra / ".git" / "hooks" / "x", home / "rules" / "a.rules"):
        assert not b.allows_write(str(denied))
    assert b.allows_write(str(extra / "fine.txt"))


def test_gitdir_file_protects_its_target(tmp_path: Path) -> None:
    ws, real = tmp_path / "ws", tmp_path / "ws" / "modules" / "sub"
    real.mkdir(parents=True)
    (ws / ".git").write_text(f"gitdir: {real}\n")
    b = compute_boundary(WW, ws)
    assert str(real) in b.read_only_paths and str(ws / ".git") in b.read_only_paths


def test_workspace_inside_codex_home_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "ws").mkdir(parents=True)
    with pytest.raises(BoundaryError, match="inside CODEX_HOME"):
        compute_boundary(WW, home / "ws", codex_home=home)


def test_symlinked_roots_are_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    os.symlink(real, link)
    b = compute_boundary(WW, link)
    assert b.writable_roots == (str(real),)


@pytest.mark.parametrize(
    ("path", "root", "inside"),
    [
        ("/a/b", "/a", True),
        ("/a", "/a", True),
        ("/ab", "/a", False),
        ("/x", "/", True),
        ("/a/", "/a/b", False),
    ],
)
def test_is_within(path: str, root: str, inside: bool) -> None:
    assert is_within(path, root) is inside
