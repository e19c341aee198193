"""Red-team variants of one session's sandbox attacking another session's boundary.

Both sessions run workspace-write (the person's config), so each may write /tmp, where the
other's workspace lies (as in the project's tests).  Session B's command moves session A's
workspace away and leaves a symlink to a directory outside in its place (or creates A's
TMPDIR as such a symlink, or swaps a writable root the person configured).  Session A then
continues (`codex-reply`) and writes into "its workspace".  Two defences, either may stop
it: every session's sandbox pins the workspaces of the server's other sessions (and a root
the person configured is a root of B too), so the swap fails in B; and a root that is
another directory than when A started makes A refuse to use it (also against a sandbox of
another server process).  Judged from outside: nothing lands in the outside directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.ceiling_support import person_config
from tests.security.harness import assert_alive, outside_dir, run_call
from tests.security.policy_support import BACKENDS, add_file, require_backend
from tests.support.raw_client import result_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("what", ["workspace-shell", "workspace-patch", "tmpdir", "configured-root"])
def test_another_session_cannot_swap_this_sessions_roots(
    what: str,
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    codex_home: Path,
    workspace: Path,
    tmp_path: Path,
) -> None:
    shared, tmpdir = tmp_path / "shared", tmp_path / "tmpdir-not-yet"
    shared.mkdir()
    extra = f'[sandbox_workspace_write]\nwritable_roots = ["{shared}"]\n' if what == "configured-root" else ""
    person_config(codex_home, scripted_model, sandbox="workspace-write", approval="never", extra=extra)
    ws_b = tmp_path / "session-b"
    ws_b.mkdir()
    env = {**require_backend(backend), "TMPDIR": str(tmpdir)}
    with outside_dir() as out:
        client = spawn_server(env=env)
        scripted_model.text("A started")
        thread = run_call(client, sandbox=None)["structuredContent"]["threadId"]
        swap = {
            "tmpdir": f"ln -s {out} {tmpdir}",
            "configured-root": f"mv {shared} {shared}.old && ln -s {out} {shared}",
        }.get(what, f"mv {workspace} {workspace}.old && ln -s {out} {workspace}")
        scripted_model.shell(swap)
        scripted_model.text("B done")
        run_call(client, sandbox=None, cwd=str(ws_b))
        target = {"tmpdir": f"{tmpdir}/PWNED", "configured-root": f"{shared}/PWNED"}.get(what, "PWNED")
        if what == "workspace-patch":
            call = scripted_model.apply_patch(add_file("PWNED"))
        else:
            call = scripted_model.shell(f"touch {target}")
        scripted_model.text("A again")
        rid = client.call_tool("codex-reply", {"threadId": thread, "prompt": "again"})
        result_of(client.wait_response(rid, 60))
        assert list(out.iterdir()) == [], "session A wrote outside through the swapped root"
        said = scripted_model.call_output(call)
        swapped = {"tmpdir": tmpdir, "configured-root": shared}.get(what, workspace)
        if swapped.is_symlink():  # B's swap got through: A must refuse to use the root
            assert "not the directory it was" in said or "Read-only" in said or "Permission denied" in said, (
                said
            )
        else:  # B could not swap (the root is pinned in every session's sandbox)
            assert "not the directory it was" not in said, said
        assert_alive(client)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", ["write-hook", "rename-and-rebuild"])
def test_another_session_cannot_plant_this_sessions_git_hooks(
    how: str,
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    codex_home: Path,
    workspace: Path,
    tmp_path: Path,
) -> None:
    """Session A works in a repository under /tmp; session B (another workspace) writes A's
    `.git/config` and hooks, directly or by moving A's workspace away and rebuilding it.
    Judged by A's repository, byte for byte."""
    import subprocess

    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    config = workspace / ".git" / "config"
    before = config.read_bytes()
    person_config(codex_home, scripted_model, sandbox="workspace-write", approval="never")
    ws_b = tmp_path / "session-b"
    ws_b.mkdir()
    client = spawn_server(env=require_backend(backend))
    scripted_model.text("A started")
    run_call(client, sandbox=None)
    plant = (
        f"printf '[core]\\n\\tfsmonitor = touch /tmp/pwned\\n' >> {workspace}/.git/config; "
        f"echo 'touch /tmp/pwned' > {workspace}/.git/hooks/pre-commit"
    )
    if how == "rename-and-rebuild":
        plant = (
            f"mv {workspace} {workspace}.old; cp -r {workspace}.old {workspace} 2>/dev/null; "
            f"mkdir -p {workspace}/.git/hooks; " + plant
        )
    scripted_model.shell(plant)
    scripted_model.text("B done")
    run_call(client, sandbox=None, cwd=str(ws_b))
    assert config.read_bytes() == before
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()
    assert_alive(client)
