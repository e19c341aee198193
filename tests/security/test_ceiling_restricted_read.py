"""A client's restricted read access is enforced or refused, never widened to "read everything".

The client pushes a sandbox whose reads are limited to a few trees; the model tries to read
a secret outside them.  Judged from outside: the secret never reaches the model provider
(a backend either enforces the readable roots or refuses to run the command), and what this
server cannot express is a clear error instead of a wider sandbox.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.security.ceiling_support import person_config
from tests.security.harness import assert_alive, outside_dir
from tests.support.raw_client import RawClient, result_of, text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses the Linux sandbox"),
]

META = "codex/sandbox-state-meta"
SECRET = "s3cret-value-that-must-stay-home"


def entry(path: str | None, access: str, kind: str | None = None, **value: Any) -> dict[str, Any]:
    where = {"type": "special", "value": {"kind": kind, **value}} if kind else {"type": "path", "path": path}
    return {"path": where, "access": access}


def restricted(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "managed",
        "file_system": {"type": "restricted", "entries": list(entries)},
        "network": "restricted",
    }


def call(client: RawClient, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    rid = client.call_tool("codex", {"prompt": "go", "approval-policy": "never"}, meta=meta)
    return result_of(client.wait_response(rid, 60))


def pushes(workspace: Path) -> dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """(a `codex/sandbox-state/update`, a `_meta` state) per way of restricting reads."""
    profile = restricted(entry(None, "read", "minimal"), entry(str(workspace), "write"))
    return {
        "permission profile": (
            None,
            {META: {"permissionProfile": profile, "sandboxCwd": f"file://{workspace}"}},
        ),
        "read-only profile": (
            None,
            {META: {"permissionProfile": restricted(entry(None, "read", "minimal"))}},
        ),
        "policy read_only_access": (
            {
                "sandboxPolicy": {
                    "type": "workspace-write",
                    "read_only_access": {"type": "restricted", "readable_roots": [str(workspace)]},
                },
                "sandboxCwd": str(workspace),
            },
            None,
        ),
        "app-server readOnly access": (
            {
                "sandboxPolicy": {
                    "type": "readOnly",
                    "access": {"type": "restricted", "includePlatformDefaults": True, "readableRoots": []},
                }
            },
            None,
        ),
    }


READERS = {
    "python": "python3 -c 'import sys; sys.stdout.write(open(sys.argv[1]).read())' {path}",
    "sed": "sed -n p {path}",
    "known-safe cat": "cat {path}",
}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("way", list(pushes(Path("/w"))))
def test_restricted_reads_never_leak_a_file_outside(
    way: str,
    reader: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    codex_home: Path,
    workspace: Path,
) -> None:
    person_config(codex_home, scripted_model)
    with outside_dir() as outside:
        secret = outside / "secret.txt"
        secret.write_text(SECRET)
        call_id = scripted_model.shell(READERS[reader].format(path=secret))
        scripted_model.text("done")
        client = spawn_server()
        update, meta = pushes(workspace)[way]
        if update is not None:
            assert client.call("codex/sandbox-state/update", update)["result"] == {}
        result = call(client, meta)
        assert not result.get("isError"), result
        configured = client.wait_for(
            lambda m: m.get("method") == "codex/event" and m["params"]["msg"]["type"] == "session_configured"
        )
        assert configured["params"]["msg"]["sandbox_policy"]["type"] in ("read-only", "workspace-write")
        output = scripted_model.call_output(call_id)
        assert SECRET not in output
        # Refused by a backend that cannot restrict reads, or denied by one that can.
        assert any(
            why in output for why in ("restricted read access", "Permission denied", "No such file")
        ), output
        assert all(SECRET not in json.dumps(r.body) for r in scripted_model.requests)
        assert_alive(client)


def test_full_read_still_reads(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    """Control: with the root readable the same command does read the file."""
    person_config(codex_home, scripted_model)
    with outside_dir() as outside:
        secret = outside / "secret.txt"
        secret.write_text(SECRET)
        call_id = scripted_model.shell(READERS["python"].format(path=secret))
        scripted_model.text("done")
        client = spawn_server()
        call(client, {META: {"permissionProfile": restricted(entry(None, "read", "root"))}})
        assert SECRET in scripted_model.call_output(call_id)


@pytest.mark.parametrize(
    "profile",
    [
        "carve-out inside the workspace",
        "unknown read kind",
        "read entry for an unknown cwd",
    ],
)
def test_what_cannot_be_expressed_is_refused(
    profile: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    codex_home: Path,
    workspace: Path,
) -> None:
    person_config(codex_home, scripted_model)
    state: dict[str, Any] = {
        "carve-out inside the workspace": {
            "permissionProfile": restricted(
                entry(None, "read", "root"),
                entry(str(workspace), "write"),
                entry(str(workspace / "keep-me"), "read"),
            ),
            "sandboxCwd": str(workspace),
        },
        "unknown read kind": {"permissionProfile": restricted(entry(None, "read", "somewhere_new"))},
        "read entry for an unknown cwd": {
            "permissionProfile": restricted(entry(None, "read", "current_working_directory"))
        },
    }[profile]
    client = spawn_server()
    result = call(client, {META: state})
    assert result.get("isError") is True
    assert "Invalid sandbox state" in text_of(result)
    assert scripted_model.requests == []
    bad_update = {"sandboxPolicy": {"type": "read-only", "access": {"type": "partial"}}}
    answer = client.call("codex/sandbox-state/update", bad_update)
    assert answer["error"]["code"] == -32602 and "read access" in answer["error"]["message"]
    assert_alive(client)
