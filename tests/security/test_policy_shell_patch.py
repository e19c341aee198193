"""Shell-form patches: the directory a patch is started in never widens what may be written.

`apply_patch` through the shell tool resolves its relative paths against the command's
workdir (or `cd DIR &&`), as in Codex; whether the server may write a path is still decided
by the session's boundary.  Outside it the patch is rejected under `never` and asked for
otherwise (every question declined here).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.security.harness import outside_dir
from tests.security.policy_support import add_file, elicitation_kinds, heredoc, run_turn, update_file
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses the Linux sandbox")

APPROVALS = ["never", "on-request", "on-failure"]


def _expect_asked_or_rejected(approval: str, kinds: list[str], model_output: str) -> None:
    if approval == "never":
        assert kinds == []
        assert "writing outside of the project" in model_output
    else:
        assert "patch-approval" in kinds
        assert "rejected" in model_output


@pytest.mark.parametrize("approval", APPROVALS)
def test_apply_patch_with_an_outside_workdir(
    approval: str, scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    with outside_dir() as outside:
        call = scripted_model.shell(["apply_patch", add_file("W1.txt")], workdir=str(outside))
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_turn(client, approval=approval)
        assert not (outside / "W1.txt").exists()
        _expect_asked_or_rejected(approval, elicitation_kinds(client), scripted_model.call_output(call))


@pytest.mark.parametrize("approval", APPROVALS)
def test_cd_outside_and_apply_patch_heredoc(
    approval: str, scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    with outside_dir() as outside:
        call = scripted_model.shell(f"cd {outside} && {heredoc(add_file('W2.txt'))}")
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_turn(client, approval=approval)
        assert not (outside / "W2.txt").exists()
        _expect_asked_or_rejected(approval, elicitation_kinds(client), scripted_model.call_output(call))


# --- variants -------------------------------------------------------------------------------------


@pytest.mark.parametrize("approval", APPROVALS)
def test_relative_workdir_climbing_out_and_applypatch_alias(
    approval: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    with outside_dir() as outside:
        relative = os.path.relpath(outside, workspace)
        call = scripted_model.shell(["applypatch", add_file("W3.txt")], workdir=relative)
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_turn(client, approval=approval)
        assert not (outside / "W3.txt").exists()
        _expect_asked_or_rejected(approval, elicitation_kinds(client), scripted_model.call_output(call))


@pytest.mark.parametrize("approval", APPROVALS)
def test_quoted_cd_heredoc_updating_an_outside_file(
    approval: str, scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    with outside_dir() as outside:
        victim = outside / "victim.txt"
        victim.write_text("original\n")
        script = f"cd '{outside}' && {heredoc(update_file('victim.txt', 'original', 'owned'))}"
        call = scripted_model.shell(["bash", "-c", script])
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_turn(client, approval=approval)
        assert victim.read_text() == "original\n"
        _expect_asked_or_rejected(approval, elicitation_kinds(client), scripted_model.call_output(call))


@pytest.mark.parametrize("approval", APPROVALS)
def test_shell_patch_moving_a_workspace_file_out(
    approval: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    (workspace / "keep.txt").write_text("mine\n")
    with outside_dir() as outside:
        body = update_file(workspace / "keep.txt", "mine", "moved", move_to="W5.txt")
        call = scripted_model.shell(["apply_patch", body], workdir=str(outside))
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_turn(client, approval=approval)
        assert not (outside / "W5.txt").exists()
        assert (workspace / "keep.txt").read_text() == "mine\n"
        _expect_asked_or_rejected(approval, elicitation_kinds(client), scripted_model.call_output(call))


def test_shell_patch_inside_the_workspace_still_applies_without_asking(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    (workspace / "sub").mkdir()
    call = scripted_model.shell(["bash", "-lc", f"cd sub && {heredoc(add_file('in.txt', 'hi'))}"])
    scripted_model.text("done")
    client = spawn_server(policy="decline")
    run_turn(client, approval="on-request")
    assert (workspace / "sub" / "in.txt").read_text() == "hi\n"
    assert client.server_requests() == []
    assert "Success." in scripted_model.call_output(call)
