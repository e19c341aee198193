"""Red-team variants against the call ceiling and the server's own code, judged from outside.

The person's config.toml sets no ceiling (the default lets a call choose workspace-write).
A hostile caller (or the model, through files it leaves behind) aims at the code the server
itself runs, outside any sandbox:

* a `cwd` (or a pushed sandbox state's writable root) that is, contains or lies inside the
  server's installation: the model then rewrites the server's modules, which run at the
  next start (judged by a marker file the rewritten module creates when a server starts);
* `python -m codex_mcp` started in a workspace puts that directory first on the module
  search path: a `typing.py`, `logging.py` or `__future__.py` written there by a sandboxed
  command would run inside the next server started the same way.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import codex_mcp
from tests.security.ceiling_support import assert_refused, person_config
from tests.security.harness import assert_alive, outside_dir, run_call
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def installation() -> Iterator[Path]:
    """A copy of the server's package outside every default writable root (not under /tmp),
    which the spawned servers import (PYTHONPATH) instead of the checkout."""
    root = Path(tempfile.mkdtemp(prefix="codex-mcp-install-", dir="/var/tmp"))
    try:
        shutil.copytree(Path(codex_mcp.__file__).parent, root / "codex_mcp")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _poison(module: Path, marker: Path) -> str:
    return f'echo \'open("{marker}", "w").close()\' >> {module}'


@pytest.mark.parametrize("where", ["root", "package", "inside-package"])
def test_a_call_cannot_make_the_servers_own_code_writable(
    where: str,
    installation: Path,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    codex_home: Path,
) -> None:
    person_config(codex_home, scripted_model)
    cwd = {
        "root": installation,
        "package": installation / "codex_mcp",
        "inside-package": installation / "codex_mcp" / "agent",
    }[where]
    with outside_dir() as out:
        marker = out / "SERVER_CODE_RAN"
        scripted_model.shell(_poison(installation / "codex_mcp" / "__init__.py", marker))
        scripted_model.text("done")
        env = {"PYTHONPATH": str(installation)}
        client = spawn_server(env=env)
        result = run_call(client, sandbox="workspace-write", cwd=str(cwd))
        assert_refused(result, "where the code this server runs comes from")
        restarted = spawn_server(env=env)
        assert_alive(restarted)
        assert not marker.exists(), "the server ran code a sandboxed command wrote"


def test_a_pushed_writable_root_cannot_be_the_servers_code(
    installation: Path, scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    person_config(codex_home, scripted_model)
    with outside_dir() as out:
        marker = out / "SERVER_CODE_RAN"
        scripted_model.shell(_poison(installation / "codex_mcp" / "__init__.py", marker))
        scripted_model.text("done")
        env = {"PYTHONPATH": str(installation)}
        client = spawn_server(env=env)
        update = {"sandboxPolicy": {"type": "workspace-write", "writable_roots": [str(installation)]}}
        assert client.call("codex/sandbox-state/update", update)["result"] == {}
        result = run_call(client, sandbox=None)
        assert_refused(result, "where the code this server runs comes from")
        assert_alive(spawn_server(env=env))
        assert not marker.exists()


@pytest.mark.parametrize("module", ["typing", "logging", "__future__"])
def test_a_module_planted_in_the_workspace_does_not_run_in_the_server(
    module: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    """The server is started as `python -m codex_mcp` in the workspace (as the tests do)."""
    person_config(codex_home, scripted_model, sandbox="workspace-write", approval="never")
    with outside_dir() as out:
        marker = out / "PLANTED_MODULE_RAN"
        cid = scripted_model.shell(f'echo \'open("{marker}", "w").close()\' > {module}.py')
        scripted_model.text("done")
        client = spawn_server()
        run_call(client, sandbox=None)
        assert '"exit_code":0' in scripted_model.call_output(cid)
        assert (workspace / f"{module}.py").exists()
        assert_alive(spawn_server())
        assert not marker.exists(), f"the server imported the workspace's {module}.py"


@pytest.fixture
def tools_dir() -> Iterator[Path]:
    """A directory outside every default writable root for the person's own programs."""
    path = Path(tempfile.mkdtemp(prefix="codex-mcp-tools-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("program", ["path-bwrap", "notify-script", "mcp-server-script"])
def test_programs_the_server_runs_unsandboxed_stay_out_of_reach(
    program: str,
    tools_dir: Path,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    codex_home: Path,
) -> None:
    """A call whose `cwd` is the directory of a program the server runs outside the sandbox:
    bwrap found on the server's PATH (the person's own bin directory comes first), the
    person's `notify` script, the script of a configured MCP server.  Refused; the
    program is not replaced."""
    import os
    import sys

    script = (
        tools_dir
        / {"path-bwrap": "bwrap", "notify-script": "notify.sh", "mcp-server-script": "srv.py"}[program]
    )
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    extra = {
        "path-bwrap": "",
        "notify-script": f'notify = ["{script}"]',
        "mcp-server-script": f'[mcp_servers.tool]\ncommand = "{sys.executable}"\nargs = ["{script}"]',
    }[program]
    person_config(codex_home, scripted_model, extra=extra)
    with outside_dir() as out:
        marker = out / "PLANTED_PROGRAM_RAN"
        scripted_model.shell(f"printf '#!/bin/sh\\ntouch {marker}\\n' > {script.name}")
        scripted_model.text("done")
        env = {"PATH": f"{tools_dir}:{os.environ['PATH']}", "CODEX_MCP_SANDBOX_BACKEND": "bwrap"}
        client = spawn_server(env=env)
        result = run_call(client, sandbox="workspace-write", cwd=str(tools_dir))
        assert_refused(result, "where the code this server runs comes from")
        assert script.read_text() == "#!/bin/sh\nexit 0\n"
        assert not marker.exists()
        assert_alive(client)


@pytest.mark.parametrize("entry", ["relative", "under-tmp"])
def test_a_planted_bwrap_is_never_the_sandbox(
    entry: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    """The server's PATH names a directory the sandbox may write (a relative entry, which
    means the workspace the server was started in, or one under /tmp) before the system's.
    The model plants `bwrap` there; after a restart, the sandbox must still be the real
    bwrap: the planted one never runs, and commands stay contained."""
    import os

    person_config(codex_home, scripted_model, sandbox="workspace-write", approval="never")
    plant_dir = workspace / "bin" if entry == "relative" else workspace.parent / "toolbin"
    plant_dir.mkdir()
    first = "bin" if entry == "relative" else str(plant_dir)
    with outside_dir() as out:
        marker = out / "PLANTED_BWRAP_RAN"
        cid = scripted_model.shell(
            f"printf '#!/bin/sh\\ntouch {marker}\\nexec /usr/bin/bwrap \"$@\"\\n' > {plant_dir}/bwrap && "
            f"chmod +x {plant_dir}/bwrap"
        )
        scripted_model.text("done")
        env = {"PATH": f"{first}:{os.environ['PATH']}", "CODEX_MCP_SANDBOX_BACKEND": "bwrap"}
        run_call(spawn_server(env=env), sandbox=None)
        assert '"exit_code":0' in scripted_model.call_output(cid)
        scripted_model.shell(f"touch {out}/escaped")
        scripted_model.text("done")
        client = spawn_server(env=env)
        run_call(client, sandbox=None)
        assert not marker.exists(), "the server ran a bwrap the sandbox planted"
        assert not (out / "escaped").exists()
        assert_alive(client)


@pytest.fixture
def bind_alias() -> Iterator[tuple[Path, Path]]:
    """(a directory standing for the home, a bind mount of it elsewhere); root only."""
    import os
    import subprocess

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("bind mounts need root")
    base = Path(tempfile.mkdtemp(prefix="codex-mcp-alias-", dir="/var/tmp"))
    home, alias = base / "home", base / "alias"
    home.mkdir()
    alias.mkdir()
    (home / ".ssh").mkdir()
    if subprocess.run(["mount", "--bind", str(home), str(alias)], capture_output=True).returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip("cannot bind-mount here")
    try:
        yield home, alias
    finally:
        subprocess.run(["umount", "-l", str(alias)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("where", ["alias-of-home", "alias-of-hidden-dir"])
def test_a_bind_mount_alias_of_the_home_is_the_home(
    where: str,
    bind_alias: tuple[Path, Path],
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    codex_home: Path,
) -> None:
    """The host bind-mounts the person's home (HOME) at another path; a call picks that path,
    or the `.ssh` under it, as its workspace: the names hide the home, the inodes do not."""
    home, alias = bind_alias
    cwd = alias if where == "alias-of-home" else alias / ".ssh"
    person_config(codex_home, scripted_model)
    scripted_model.shell("echo planted > .bashrc; echo key > authorized_keys")
    scripted_model.text("done")
    client = spawn_server(env={"HOME": str(home)})
    result = run_call(client, sandbox="workspace-write", cwd=str(cwd))
    assert_refused(result, "home directory" if where == "alias-of-home" else ".ssh")
    assert not (home / ".bashrc").exists() and not (home / ".ssh" / "authorized_keys").exists()
    assert_alive(client)
