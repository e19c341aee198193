"""A hostile caller's sandbox: arguments, profiles, pushed state and `cwd` stay under the ceiling.

The person's config.toml says read-only + untrusted and sets no ceiling (so a call may
choose up to workspace-write).  The model of every call tries to write a file outside
(under the home directory): each attack must be refused before the model is asked, and the
file must not exist.  Controls show the same call writing the file once the person opts in.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.security.ceiling_support import assert_refused, person_config
from tests.security.harness import assert_alive, outside_dir
from tests.support.raw_client import RawClient, result_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses the Linux sandbox"),
]

META = "codex/sandbox-state-meta"
YOLO = '[profiles.yolo]\nsandbox_mode = "danger-full-access"\napproval_policy = "never"\n'


def call(client: RawClient, arguments: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    rid = client.call_tool("codex", {"prompt": "go", **arguments}, meta=meta)
    return result_of(client.wait_response(rid, 60))


def profile_meta(profile: dict[str, Any], cwd: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"permissionProfile": profile}
    if cwd is not None:
        state["sandboxCwd"] = cwd
    return {META: state}


FULL_FS = {"type": "managed", "file_system": {"type": "unrestricted"}, "network": "restricted"}
ROOT_READ = {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"}


def workspace_profile(*writes: str) -> dict[str, Any]:
    entries = [ROOT_READ, *({"path": {"type": "path", "path": w}, "access": "write"} for w in writes)]
    return {
        "type": "managed",
        "file_system": {"type": "restricted", "entries": entries},
        "network": "restricted",
    }


# Each attack: (arguments, _meta, a `codex/sandbox-state/update` to push first, expected text).
Attack = Callable[[Path, Path], tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None, str]]

ATTACKS: dict[str, Attack] = {
    "sandbox argument": lambda ws, out: (
        {"sandbox": "danger-full-access", "approval-policy": "never"},
        None,
        None,
        "`sandbox` argument",
    ),
    "sandbox_mode in config": lambda ws, out: (
        {"config": {"sandbox_mode": "danger-full-access"}, "approval-policy": "never"},
        None,
        None,
        "`sandbox_mode` in the call's `config`",
    ),
    "person's profile by argument": lambda ws, out: ({"profile": "yolo"}, None, None, "profile `yolo`"),
    "person's profile by config": lambda ws, out: (
        {"config": {"profile": "yolo"}},
        None,
        None,
        "profile `yolo`",
    ),
    "call-defined profile": lambda ws, out: (
        {"config": {"profile": "mine", "profiles.mine.sandbox_mode": "danger-full-access"}},
        None,
        None,
        "profiles.mine.sandbox_mode",
    ),
    "ceiling from the call": lambda ws, out: (
        {
            "config": {
                "codex_mcp.max_call_sandbox": "danger-full-access",
                "sandbox_mode": "danger-full-access",
            }
        },
        None,
        None,
        "codex_mcp.max_call_sandbox",
    ),
    "pushed update": lambda ws, out: (
        {"approval-policy": "never"},
        None,
        {"sandboxPolicy": {"type": "danger-full-access"}},
        "codex/sandbox-state/update",
    ),
    "pushed update camelCase": lambda ws, out: (
        {"approval-policy": "never"},
        None,
        {"sandboxPolicy": {"type": "dangerFullAccess"}},
        "codex/sandbox-state/update",
    ),
    "meta disabled profile": lambda ws, out: (
        {"approval-policy": "never"},
        profile_meta({"type": "disabled"}),
        None,
        META,
    ),
    "meta unrestricted filesystem": lambda ws, out: (
        {"approval-policy": "never"},
        profile_meta(FULL_FS),
        None,
        "root of the filesystem",
    ),
    "meta writable root outside": lambda ws, out: (
        {"approval-policy": "never"},
        profile_meta(workspace_profile(str(ws), str(out)), str(ws)),
        None,
        "writable root",
    ),
    "meta home as cwd": lambda ws, out: (
        {"approval-policy": "never"},
        profile_meta(workspace_profile(str(Path.home())), f"file://{Path.home()}"),
        None,
        "home directory",
    ),
    "pushed writable root home": lambda ws, out: (
        {"approval-policy": "never"},
        None,
        {"sandboxPolicy": {"type": "workspace-write", "writable_roots": [str(Path.home())]}},
        "home directory",
    ),
    "cwd root": lambda ws, out: (
        {"sandbox": "workspace-write", "approval-policy": "never", "cwd": "/"},
        None,
        None,
        "root of the filesystem",
    ),
    "cwd home": lambda ws, out: (
        {"sandbox": "workspace-write", "approval-policy": "never", "cwd": "~"},
        None,
        None,
        "home directory",
    ),
    "cwd relative climb": lambda ws, out: (
        {"sandbox": "workspace-write", "approval-policy": "never", "cwd": "../" * 40},
        None,
        None,
        "root of the filesystem",
    ),
    "cwd symlink to root": lambda ws, out: (
        {"sandbox": "workspace-write", "approval-policy": "never", "cwd": str(ws / "to-root")},
        None,
        None,
        "root of the filesystem",
    ),
    "cwd hidden dir of home": lambda ws, out: (
        {"sandbox": "workspace-write", "approval-policy": "never", "cwd": str(out)},
        None,
        None,
        "configuration, keys and start-up files",
    ),
    "cwd system dir": lambda ws, out: (
        {"sandbox": "workspace-write", "approval-policy": "never", "cwd": "/etc"},
        None,
        None,
        "/etc",
    ),
    "cwd via config sandbox": lambda ws, out: (
        {"config": {"sandbox_mode": "workspace-write"}, "approval-policy": "never", "cwd": str(Path.home())},
        None,
        None,
        "home directory",
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_sandbox_choices_above_the_ceiling_are_refused(
    attack: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    person_config(codex_home, scripted_model, extra=YOLO)
    (workspace / "to-root").symlink_to("/")
    with outside_dir() as outside:
        target = outside / "escaped"
        scripted_model.shell(f"touch {target}")
        scripted_model.text("done")
        arguments, meta, update, expected = ATTACKS[attack](workspace, outside)
        client = spawn_server(policy="decline")
        if update is not None:
            assert client.call("codex/sandbox-state/update", update)["result"] == {}
        result = call(client, arguments, meta)
        text = assert_refused(result, expected)
        assert "max_call_sandbox" in text or "call_config_keys" in text
        assert not target.exists()
        assert scripted_model.requests == []
        assert_alive(client)


def test_approval_never_alone_does_not_lift_read_only(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    person_config(codex_home, scripted_model)
    with outside_dir() as outside:
        target = outside / "escaped"
        call_id = scripted_model.shell(f"touch {target}")
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        result = call(client, {"approval-policy": "never"})
        assert not result.get("isError"), result
        assert not target.exists()
        output = scripted_model.call_output(call_id)
        assert "Read-only file system" in output or "Permission denied" in output, output


def test_read_only_session_may_use_any_cwd(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    """Nothing is writable under read-only, so the cwd rule does not apply."""
    person_config(codex_home, scripted_model)
    scripted_model.text("looked around")
    client = spawn_server()
    result = call(client, {"cwd": "/", "approval-policy": "never"})
    assert not result.get("isError"), result


@pytest.mark.parametrize("how", ["config.toml", "server -c", "default sandbox"])
def test_the_person_can_open_full_access(
    how: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    """Controls: once the person opts in, the very same call writes outside."""
    extra_args: tuple[str, ...] = ()
    if how == "config.toml":
        person_config(codex_home, scripted_model, server='max_call_sandbox = "danger-full-access"')
    elif how == "server -c":
        person_config(codex_home, scripted_model)
        extra_args = ("-c", 'codex_mcp.max_call_sandbox="danger-full-access"')
    else:
        person_config(codex_home, scripted_model, sandbox="danger-full-access")
    with outside_dir() as outside:
        target = outside / "escaped"
        scripted_model.shell(f"touch {target}")
        scripted_model.text("done")
        client = spawn_server(*extra_args, policy="decline")
        result = call(client, {"sandbox": "danger-full-access", "approval-policy": "never"})
        assert not result.get("isError"), result
        assert target.exists()


def test_pushed_full_access_allowed_when_opted_in(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    person_config(codex_home, scripted_model, server='max_call_sandbox = "danger-full-access"')
    scripted_model.text("one")
    client = spawn_server()
    result = call(client, {"approval-policy": "never"}, profile_meta({"type": "disabled"}))
    assert not result.get("isError"), result
    configured = client.wait_for(
        lambda m: m.get("method") == "codex/event" and m["params"]["msg"]["type"] == "session_configured"
    )
    assert configured["params"]["msg"]["sandbox_policy"]["type"] == "danger-full-access"


def test_read_only_ceiling_refuses_workspace_write(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    person_config(codex_home, scripted_model, server='max_call_sandbox = "read-only"')
    client = spawn_server()
    assert_refused(call(client, {"sandbox": "workspace-write"}), 'max_call_sandbox = "workspace-write"')
    assert_refused(call(client, {}, profile_meta(workspace_profile(str(workspace)), str(workspace))), META)
    assert scripted_model.requests == []


def test_workspace_write_in_a_project_still_works(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    person_config(codex_home, scripted_model)
    project = workspace / "project"
    project.mkdir()
    scripted_model.shell("touch made-here")
    scripted_model.text("done")
    client = spawn_server()
    result = call(client, {"sandbox": "workspace-write", "approval-policy": "never", "cwd": str(project)})
    assert not result.get("isError"), result
    assert (project / "made-here").exists()
