""" "Known safe" means "needs no approval", never "unsandboxed"; and the list holds no writer.

Each attack runs under both sandbox backends.  Every question is declined, so anything that
lands outside (or, under read-only, anywhere) got there without the person's consent.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.security.harness import outside_dir
from tests.security.policy_support import BACKENDS, elicitation_kinds, require_backend, run_turn
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory


@pytest.fixture(params=BACKENDS)
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    return require_backend(request.param)


# --- write primitives in "read-only" tools -----------------------------------------------------------

WRITERS = [
    pytest.param(lambda i, o: ["uniq", i, o], id="uniq-IN-OUT"),
    pytest.param(lambda i, o: ["bash", "-lc", f"uniq {i} {o}"], id="bash-uniq"),
    pytest.param(lambda i, o: ["uniq", "-", o], id="uniq-stdin-OUT"),
    pytest.param(lambda i, o: ["uniq", "-c", i, o], id="uniq-count-OUT"),
    pytest.param(lambda i, o: ["find", i, "-fprint", o], id="find-fprint"),
    pytest.param(lambda i, o: ["base64", f"--output={o}", i], id="base64-output"),
]


@pytest.mark.parametrize("command", WRITERS)
@pytest.mark.parametrize("where", ["workspace", "outside"])
def test_read_only_untrusted_declined_writer_creates_nothing(
    command: object,
    where: str,
    backend_env: dict[str, str],
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
) -> None:
    (workspace / "in.txt").write_text("a\na\nb\n")
    with outside_dir() as outside:
        out = (workspace if where == "workspace" else outside) / "OUT"
        scripted_model.shell(command(str(workspace / "in.txt"), str(out)))  # type: ignore[operator]
        scripted_model.text("done")
        client = spawn_server(policy="decline", env=backend_env)
        run_turn(client, approval="untrusted", sandbox="read-only")
        assert not out.exists(), f"{out} was created with every approval declined"


# --- git running what the repository's config names ----------------------------------------------------

# (setup run by the model inside the sandbox, the "read-only" git command, the approval)
GIT_HOOKS = [
    pytest.param(
        "git init -q sub && git -C sub config core.fsmonitor 'touch {out}; false'",
        ["git", "-C", "sub", "status"],
        id="fsmonitor-C",
    ),
    pytest.param(
        "git init -q sub && git -C sub config core.fsmonitor 'touch {out}; false'",
        ["bash", "-lc", "cd sub && git status"],
        id="fsmonitor-cd",
    ),
    pytest.param(
        "git init -q sub && cd sub && echo a > f && git add f && git -c user.name=a -c user.email=a@b "
        "commit -qm 1 && echo b > f && git config diff.external 'sh -c \"touch {out}\"'",
        ["bash", "-lc", "cd sub && git diff"],
        id="diff-external",
    ),
    pytest.param(
        "git init -q sub && cd sub && echo '*.txt diff=pwn' > .gitattributes && echo a > f.txt && "
        "git add . && git -c user.name=a -c user.email=a@b commit -qm 1 && echo b > f.txt && "
        "git config diff.pwn.textconv 'sh -c \"touch {out}; cat \\$0\"'",
        ["bash", "-lc", "cd sub && git diff"],
        id="textconv",
    ),
    pytest.param(
        "git init -q sub && cd sub && echo a > f && git add f && git -c user.name=a -c user.email=a@b "
        "commit -qm 1 && echo '* filter=pwn' > .gitattributes && "
        "git config filter.pwn.clean 'sh -c \"touch {out}; cat\"' && echo b > f",
        ["bash", "-lc", "cd sub && git status"],
        id="clean-filter",
    ),
]


def _plant(workspace: Path, setup: str) -> None:
    """A hostile workspace: the repository arrives with its config (as from an archive)."""
    subprocess.run(["bash", "-c", setup], cwd=workspace, check=True, capture_output=True)


@pytest.mark.parametrize("approval", ["never", "on-request"])
def test_model_planted_fsmonitor_does_not_run_outside_the_sandbox(
    approval: str,
    backend_env: dict[str, str],
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
) -> None:
    with outside_dir() as outside:
        out = outside / "HOOK_RAN"
        setup = f"git init -q sub && git -C sub config core.fsmonitor 'touch {out}; false'"
        scripted_model.shell(["bash", "-c", setup])
        scripted_model.shell(["git", "-C", "sub", "status"])
        scripted_model.text("done")
        client = spawn_server(policy="decline", env=backend_env)
        run_turn(client, approval=approval)
        assert (workspace / "sub" / ".git" / "config").is_file(), "the plant (inside the workspace) ran"
        assert not out.exists(), "core.fsmonitor ran outside the sandbox"


@pytest.mark.parametrize(("setup", "trigger"), GIT_HOOKS)
@pytest.mark.parametrize("approval", ["never", "untrusted", "on-request"])
def test_git_hooks_of_a_hostile_repository_stay_in_the_sandbox(
    setup: str,
    trigger: list[str],
    approval: str,
    backend_env: dict[str, str],
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
) -> None:
    with outside_dir() as outside:
        out = outside / "HOOK_RAN"
        _plant(workspace, setup.format(out=out))
        assert not out.exists()
        scripted_model.shell(trigger)
        scripted_model.text("done")
        client = spawn_server(policy="decline", env=backend_env)
        run_turn(client, approval=approval)
        assert not out.exists(), "a repository-configured program ran outside the sandbox"


def test_git_in_a_hostile_repository_asks_under_full_access_untrusted(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    """With no sandbox at all, git would run the repository's programs unasked: so it asks."""
    with outside_dir() as outside:
        out = outside / "HOOK_RAN"
        subprocess.run(["git", "init", "-q", str(workspace / "sub")], check=True)
        subprocess.run(
            ["git", "-C", str(workspace / "sub"), "config", "core.fsmonitor", f"touch {out}; false"],
            check=True,
        )
        scripted_model.shell(["bash", "-lc", "cd sub && git status"])
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        run_turn(client, approval="untrusted", sandbox="danger-full-access")
        assert elicitation_kinds(client) == ["exec-approval"]
        assert not out.exists()


# --- a safe command's own shell runs in the sandbox too ---------------------------------------------


@pytest.mark.parametrize("approval", ["untrusted", "on-request", "never"])
def test_safe_login_shell_sources_a_planted_profile_only_inside_the_sandbox(
    approval: str,
    backend_env: dict[str, str],
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
) -> None:
    home = workspace / "home"
    with outside_dir() as outside:
        out = outside / "PROFILE_RAN"
        home.mkdir()
        (home / ".bash_profile").write_text(f"touch {out}\n")  # as a sandboxed command could
        ls_id = scripted_model.shell(["bash", "-lc", "ls"])
        scripted_model.text("done")
        client = spawn_server(policy="decline", env={**backend_env, "HOME": str(home)})
        run_turn(client, approval=approval)
        assert not out.exists(), "the profile ran outside the sandbox"
        assert elicitation_kinds(client) == [], "a known-safe command needs no approval"
        assert '"exit_code":0' in scripted_model.call_output(ls_id)
