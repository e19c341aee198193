"""Red-team variants of patches the server writes itself: spellings of protected paths the
patch tests do not use (dot segments, doubled slashes, a `..` out of a sibling, a symlinked
parent made by the model's own sandboxed command, a move into a protected directory), and a
patch into CODEX_HOME, which is hidden from commands.  Every question is declined; judged by
the files, byte for byte."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.security.policy_support import add_file, run_turn, update_file
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(90)

SPELLINGS = {
    "dot-segment": "./.git/./hooks/pre-commit",
    "double-slash": ".//.git//hooks//pre-commit",
    "dotdot-sibling": "src/../.git/hooks/pre-commit",
    "trailing-dot-dir": ".git/hooks/./pre-commit",
    "absolute-dotdot": "{ws}/src/../.git/hooks/pre-commit",
}


@pytest.mark.parametrize("approval", ["never", "on-failure"])
@pytest.mark.parametrize("name", list(SPELLINGS))
def test_spellings_of_a_git_hook(
    name: str, approval: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / "src").mkdir()
    hook = workspace / ".git" / "hooks" / "pre-commit"
    scripted_model.apply_patch(add_file(SPELLINGS[name].format(ws=workspace), "#!/bin/sh", "echo pwned"))
    scripted_model.text("done")
    run_turn(spawn_server(policy="decline"), approval=approval)
    assert not hook.exists()


def test_a_parent_the_model_symlinked_to_git(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    """The model's sandboxed command makes `docs -> .git`, then patches `docs/config`."""
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    config = workspace / ".git" / "config"
    before = config.read_bytes()
    scripted_model.shell("ln -s .git docs")
    scripted_model.apply_patch(update_file("docs/config", "[core]", "[core]\n\tfsmonitor = touch /tmp/x"))
    scripted_model.text("done")
    run_turn(spawn_server(policy="decline"), approval="never")
    assert config.read_bytes() == before


def test_a_move_into_a_protected_directory(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / "hook.sh").write_text("echo ok\n")
    scripted_model.apply_patch(
        update_file("hook.sh", "echo ok", "echo pwned", move_to=".git/hooks/post-checkout")
    )
    scripted_model.text("done")
    run_turn(spawn_server(policy="decline"), approval="on-failure")
    assert not (workspace / ".git" / "hooks" / "post-checkout").exists()
    assert (workspace / "hook.sh").read_text() == "echo ok\n"


@pytest.mark.parametrize("target", ["config.toml", "auth.json", "rules/allow.rules"])
def test_a_patch_into_codex_home(
    target: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    """CODEX_HOME lies under /tmp, a writable root of the tests' sessions."""
    path = codex_home / target
    before = path.read_bytes() if path.exists() else None
    scripted_model.apply_patch(add_file(path, 'notify = ["sh", "-c", "touch /tmp/pwned"]'))
    scripted_model.text("done")
    run_turn(spawn_server(policy="decline"), approval="on-failure")
    after = path.read_bytes() if path.exists() else None
    assert after == before
