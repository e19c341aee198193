"""Patches the server writes itself: only inside the session's boundary, unless the person
approves that patch.  `on-failure` asks for a patch outside like any escalation, and the
protected names (`.git`, `.codex`, `.agents`, CODEX_HOME) stay protected whichever writable
root contains them.  "Outside" is under $HOME; the tests' workspace and CODEX_HOME lie in
/tmp, itself a writable root under workspace-write.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.security.harness import outside_dir
from tests.security.policy_support import add_file, delete_file, elicitation_kinds, run_turn, update_file
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

# --- on-failure does not auto-approve a patch outside --------------------------------------------------


def test_read_only_on_failure_add_and_delete_outside_are_asked_and_declined(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    with outside_dir() as outside:
        victim = outside / "victim"
        victim.write_text("keep me\n")
        add_id = scripted_model.apply_patch(add_file(outside / "B7"))
        del_id = scripted_model.apply_patch(delete_file(victim))
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_turn(client, approval="on-failure", sandbox="read-only")
        assert elicitation_kinds(client) == ["patch-approval", "patch-approval"]
        assert not (outside / "B7").exists()
        assert victim.read_text() == "keep me\n"
        assert "rejected" in scripted_model.call_output(add_id)
        assert "rejected" in scripted_model.call_output(del_id)


def test_read_only_on_failure_patch_inside_the_workspace_is_asked_too(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    """Under read-only nothing is writable, the workspace included."""
    scripted_model.apply_patch(add_file("in.txt"))
    scripted_model.text("done")
    client = spawn_server(policy="decline")
    run_turn(client, approval="on-failure", sandbox="read-only")
    assert elicitation_kinds(client) == ["patch-approval"]
    assert not (workspace / "in.txt").exists()


def test_approved_patch_outside_is_written(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    """The person's explicit approval is what lets the server write outside."""
    with outside_dir() as outside:
        call = scripted_model.apply_patch(add_file(outside / "B8", "ok"))
        scripted_model.text("done")
        client = spawn_server(policy="legacy-approve")
        run_turn(client, approval="on-failure", sandbox="read-only")
        assert (outside / "B8").read_text() == "ok\n"
        assert "Success." in scripted_model.call_output(call)


OUTSIDE_VARIANTS = ["move-out", "dir-symlink", "file-symlink", "dangling-symlink", "dotdot"]


@pytest.mark.parametrize("variant", OUTSIDE_VARIANTS)
@pytest.mark.parametrize("approval", ["on-failure", "never"])
def test_workspace_write_patches_reaching_outside(
    variant: str, approval: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    with outside_dir() as outside:
        victim = outside / "victim.txt"
        victim.write_text("original\n")
        (workspace / "inside.txt").write_text("original\n")
        (workspace / "dirlink").symlink_to(outside)
        (workspace / "filelink").symlink_to(victim)
        (workspace / "dangling").symlink_to(outside / "new-target.txt")
        text = {
            "move-out": update_file("inside.txt", "original", "moved", move_to=outside / "moved.txt"),
            "dir-symlink": add_file("dirlink/planted.txt"),
            "file-symlink": update_file("filelink", "original", "owned"),
            "dangling-symlink": add_file("dangling"),
            "dotdot": add_file(f"sub/../{'../' * len(workspace.parts)}{str(outside)[1:]}/dotdot.txt"),
        }[variant]
        call = scripted_model.apply_patch(text)
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_turn(client, approval=approval)
        assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
        assert victim.read_text() == "original\n"
        assert (workspace / "inside.txt").read_text() == "original\n"
        if approval == "never":
            assert client.server_requests() == []
            assert "writing outside of the project" in scripted_model.call_output(call)
        else:
            assert elicitation_kinds(client) == ["patch-approval"]


# --- protected names whichever root contains them ---------------------------------------------------


def _protected_target(name: str, workspace: Path, codex_home: Path) -> Path:
    """Lay out the workspace for attack `name` and return the file it tries to write."""
    if name == "gitdir-file":
        # A worktree or submodule: `.git` is a file naming the real git dir, elsewhere in /tmp.
        gitdir = workspace.parent / "gitdir-elsewhere"
        (gitdir / "hooks").mkdir(parents=True)
        (workspace / ".git").write_text(f"gitdir: {gitdir}\n")
        return gitdir / "hooks" / "pre-commit"
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / ".codex").mkdir()
    (workspace / "gitlink").symlink_to(workspace / ".git")
    return {
        "hook": workspace / ".git" / "hooks" / "pre-commit",
        "git-config": workspace / ".git" / "config",
        "codex-config": workspace / ".codex" / "config.toml",
        "agents": workspace / ".agents" / "skills" / "x.md",
        "rules": codex_home / "rules" / "planted.rules",
        "codex-home-config": codex_home / "config.toml",
        "via-symlink": workspace / ".git" / "hooks" / "post-checkout",
    }[name]


PROTECTED = ["hook", "git-config", "codex-config", "agents", "rules", "codex-home-config", "gitdir-file",
             "via-symlink"]  # fmt: skip


@pytest.mark.parametrize("name", PROTECTED)
@pytest.mark.parametrize("approval", ["never", "on-failure"])
def test_protected_paths_in_a_workspace_under_tmp_are_never_silently_written(
    name: str,
    approval: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
    codex_home: Path,
) -> None:
    assert str(workspace).startswith("/tmp/"), "the attack needs a workspace inside another writable root"
    target = _protected_target(name, workspace, codex_home)
    before = target.read_bytes() if target.exists() else None
    shown = target if name != "via-symlink" else "gitlink/hooks/post-checkout"
    call = scripted_model.apply_patch(add_file(shown, "#!/bin/sh", "echo pwned"))
    scripted_model.text("done")
    client = spawn_server(policy="decline")
    run_turn(client, approval=approval)
    after = target.read_bytes() if target.exists() else None
    assert after == before, f"{target} was written"
    if approval == "never":
        assert "writing outside of the project" in scripted_model.call_output(call)
    else:
        assert elicitation_kinds(client) == ["patch-approval"]
