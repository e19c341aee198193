"""Red-team variants of an approved unsandboxed command picking up a shell profile the
sandbox planted in a sandbox-writable HOME: the login shell hides behind a program that runs
its arguments (`env`, `nice`, `timeout`, `setsid`, `xargs`, `/usr/bin/env`, `env -i`), or is
started inside the approved command's own script.  The person approves every question.

Judged from outside: the profile's marker never appears; a wrapped shell still runs the
approved command (its own marker appears); a shell started inside a script cannot be
rewritten, so that command is refused rather than run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.harness import outside_dir
from tests.security.policy_support import BACKENDS, require_backend, run_turn
from tests.support.scripted_model import ScriptedModel, shell_call
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(90)

WRAPPED = [
    pytest.param(["env", "bash", "-lc"], id="env"),
    pytest.param(["nice", "-n", "5", "bash", "-lc"], id="nice"),
    pytest.param(["timeout", "20", "bash", "-l", "-c"], id="timeout"),
    pytest.param(["env", "-i", "HOME={home}", "PATH=/usr/bin:/bin", "bash", "-lc"], id="env-i"),
    pytest.param(["/usr/bin/env", "bash", "--login", "-c"], id="usr-bin-env"),
    pytest.param(["setsid", "sh", "-lc"], id="setsid-sh"),
    pytest.param(["xargs", "-0", "bash", "-lc"], id="xargs"),
]
NESTED = [
    pytest.param(["bash", "-c", "bash -lc '{cmd}'"], id="bash-in-bash"),
    pytest.param(["sh", "-c", "exec -l bash -c '{cmd}'"], id="exec-l"),
    pytest.param(["env", "-S", "bash -l -c '{cmd}'"], id="env-S"),
    pytest.param(["python3", "-c", "import os; os.system(\"bash -lc '{cmd}'\")"], id="python-system"),
]


def _plant(home: Path, outside: Path) -> list[str]:
    return ["bash", "-c", f"mkdir -p {home} && echo 'touch {outside}/PROFILE_RAN' > {home}/.bash_profile && "
            f"cp {home}/.bash_profile {home}/.profile"]  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("prefix", WRAPPED)
def test_a_wrapped_login_shell_reads_no_planted_profile(
    prefix: list[str],
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
) -> None:
    home = workspace / "home"
    with outside_dir() as outside:
        scripted_model.shell(_plant(home, outside))
        argv = [a.format(home=home) for a in prefix] + [f"touch {outside}/approved; exit 0"]
        scripted_model.tool_calls(shell_call(argv, with_escalated_permissions=True, justification="x"))
        scripted_model.text("done")
        client = spawn_server(policy="legacy-approve", env={**require_backend(backend), "HOME": str(home)})
        run_turn(client, approval="on-request")
        assert (outside / "approved").exists(), "the approved command did not run"
        assert not (outside / "PROFILE_RAN").exists(), "a planted profile ran unsandboxed"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("template", NESTED)
def test_a_login_shell_inside_the_script_is_refused(
    template: list[str],
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
) -> None:
    home = workspace / "home"
    with outside_dir() as outside:
        scripted_model.shell(_plant(home, outside))
        argv = [a.format(cmd=f"touch {outside}/approved") for a in template]
        scripted_model.tool_calls(shell_call(argv, with_escalated_permissions=True, justification="x"))
        scripted_model.text("done")
        client = spawn_server(policy="legacy-approve", env={**require_backend(backend), "HOME": str(home)})
        run_turn(client, approval="on-request")
        assert not (outside / "PROFILE_RAN").exists(), "a planted profile ran unsandboxed"
        assert not (outside / "approved").exists(), (
            "the command ran although its shell could not be rewritten"
        )
