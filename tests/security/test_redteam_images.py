"""Red-team variants of `view_image`: the image leaves the machine for the model provider,
so the server must not read for the model what the model's own sandboxed commands could not:
a picture outside a client's restricted readable roots (by path, or through a symlink in the
workspace), or one inside CODEX_HOME.  Judged by what the provider received."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from tests.security.ceiling_support import person_config
from tests.security.harness import assert_alive, outside_dir, run_call
from tests.security.test_ceiling_restricted_read import META, entry, restricted
from tests.support.raw_client import result_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses the Linux sandbox"),
]

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8 + b"redteam-private-picture-0451" + b"\0" * 32
MARK = base64.b64encode(PNG).decode()[:40]


def _provider_saw_image(model: ScriptedModel) -> bool:
    return MARK in json.dumps([r.body for r in model.requests])


@pytest.mark.parametrize("how", ["path", "symlink-in-workspace"])
def test_an_image_outside_the_readable_roots_is_not_sent(
    how: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    person_config(codex_home, scripted_model, sandbox="workspace-write", approval="never")
    with outside_dir() as outside:
        picture = outside / "private.png"
        picture.write_bytes(PNG)
        if how == "symlink-in-workspace":
            (workspace / "pic.png").symlink_to(picture)
        target = str(picture) if how == "path" else "pic.png"
        cid = scripted_model.function("view_image", {"path": target})
        scripted_model.text("done")
        client = spawn_server()
        profile = restricted(entry(None, "read", "minimal"), entry(str(workspace), "write"))
        meta = {META: {"permissionProfile": profile, "sandboxCwd": f"file://{workspace}"}}
        rid = client.call_tool("codex", {"prompt": "go", "approval-policy": "never"}, meta=meta)
        result = result_of(client.wait_response(rid, 60))
        assert not result.get("isError"), result
        assert "may not read" in scripted_model.call_output(cid)
        assert not _provider_saw_image(scripted_model)
        assert_alive(client)


def test_an_image_in_codex_home_is_not_sent(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    person_config(codex_home, scripted_model, sandbox="workspace-write", approval="never")
    (codex_home / "avatar.png").write_bytes(PNG)
    cid = scripted_model.function("view_image", {"path": str(codex_home / "avatar.png")})
    scripted_model.text("done")
    client = spawn_server()
    run_call(client, sandbox=None)
    assert "may not read" in scripted_model.call_output(cid)
    assert not _provider_saw_image(scripted_model)


def test_an_image_the_sandbox_may_read_is_still_sent(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    """Control: a picture in the workspace reaches the provider."""
    person_config(codex_home, scripted_model, sandbox="workspace-write", approval="never")
    (workspace / "ok.png").write_bytes(PNG)
    scripted_model.function("view_image", {"path": "ok.png"})
    scripted_model.text("done")
    run_call(spawn_server(), sandbox=None)
    assert _provider_saw_image(scripted_model)
