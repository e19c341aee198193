"""A model-chosen working directory is only a process cwd, never a writable root."""

from __future__ import annotations

import sys

import pytest

from tests.security.harness import assert_alive, outside_dir, run_call
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses the Linux sandbox")


@pytest.mark.parametrize("approval", ["never", "on-request", "on-failure"])
def test_shell_workdir_outside_does_not_make_it_writable(
    approval: str, scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    with outside_dir() as outside:
        target = outside / "W2"
        scripted_model.shell(["bash", "-c", f"touch {target}"], workdir=str(outside))
        scripted_model.shell(f"cd {outside} && touch W3")
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_call(client, approval=approval)
        assert not target.exists() and not (outside / "W3").exists()
        assert_alive(client)
