"""Red-team variants of one session's sandbox attacking another session's boundary.

Both sessions run workspace-write (the person's config), so each may write /tmp, where the
other's workspace lies (as in the project's tests).  Session B's command moves session A's
workspace away and leaves a symlink to a directory outside in its place (or creates A's
TMPDIR as such a symlink, or swaps a writable root the person configured).  Session A then
continues (`codex-reply`) and writes into "its workspace".  (A root the person configured is
a root of B as well, hence a mount point in B's sandbox: that swap already fails in B.)
Judged from outside: nothing lands in the outside directory; A's command is refused and says
why.
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
        if what == "configured-root":  # a root of B too, so a mount point there: B's swap fails
            assert (shared / "PWNED").exists(), said
        else:
            assert "not the directory it was" in said or "Read-only" in said or "Permission denied" in said, (
                said
            )
        assert_alive(client)
