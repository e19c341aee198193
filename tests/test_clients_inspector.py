"""Client matrix: the MCP Inspector CLI (`@modelcontextprotocol/inspector` 0.15.0, Node 20).

0.15.0 is the newest Inspector that runs on Node 20 (0.16 and later need Node >= 22).  Its
CLI mode makes one request per run and prints the JSON result.  It declares no elicitation
capability, so calls use `approval-policy: never`; it cannot send custom methods or show
notifications, so it proves tools/list and tools/call only, over stdio and Streamable HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients_support import (
    INSTALL_TIMEOUT,
    SERVER_COMMAND,
    Installed,
    clean_env,
    describe,
    npm_client,
    run_client,
    unavailable,
)
from tests.support.http_server import HttpServerProcess
from tests.support.scripted_model import ScriptedModel
from tests.support.server import server_env

VERSION = "0.15.0"
PACKAGE = f"@modelcontextprotocol/inspector@{VERSION}"
CLI = "node_modules/@modelcontextprotocol/inspector/cli/build/cli.js"
RUN_TIMEOUT = 60.0
pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT + 2 * RUN_TIMEOUT)


def node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    try:
        return int(done.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


@pytest.fixture(scope="module")
def inspector() -> Installed:
    major = node_major()
    if major is None:
        unavailable("the Inspector needs node (>= 18) on PATH")
    if major < 18:
        unavailable(f"the Inspector needs node >= 18, this machine has node {major}")
    installed = npm_client("mcp-inspector", VERSION, [PACKAGE], CLI)
    print(installed.report())
    return installed


def run_inspector(inspector: Installed, target: list[str], method: list[str], cwd: Path) -> dict[str, Any]:
    done, seconds = run_client(
        ["node", inspector.path / CLI, "--cli", *target, *method], RUN_TIMEOUT, env=clean_env(), cwd=cwd
    )
    print(f"inspector {' '.join(method[:2])}: {seconds:.2f} s")
    assert done.returncode == 0, describe(done)
    start = done.stdout.find("{")
    assert start >= 0, describe(done)
    return dict(json.loads(done.stdout[start:]))


def stdio_target(codex_home: Path) -> list[str]:
    # The Inspector starts the server with a minimal environment plus its `-e` variables.
    return ["-e", f"CODEX_HOME={codex_home}", "-e", "MOCK_API_KEY=test-key", str(SERVER_COMMAND)]


def test_inspector_stdio_tools_list(inspector: Installed, codex_home: Path, workspace: Path) -> None:
    listed = run_inspector(inspector, stdio_target(codex_home), ["--method", "tools/list"], workspace)
    names = {tool["name"] for tool in listed["tools"]}
    assert names == {"codex", "codex-reply"}
    codex = next(t for t in listed["tools"] if t["name"] == "codex")
    assert codex["inputSchema"]["required"] == ["prompt"]
    assert codex["outputSchema"]["required"]


def test_inspector_stdio_tools_call(
    inspector: Installed, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.text("Hello, Inspector")
    result = run_inspector(
        inspector,
        stdio_target(codex_home),
        [
            "--method",
            "tools/call",
            "--tool-name",
            "codex",
            "--tool-arg",
            "prompt=say hello",
            "--tool-arg",
            "approval-policy=never",
            "--tool-arg",
            "sandbox=read-only",
            "--tool-arg",
            f"cwd={workspace}",
        ],
        workspace,
    )
    assert not result.get("isError"), result
    assert result["content"] == [{"type": "text", "text": "Hello, Inspector"}]
    assert result["structuredContent"]["content"] == "Hello, Inspector"
    assert result["structuredContent"]["threadId"]


@pytest.fixture
def http_server(codex_home: Path, workspace: Path) -> Iterator[str]:
    server = HttpServerProcess(["--http", "127.0.0.1:0"], server_env(codex_home), workspace)
    try:
        yield server.url()
    finally:
        server.kill()


def test_inspector_http_tools_call(
    inspector: Installed, scripted_model: ScriptedModel, workspace: Path, http_server: str
) -> None:
    scripted_model.text("Hello over HTTP")
    target = [http_server, "--transport", "http"]
    listed = run_inspector(inspector, target, ["--method", "tools/list"], workspace)
    assert {tool["name"] for tool in listed["tools"]} == {"codex", "codex-reply"}
    result = run_inspector(
        inspector,
        target,
        [
            "--method",
            "tools/call",
            "--tool-name",
            "codex",
            "--tool-arg",
            "prompt=say hello",
            "--tool-arg",
            "approval-policy=never",
            "--tool-arg",
            "sandbox=read-only",
        ],
        workspace,
    )
    assert result["content"] == [{"type": "text", "text": "Hello over HTTP"}], result


def test_inspector_declares_no_elicitation(
    inspector: Installed, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    """An approval the Inspector cannot answer is denied (not hung), and the turn finishes."""
    scripted_model.shell("touch never-approved.txt")
    scripted_model.text("could not run it")
    result = run_inspector(
        inspector,
        stdio_target(codex_home),
        [
            "--method",
            "tools/call",
            "--tool-name",
            "codex",
            "--tool-arg",
            "prompt=make a file",
            "--tool-arg",
            "approval-policy=untrusted",
            "--tool-arg",
            "sandbox=danger-full-access",
            "--tool-arg",
            f"cwd={workspace}",
        ],
        workspace,
    )
    assert result["structuredContent"]["content"] == "could not run it", result
    assert not (workspace / "never-approved.txt").exists()
    assert os.path.isdir(workspace)
