"""Unit checks behind the red-team fixes: what the boundary pins and hides, and how each
backend is told (the attacks themselves are in the other `test_redteam_*` files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_mcp.sandbox.boundary import BoundaryError, compute_boundary, pinned_paths, root_identities
from codex_mcp.sandbox.bwrap import build_bwrap_argv
from codex_mcp.sandbox.container import Policy
from codex_mcp.sandbox.landlock import _read_rules
from codex_mcp.sandbox.policy import SandboxPolicy
from codex_mcp.sandbox.seatbelt import build_profile

WW = SandboxPolicy(mode="workspace-write", exclude_tmpdir_env_var=True)


def test_pins_every_directory_between_a_root_and_what_it_protects() -> None:
    roots = ["/tmp", "/tmp/a/b/ws"]
    assert pinned_paths(roots, ["/tmp/a/b/ws/.git", "/tmp/c/home", *roots]) == [
        "/tmp/a",
        "/tmp/c",
        "/tmp/a/b",
    ]
    assert pinned_paths(["/w"], ["/elsewhere/x", "/w"]) == []


def test_codex_home_is_hidden_and_its_ancestors_pinned(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    home = tmp_path / "state" / "home"
    ws.mkdir()
    home.mkdir(parents=True)
    policy = SandboxPolicy(
        mode="workspace-write", writable_roots=(str(tmp_path),), exclude_tmpdir_env_var=True
    )
    b = compute_boundary(policy, ws, codex_home=home)
    real_home = os.path.realpath(home)
    assert b.hidden_paths == (real_home,)
    assert real_home in b.read_only_paths
    assert os.path.realpath(tmp_path / "state") in b.pinned_paths
    ro = compute_boundary(SandboxPolicy(mode="read-only"), ws, codex_home=home)
    assert ro.hidden_paths == (real_home,) and ro.pinned_paths == ()


def test_a_missing_codex_home_in_a_writable_root_fails_closed(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    with pytest.raises(BoundaryError, match="does not exist"):
        compute_boundary(WW, ws, codex_home=tmp_path / "not-yet")


def test_a_working_directory_inside_codex_home_fails_closed(tmp_path: Path) -> None:
    inside = tmp_path / "home" / "sub"
    inside.mkdir(parents=True)
    with pytest.raises(BoundaryError, match="inside CODEX_HOME"):
        compute_boundary(SandboxPolicy(mode="read-only"), inside, codex_home=tmp_path / "home")


def test_bwrap_gets_an_ipc_namespace_pins_and_an_empty_codex_home() -> None:
    argv = build_bwrap_argv(
        ["true"], cwd="/w", writable_roots=["/tmp", "/tmp/a/w"], network_access=False,
        read_only_paths=["/tmp/a/home"], pinned_paths=["/tmp/a"], hidden_paths=["/tmp/a/home"],
    )  # fmt: skip
    assert "--unshare-ipc" in argv
    binds = [argv[i + 1] for i, a in enumerate(argv) if a == "--bind"]
    assert binds == ["/tmp", "/tmp/a", "/tmp/a/w"]
    assert "/tmp/a/home" not in [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    i = argv.index("--tmpfs")
    assert argv[i + 1] == "/tmp/a/home" and argv[i + 2 : i + 4] == ["--remount-ro", "/tmp/a/home"]


def test_seatbelt_denies_hidden_paths_last() -> None:
    profile, params = build_profile(["/w"], False, (), ["/h"])
    assert profile.rstrip().endswith('(deny file-read* file-write* (subpath (param "HIDDEN_0")))')
    assert ("HIDDEN_0", "/h") in params


def test_landlock_read_rules_leave_the_hidden_tree_out(tmp_path: Path) -> None:
    (tmp_path / "home" / "x").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "home")
    rules = _read_rules([str(tmp_path)], False, [str(tmp_path / "home")])
    assert str(tmp_path / "other") in rules
    assert not any(r.startswith(str(tmp_path / "home")) or r == str(tmp_path) for r in rules)
    assert str(tmp_path / "link") not in rules


def test_the_fallback_refuses_a_hidden_path_it_cannot_hide() -> None:
    text = Policy(["/w"], False, [], None, "none", [], ["/w/home"]).to_json()
    with pytest.raises(ValueError, match="hidden path"):
        Policy.from_json(text)
    assert Policy.from_json(Policy(["/w"], False, [], None, "none", [], ["/h"]).to_json()).hidden_paths == [
        "/h"
    ]


def test_a_pseudo_file_swapped_in_after_the_name_check_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symlink re-pointed at /proc/self/environ between the check of the resolved name and
    the open (simulated: the name check saw the harmless target) is refused by what was
    opened; the server's environment is never returned."""
    from codex_mcp import bounded_read

    link = tmp_path / "picture.png"
    link.symlink_to("/proc/self/environ")
    monkeypatch.setattr(bounded_read, "is_pseudo_path", lambda _path: False)
    with pytest.raises(bounded_read.UnreadableFileError, match="pseudo-file"):
        bounded_read.read_regular_file(link, limit=1 << 20)
    with pytest.raises(bounded_read.UnreadableFileError, match="pseudo-file"):
        fd, _st = bounded_read.open_regular_file(link)
        os.close(fd)


def test_a_root_swapped_since_the_session_started_is_refused(tmp_path: Path) -> None:
    """The identity record alone (as against a sandbox of another server process, which
    pins nothing of this one's): a workspace replaced by a symlink is refused, a TMPDIR that
    appeared since (as a symlink to the home) is not a root."""
    ws, outside, tmpdir = tmp_path / "ws", tmp_path / "outside", tmp_path / "tmpdir"
    ws.mkdir()
    outside.mkdir()
    policy = SandboxPolicy(mode="workspace-write", exclude_slash_tmp=True)
    env = {"TMPDIR": str(tmpdir)}
    record = root_identities(policy, ws, env)
    tmpdir.symlink_to(outside)
    b = compute_boundary(policy, ws, env=env, identities=record)
    assert os.path.realpath(outside) not in b.writable_roots
    ws.rename(tmp_path / "ws.old")
    ws.symlink_to(outside)
    with pytest.raises(BoundaryError, match="not the directory it was"):
        compute_boundary(policy, ws, env=env, identities=record)


def test_other_sessions_workspaces_are_carved_out_and_pinned(tmp_path: Path) -> None:
    from codex_mcp.sandbox import boundary as boundary_module

    mine, theirs = tmp_path / "mine", tmp_path / "nested" / "theirs"
    (theirs / ".git").mkdir(parents=True)
    mine.mkdir()
    boundary_module.remember_workspace(theirs)
    policy = SandboxPolicy(
        mode="workspace-write", writable_roots=(str(tmp_path),), exclude_tmpdir_env_var=True
    )
    b = compute_boundary(policy, mine)
    assert os.path.realpath(theirs / ".git") in b.read_only_paths
    assert os.path.realpath(theirs) in b.pinned_paths
    assert os.path.realpath(tmp_path / "nested") in b.pinned_paths
