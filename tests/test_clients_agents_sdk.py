"""Client matrix: the OpenAI Agents SDK's `MCPServerStdio` (`openai-agents` on PyPI).

The SDK is installed into its own cached venv and driven by a script in that venv:
`connect()`, `list_tools()` and `call_tool("codex", ...)` directly, with no agent run, so
no LLM and no OpenAI API are involved (tracing is disabled as well).  The SDK's session
has no elicitation callback, so calls use `approval-policy: never`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.clients_support import (
    INSTALL_TIMEOUT,
    SERVER_COMMAND,
    Installed,
    clean_env,
    describe,
    pip_client,
    run_client,
    venv_python,
)
from tests.support.scripted_model import ScriptedModel

VERSION = "0.24.0"
RUN_TIMEOUT = 60.0
pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT + 2 * RUN_TIMEOUT)

CLIENT_SCRIPT = r'''
"""Runs in a venv with openai-agents: MCPServerStdio without an agent; JSON on stdout."""
import asyncio, json, sys
from importlib.metadata import version

from agents.mcp import MCPServerStdio

request = json.loads(sys.argv[1])


async def main():
    report = {"agents_version": version("openai-agents"), "mcp_version": version("mcp"), "messages": 0}

    async def on_message(message):
        report["messages"] += 1

    server = MCPServerStdio(
        params={"command": request["command"], "env": request["env"], "cwd": request["cwd"]},
        name="codex",
        client_session_timeout_seconds=request["timeout"],
        message_handler=on_message,
    )
    async with server:
        tools = await server.list_tools()
        report["tools"] = sorted(t.name for t in tools)
        codex = next(t for t in tools if t.name == "codex").model_dump(by_alias=True)
        report["codex_required"] = codex["inputSchema"].get("required")
        result = await server.call_tool("codex", request["arguments"])
        dumped = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        report["is_error"] = dumped.get("isError", False)
        report["text"] = [c["text"] for c in dumped["content"] if c["type"] == "text"]
        report["structured"] = dumped.get("structuredContent")
    print(json.dumps(report))


asyncio.run(asyncio.wait_for(main(), float(request["timeout"])))
'''


@pytest.fixture(scope="module")
def agents_sdk() -> Installed:
    installed = pip_client("openai-agents", VERSION, [f"openai-agents=={VERSION}"])
    print(installed.report())
    return installed


def run_agents(
    agents_sdk: Installed, tmp_path: Path, codex_home: Path, workspace: Path, arguments: dict[str, Any]
) -> dict[str, Any]:
    script = tmp_path / "agents_client.py"
    script.write_text(CLIENT_SCRIPT)
    request = {
        "command": str(SERVER_COMMAND),
        "env": clean_env(CODEX_HOME=str(codex_home), MOCK_API_KEY="test-key"),
        "cwd": str(workspace),
        "arguments": arguments,
        "timeout": RUN_TIMEOUT - 10,
    }
    env = clean_env(OPENAI_AGENTS_DISABLE_TRACING="1")
    done, seconds = run_client(
        [venv_python(agents_sdk.path), script, json.dumps(request)], RUN_TIMEOUT, env=env, cwd=tmp_path
    )
    print(f"openai-agents {VERSION} client run: {seconds:.2f} s")
    assert done.returncode == 0, describe(done)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_agents_sdk_list_and_call(
    agents_sdk: Installed, tmp_path: Path, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.text("Hello, agents")
    report = run_agents(
        agents_sdk,
        tmp_path,
        codex_home,
        workspace,
        {"prompt": "say hello", "sandbox": "read-only", "approval-policy": "never"},
    )
    assert report["agents_version"] == VERSION
    assert report["tools"] == ["codex", "codex-reply"]
    assert report["codex_required"] == ["prompt"]
    assert not report["is_error"]
    assert report["text"] == ["Hello, agents"]
    assert report["structured"]["content"] == "Hello, agents"
    assert report["structured"]["threadId"]
    print(f"openai-agents saw {report['messages']} session messages (mcp {report['mcp_version']})")


def test_agents_sdk_without_elicitation_denies_and_finishes(
    agents_sdk: Installed, tmp_path: Path, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    """The SDK offers no elicitation callback: an approval is denied with a reason, never hung."""
    call_id = scripted_model.shell("touch agents-unapproved.txt")
    scripted_model.text("not allowed")
    report = run_agents(
        agents_sdk,
        tmp_path,
        codex_home,
        workspace,
        {"prompt": "make a file", "sandbox": "danger-full-access", "approval-policy": "untrusted"},
    )
    assert report["text"] == ["not allowed"]
    assert not (workspace / "agents-unapproved.txt").exists()
    assert scripted_model.call_output(call_id)
