"""Red-team variants of "known safe" under danger-full-access + `untrusted`, where the
known-safe list is the only thing between the model and an unasked-for side effect (there is
no sandbox).  Every question is declined: whatever lands outside got there without consent.

* `sed -n 1p` with one more argument that is a script: `--expression=w FILE` (or `-e`, or
  `--file=` naming a script the repository ships) opens and truncates FILE before reading
  a line.
* A bare program name that resolves, through the server's PATH, to a program the hostile
  repository ships: a relative PATH entry (`.`, `node_modules/.bin`) or an absolute one in
  the workspace coming before the system's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.security.harness import outside_dir
from tests.security.policy_support import elicitation_kinds, run_turn
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(90)

SED_WRITERS = [
    pytest.param(lambda v: ["sed", "-n", "1p", f"--expression=w{v}"], id="expression"),
    pytest.param(lambda v: ["sed", "-n", "1p", f"-ew{v}"], id="short-e"),
    pytest.param(lambda v: ["bash", "-lc", f"sed -n 1p --expression=w{v}"], id="bash-expression"),
    pytest.param(lambda v: ["sed", "-n", "1p", "--file=evil.sed"], id="repo-script"),
]


@pytest.mark.parametrize("command", SED_WRITERS)
def test_sed_print_with_a_script_argument_is_asked(
    command: object, scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    with outside_dir() as outside:
        victim = outside / "victim"
        victim.write_text("precious\n")
        (workspace / "evil.sed").write_text(f"w {victim}\n")
        scripted_model.shell(command(victim))  # type: ignore[operator]
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_turn(client, approval="untrusted", sandbox="danger-full-access")
        assert victim.read_text() == "precious\n", "sed truncated a file outside without approval"
        assert elicitation_kinds(client) == ["exec-approval"]


@pytest.mark.parametrize("entry", [".", "bin", "{ws}/bin", ""])
def test_a_repository_program_on_the_path_is_not_known_safe(
    entry: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    """The repository ships `ls` (and `bin/ls`); the person's PATH names the working
    directory first in one of four spellings.  `ls` must be asked, not run."""
    with outside_dir() as outside:
        marker = outside / "PLANTED_RAN"
        for where in (workspace, workspace / "bin"):
            where.mkdir(exist_ok=True)
            program = where / "ls"
            program.write_text(f"#!/bin/sh\ntouch {marker}\n")
            program.chmod(0o755)
        first = entry.format(ws=workspace)
        path = f"{first}:{os.environ['PATH']}" if first else f":{os.environ['PATH']}"
        scripted_model.shell(["ls"])
        scripted_model.text("done")
        client = spawn_server(policy="decline", env={"PATH": path})
        run_turn(client, approval="untrusted", sandbox="danger-full-access")
        assert not marker.exists(), "a program the repository ships ran unasked"
        assert elicitation_kinds(client) == ["exec-approval"]


def test_a_system_program_stays_known_safe(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    """Control: `ls` found in /usr/bin (PATH without relative entries) still needs no question."""
    (workspace / "f").write_text("x")
    scripted_model.shell(["ls"])
    scripted_model.text("done")
    client = spawn_server(policy="decline", env={"PATH": "/usr/bin:/bin"})
    run_turn(client, approval="untrusted", sandbox="danger-full-access")
    assert elicitation_kinds(client) == []
