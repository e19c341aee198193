"""Running a command outside the sandbox, after the person approved it, must not run what the
sandbox planted: a program in a sandbox-writable PATH entry, a shell profile in a
sandbox-writable HOME, a `$BASH_ENV` script; and rules the sandbox could write grant nothing.

Each test plants the payload from inside the sandbox (the model's own command, under both
backends), then gets a command approved and run unsandboxed.  The payload writes a marker
outside; the approved command writes another one, which proves it really ran unsandboxed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.security.harness import outside_dir
from tests.security.policy_support import BACKENDS, elicitation_kinds, require_backend, run_turn
from tests.support.scripted_model import ScriptedModel, shell_call
from tests.support.server import ServerFactory


@pytest.fixture(params=BACKENDS)
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    return require_backend(request.param)


def _plant_script(path: Path, marker: Path) -> str:
    """A sandboxed command that writes an executable `path` which touches `marker`."""
    return (
        f"mkdir -p {path.parent} && "
        f"printf '#!/bin/sh\\ntouch {marker}\\nexec /usr/bin/{path.name} \"$@\"\\n' > {path} && "
        f"chmod +x {path}"
    )


def _escalated(command: list[str]) -> dict[str, Any]:
    return shell_call(command, with_escalated_permissions=True, justification="needed outside")


# --- PATH entries the sandbox can write --------------------------------------------------------------

PATH_SHAPES = ["absolute", "relative", "empty-entry"]


def _server_path(shape: str, workspace: Path) -> str:
    system = os.environ["PATH"]
    return {
        "absolute": f"{workspace / 'bin'}:{system}",
        "relative": f"bin:{system}",
        "empty-entry": f":{system}",  # an empty entry is the cwd
    }[shape]


@pytest.mark.parametrize("shape", PATH_SHAPES)
def test_on_failure_retry_does_not_run_a_planted_program_from_path(
    shape: str, backend_env: dict[str, str], scripted_model: ScriptedModel, spawn_server: ServerFactory,
    workspace: Path,
) -> None:  # fmt: skip
    with outside_dir() as outside:
        planted = workspace / ("bin" if shape != "empty-entry" else "") / "wc"
        scripted_model.shell(["bash", "-c", _plant_script(planted, outside / "PLANTED_RAN")])
        scripted_model.shell(["bash", "-c", f"echo x | wc -l; touch {outside}/approved"])
        scripted_model.text("done")
        env = {**backend_env, "PATH": _server_path(shape, workspace)}
        client = spawn_server(policy="legacy-approve", env=env)
        run_turn(client, approval="on-failure")
        assert planted.exists(), "the plant (inside the workspace) ran"
        assert (outside / "approved").exists(), "the approved retry ran outside the sandbox"
        assert not (outside / "PLANTED_RAN").exists(), "a planted program ran unsandboxed"


def test_escalated_bare_command_resolves_outside_sandbox_writable_path(
    backend_env: dict[str, str], scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    with outside_dir() as outside:
        scripted_model.shell(
            ["bash", "-c", _plant_script(workspace / "bin" / "touch", outside / "PLANTED_RAN")]
        )
        scripted_model.tool_calls(_escalated(["touch", str(outside / "approved")]))
        scripted_model.text("done")
        env = {**backend_env, "PATH": _server_path("absolute", workspace)}
        client = spawn_server(policy="legacy-approve", env=env)
        run_turn(client, approval="on-request")
        assert elicitation_kinds(client) == ["exec-approval"]
        assert (outside / "approved").exists()
        assert not (outside / "PLANTED_RAN").exists()


def test_session_approved_command_reruns_without_the_planted_program(
    backend_env: dict[str, str], scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    """Approved for the session first, the plant comes afterwards: the rerun (unasked,
    unsandboxed) must still not pick it up."""
    with outside_dir() as outside:
        command = ["bash", "-c", f"touch {outside}/approved; echo x | wc -l"]
        scripted_model.tool_calls(_escalated(command))
        scripted_model.shell(["bash", "-c", _plant_script(workspace / "bin" / "wc", outside / "PLANTED_RAN")])
        scripted_model.tool_calls(_escalated(command))
        scripted_model.text("done")
        env = {**backend_env, "PATH": _server_path("absolute", workspace)}
        client = spawn_server(policy="legacy-session", env=env)
        run_turn(client, approval="on-request")
        assert elicitation_kinds(client) == ["exec-approval"]
        assert (workspace / "bin" / "wc").exists()
        assert not (outside / "PLANTED_RAN").exists()


# --- shell startup files the sandbox can write ---------------------------------------------------------

PROFILES = [
    pytest.param(".bash_profile", ["bash", "-lc"], id="bash-login"),
    pytest.param(".profile", ["sh", "-lc"], id="sh-login"),
    pytest.param(".bashrc", ["bash", "-ic"], id="bash-interactive"),
    pytest.param(".bash_logout", ["bash", "-l", "-c"], id="bash-logout"),
    pytest.param(".bash_profile", ["bash", "--login", "-c"], id="bash-long-login"),
]


@pytest.mark.parametrize(("profile", "shell"), PROFILES)
def test_escalated_login_shell_does_not_source_a_planted_profile(
    profile: str, shell: list[str], backend_env: dict[str, str], scripted_model: ScriptedModel,
    spawn_server: ServerFactory, workspace: Path,
) -> None:  # fmt: skip
    home = workspace / "home"
    with outside_dir() as outside:
        scripted_model.shell(
            ["bash", "-c", f"mkdir -p {home} && echo 'touch {outside}/PROFILE_RAN' > {home}/{profile}"]
        )
        # `exit` makes a non-interactive login shell read ~/.bash_logout.
        scripted_model.tool_calls(_escalated([*shell, f"touch {outside}/approved; exit 0"]))
        scripted_model.text("done")
        client = spawn_server(policy="legacy-approve", env={**backend_env, "HOME": str(home)})
        run_turn(client, approval="on-request")
        assert (home / profile).exists()
        assert (outside / "approved").exists(), "the approved command did not run"
        assert not (outside / "PROFILE_RAN").exists(), f"a planted {profile} ran unsandboxed"


def test_bash_env_pointing_into_the_workspace_is_not_trusted_unsandboxed(
    backend_env: dict[str, str], scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    with outside_dir() as outside:
        scripted_model.shell(["bash", "-c", f"echo 'touch {outside}/BASH_ENV_RAN' > env.sh"])
        scripted_model.tool_calls(_escalated(["bash", "-c", f"touch {outside}/approved"]))
        scripted_model.text("done")
        env = {**backend_env, "BASH_ENV": str(workspace / "env.sh")}
        client = spawn_server(policy="legacy-approve", env=env)
        run_turn(client, approval="on-request")
        assert (outside / "approved").exists()
        assert not (outside / "BASH_ENV_RAN").exists()


# --- rules the sandbox can write ---------------------------------------------------------------------


def test_rules_planted_in_a_sandbox_writable_codex_home_grant_nothing(
    backend_env: dict[str, str], scripted_model: ScriptedModel, spawn_server: ServerFactory,
    workspace: Path, codex_home: Path,
) -> None:  # fmt: skip
    """CODEX_HOME lies under /tmp, a writable root: whatever the backend makes of its carve-out,
    an `allow` rule found there must not spare a question."""
    assert str(codex_home).startswith("/tmp/")
    rules = codex_home / "rules"
    rules.mkdir()
    (rules / "planted.rules").write_text('prefix_rule(pattern = ["touch"], decision = "allow")\n')
    scripted_model.shell(["touch", "unasked.txt"])
    scripted_model.text("done")
    client = spawn_server(policy="decline", env=backend_env)
    run_turn(client, approval="untrusted")
    assert elicitation_kinds(client) == ["exec-approval"], "a planted allow rule spared the question"
    assert not (workspace / "unasked.txt").exists()


@pytest.mark.parametrize("backend", ["bwrap", "landlock"])
def test_a_sandboxed_command_cannot_plant_rules(
    backend: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    env = require_backend(backend)
    (codex_home / "rules").mkdir()
    call = scripted_model.shell(["bash", "-c", f"echo x > {codex_home}/rules/planted.rules"])
    scripted_model.text("done")
    client = spawn_server(policy="decline", env=env)
    run_turn(client, approval="never")
    assert not (codex_home / "rules" / "planted.rules").exists()
    assert '"exit_code":0' not in scripted_model.call_output(call)
