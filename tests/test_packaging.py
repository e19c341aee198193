"""Installing the server without a clone: the wheel and sdist, through `uvx` and `pipx`.

Once per session the source tree (what git tracks, plus new files it does not ignore) is
copied out and built with `python -m build`: the sdist first, then the wheel from the
sdist, so a file the sdist forgets breaks the wheel.  The build tools (build, setuptools,
pipx, uv) live in a cached venv from PyPI, beside the client-matrix clients.

Each install then starts from nothing of ours: `uvx --from <wheel> codex-mcp-server` with a
fresh uv cache, and `pipx install <wheel or sdist>` into a fresh PIPX_HOME, both run outside
the checkout, with our venv off PATH.  To stay offline and fast once warm, the wheel's
runtime dependencies (and the pip and setuptools that pipx and an sdist build ask for) are
downloaded once into a cached wheelhouse, and every install is pointed at it with the
index turned off.  That also proves the wheel declares every dependency it needs.  The
installed server then answers initialize, tools/list and one `codex` call that runs a
sandboxed command against the scripted model.

A registry that cannot be reached skips these tests with the reason (fails them in CI), as
for the client matrix.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

from codex_mcp._version import __version__
from tests.clients_support import (
    INSTALL_TIMEOUT,
    ROOT,
    Installed,
    InstallError,
    checked,
    describe,
    ensure_installed,
    pip_client,
    run_bounded,
    venv_python,
)
from tests.support.raw_client import RawClient, result_of, text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import initialize, server_env

TOOLS = ["build==1.6.1", "setuptools==84.2.1", "pipx==1.18.4", "uv==0.13.8"]
PIP_FOR_PIPX = "pip==26.3"
"""pipx (pip backend) upgrades its shared pip to at least 26.1 before installing anything."""
BUILD_TIMEOUT = 180.0
RUN_TIMEOUT = 120.0
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(2 * INSTALL_TIMEOUT + BUILD_TIMEOUT + RUN_TIMEOUT),
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths and process groups"),
]


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path


@pytest.fixture(scope="session")
def tools() -> Installed:
    installed = pip_client("packaging-tools", "1", TOOLS)
    print(installed.report())
    return installed


def source_files() -> list[str]:
    """The files a fresh clone (plus new, not ignored files) would have."""
    listed = run_bounded(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], 60, cwd=ROOT
    )
    assert listed.returncode == 0, describe(listed)
    return [name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="session")
def dists(tools: Installed, tmp_path_factory: pytest.TempPathFactory) -> Dists:
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the source tree")
    source = tmp_path_factory.mktemp("source")
    for name in source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    # No isolation: the pinned setuptools of the tools venv builds, so no download per run.
    done = run_bounded(
        [venv_python(tools.path), "-m", "build", "--no-isolation", "--outdir", out, source], BUILD_TIMEOUT
    )
    assert done.returncode == 0, describe(done)
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return Dists(wheels[0], sdists[0])


def runtime_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    return sorted(r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r)


@pytest.fixture(scope="session")
def wheelhouse(tools: Installed, dists: Dists) -> Path:
    """Wheels of every runtime dependency, for installs with the index turned off."""
    wanted = [*runtime_requirements(dists.wheel), PIP_FOR_PIPX, TOOLS[1]]
    key = hashlib.sha256(json.dumps([wanted, sys.version_info[:2], sys.platform]).encode()).hexdigest()[:12]

    def download(target: Path) -> None:
        argv = [venv_python(tools.path), "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
        argv += ["--only-binary", ":all:", "--timeout", "30", "--retries", "2", "--dest", target, *wanted]
        checked(argv, INSTALL_TIMEOUT)

    installed = ensure_installed(
        "wheelhouse",
        key,
        download,
        lambda target: any(target.glob("pydantic_core-*.whl")),
        extra_info={"requirements": wanted},
    )
    print(installed.report())
    return installed.path


def isolated_env(codex_home: Path, **extra: str) -> dict[str, str]:
    """The server's environment, without our venv, our pip/uv configuration or PYTHONPATH."""
    ours = str(Path(sys.executable).parent)
    env = {
        k: v
        for k, v in server_env(codex_home).items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_", "UV_", "PIPX_"))
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != ours)
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def base_python() -> str:
    return str(getattr(sys, "_base_executable", sys.executable))


def exercise(argv: list[str], env: dict[str, str], model: ScriptedModel, cwd: Path, log: Path) -> None:
    """The installed server: initialize, tools/list, one `codex` call running a sandboxed
    command (the sandbox launcher runs from the installed package), a clean exit on EOF."""
    model.shell("echo installed > made-by-installed-server.txt")
    model.text("done by the installed server")
    client = RawClient(argv, env=env, cwd=cwd, log_path=log)
    try:
        info = initialize(client)
        assert info["serverInfo"]["version"] == __version__, info
        tools = client.call("tools/list", timeout=RUN_TIMEOUT)["result"]["tools"]
        assert {t["name"] for t in tools} == {"codex", "codex-reply"}
        rid = client.call_tool(
            "codex",
            {
                "prompt": "write the file",
                "sandbox": "workspace-write",
                "approval-policy": "never",
                "cwd": str(cwd),
            },
        )
        result = result_of(client.wait_response(rid, timeout=RUN_TIMEOUT))
        assert text_of(result) == "done by the installed server", result
        assert result["structuredContent"]["threadId"]
        assert (cwd / "made-by-installed-server.txt").read_text() == "installed\n"
        client.close_stdin()
        assert client.wait_exit(30) == 0
    except BaseException:
        print(f"--- server stderr ---\n{client.stderr_text()[-6000:]}")
        raise
    finally:
        client.kill()


# -- what is shipped --------------------------------------------------------------------


def test_wheel_ships_the_package_and_its_data_but_not_the_generator(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as archive:
        names = set(archive.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
    assert {"codex_mcp/py.typed", "codex_mcp/agent/prompts/frontier.md"} <= names
    tracked = {n for n in source_files() if n.startswith("codex_mcp/") and n.endswith((".py", ".md"))}
    assert tracked - names == set(), "modules or prompts missing from the wheel"
    assert not [n for n in names if n.startswith(("mcp_types_gen/", "tests/", "bench/"))]
    assert {n.split("/")[0] for n in names} == {"codex_mcp", info}
    assert "codex-mcp-server = codex_mcp.cli:main" in entry_points
    assert metadata["Name"] == "codex-mcp" and metadata["Version"] == __version__
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert runtime_requirements(dists.wheel) == sorted(declared)


def test_sdist_carries_what_the_wheel_is_built_from(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {
        "pyproject.toml",
        "README.md",
        "codex_mcp/py.typed",
        "codex_mcp/agent/prompts/frontier.md",
    } <= names
    prompts = {n for n in source_files() if n.startswith("codex_mcp/agent/prompts/")}
    assert prompts and prompts <= names, "prompts missing from the sdist"
    assert not [n for n in names if n.startswith(("mcp_types_gen/", "tests/", "bench/"))]


def test_nothing_in_the_package_imports_the_generator() -> None:
    """The generator is a development tool; the installed server must not need it."""
    offenders = []
    for path in sorted((ROOT / "codex_mcp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno}" for n in names if n.split(".")[0] == "mcp_types_gen"
            ]
    assert offenders == []


# -- installing it --------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A working directory away from the checkout, so nothing of ours is importable by cwd."""
    path = tmp_path / "elsewhere"
    path.mkdir()
    yield path


def uv_env(codex_home: Path, wheelhouse: Path, tmp_path: Path) -> dict[str, str]:
    return isolated_env(
        codex_home,
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),  # fresh: nothing installed before
        UV_NO_CONFIG="1",
        UV_NO_INDEX="1",
        UV_FIND_LINKS=str(wheelhouse),
        UV_OFFLINE="1",
        UV_PYTHON=base_python(),
        UV_PYTHON_DOWNLOADS="never",
    )


def test_uvx_runs_the_wheel(
    tools: Installed,
    dists: Dists,
    wheelhouse: Path,
    scripted_model: ScriptedModel,
    codex_home: Path,
    workspace: Path,
    outside: Path,
    tmp_path: Path,
) -> None:
    uvx = tools.path / "bin" / "uvx"
    env = uv_env(codex_home, wheelhouse, tmp_path)
    probe = "import codex_mcp, importlib.util as u; print(codex_mcp.__file__, u.find_spec('mcp_types_gen'))"
    done = run_bounded([uvx, "--from", dists.wheel, "python", "-c", probe], RUN_TIMEOUT, env=env, cwd=outside)
    assert done.returncode == 0, describe(done)
    location, generator = done.stdout.split()
    assert Path(location).is_relative_to(tmp_path / "uv-cache"), location
    assert generator == "None", "the generator must not be installed"
    exercise(
        [str(uvx), "--from", str(dists.wheel), "codex-mcp-server"],
        env,
        scripted_model,
        workspace,
        tmp_path / "uvx-server.log",
    )


@pytest.mark.parametrize(
    ("kind", "backend"),
    # pipx installs with pip where uv is not installed beside it, and with uv where it is:
    # the wheel goes through the first, the sdist (built by the installer) through the second.
    [("wheel", "pip"), ("sdist", "uv")],
)
def test_pipx_installs_and_runs(
    tools: Installed,
    dists: Dists,
    wheelhouse: Path,
    scripted_model: ScriptedModel,
    codex_home: Path,
    workspace: Path,
    outside: Path,
    tmp_path: Path,
    kind: str,
    backend: str,
) -> None:
    home = tmp_path / "pipx"
    env = {
        **uv_env(codex_home, wheelhouse, tmp_path),
        "HOME": str(home),
        "PIPX_HOME": str(home / "pipx"),
        "PIPX_BIN_DIR": str(home / "bin"),
        "PIPX_MAN_DIR": str(home / "man"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    target = dists.wheel if kind == "wheel" else dists.sdist
    argv = [tools.path / "bin" / "pipx", "install", "--backend", backend, target]
    try:
        checked(argv, INSTALL_TIMEOUT, env=env)
    except (InstallError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"pipx install {target.name} failed: {exc}", pytrace=False)
    server = home / "bin" / "codex-mcp-server"
    assert server.exists(), sorted(p.name for p in (home / "bin").iterdir())
    assert Path(os.path.realpath(server)).is_relative_to(home), os.path.realpath(server)
    exercise([str(server)], env, scripted_model, workspace, tmp_path / "pipx-server.log")
