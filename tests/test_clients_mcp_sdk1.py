"""Client matrix: the `mcp` Python SDK 1.x `ClientSession` over stdio.

The 1.x SDK is installed into its own cached venv (see `tests/clients_support.py`) and a
small client script runs there as a subprocess against our `codex-mcp-server`.  It checks
initialize, tools/list, a text answer, an elicitation-approved command and progress, and
how loud 1.x is about our `codex/event` notifications: 1.x validates every server
notification against its closed union and logs a multi-line "Failed to validate
notification" warning for each one it does not know.  `[codex_mcp] event_stream = "off"`
must silence that while `notifications/progress` keeps arriving.
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
from tests.support.server import write_config

VERSION = "1.30.0"
RUN_TIMEOUT = 60.0
pytestmark = pytest.mark.timeout(INSTALL_TIMEOUT + 3 * RUN_TIMEOUT)

WARNING = "Failed to validate notification"

CLIENT_SCRIPT = r'''
"""Runs in a venv with mcp 1.x: one codex call, reported as JSON on stdout."""
import asyncio, json, sys

import mcp
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

request = json.loads(sys.argv[1])


async def main():
    report = {"mcp_version": getattr(mcp, "__version__", None), "progress": [], "elicitations": []}

    async def on_elicit(context, params):
        report["elicitations"].append(params.message)
        return types.ElicitResult(action="accept", content={"decision": "approved"})

    async def on_progress(progress, total, message):
        report["progress"].append([progress, total, message])

    server = StdioServerParameters(
        command=request["command"], args=[], env=request["env"], cwd=request["cwd"]
    )
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write, elicitation_callback=on_elicit) as session:
            init = await session.initialize()
            report["protocol_version"] = init.protocolVersion
            report["server_name"] = init.serverInfo.name
            listed = await session.list_tools()
            report["tools"] = sorted(t.name for t in listed.tools)
            result = await session.call_tool(
                "codex", request["arguments"], progress_callback=on_progress
            )
            report["is_error"] = result.isError
            report["text"] = [c.text for c in result.content if c.type == "text"]
            report["structured"] = result.structuredContent
    print(json.dumps(report))


asyncio.run(asyncio.wait_for(main(), float(request["timeout"])))
'''


@pytest.fixture(scope="module")
def sdk1() -> Installed:
    installed = pip_client("mcp-sdk", VERSION, [f"mcp=={VERSION}"])
    print(installed.report())
    return installed


def run_sdk1(
    sdk1: Installed, tmp_path: Path, codex_home: Path, workspace: Path, arguments: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    script = tmp_path / "sdk1_client.py"
    script.write_text(CLIENT_SCRIPT)
    request = {
        "command": str(SERVER_COMMAND),
        "env": clean_env(CODEX_HOME=str(codex_home), MOCK_API_KEY="test-key"),
        "cwd": str(workspace),
        "arguments": arguments,
        "timeout": RUN_TIMEOUT - 10,
    }
    done, seconds = run_client(
        [venv_python(sdk1.path), script, json.dumps(request)], RUN_TIMEOUT, env=clean_env(), cwd=tmp_path
    )
    print(f"mcp {VERSION} client run: {seconds:.2f} s")
    assert done.returncode == 0, describe(done)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["mcp_version"] in (None, VERSION) or str(report["mcp_version"]).startswith("1."), report
    return report, done.stderr


def test_sdk1_text_answer_progress_and_warning_count(
    sdk1: Installed, tmp_path: Path, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    """Default `event_stream = "full"`: everything works; 1.x warns once per `codex/event`."""
    scripted_model.text("Hello from 1.x")
    report, stderr = run_sdk1(
        sdk1,
        tmp_path,
        codex_home,
        workspace,
        {"prompt": "say hello", "sandbox": "read-only", "approval-policy": "never"},
    )
    assert report["server_name"] == "codex-mcp-server"
    assert report["tools"] == ["codex", "codex-reply"]
    assert report["is_error"] is False
    assert report["text"] == ["Hello from 1.x"]
    assert report["structured"]["content"] == "Hello from 1.x"
    assert report["structured"]["threadId"]
    values = [p[0] for p in report["progress"]]
    assert values and values == sorted(set(values)), report["progress"]
    warnings = stderr.count(WARNING)
    print(f"mcp {VERSION}, event_stream=full: {warnings} '{WARNING}' warnings, {len(stderr)} bytes of stderr")
    # Documented in docs/clients.md: one warning per codex/event (about a dozen for a short turn).
    assert warnings >= 5, stderr[-2000:]


def test_sdk1_event_stream_off_is_quiet_and_keeps_progress(
    sdk1: Installed, tmp_path: Path, scripted_model: ScriptedModel, workspace: Path
) -> None:
    home = tmp_path / "quiet-home"
    write_config(home, scripted_model, extra='[codex_mcp]\nevent_stream = "off"\n')
    scripted_model.text("quiet answer")
    report, stderr = run_sdk1(
        sdk1,
        tmp_path,
        home,
        workspace,
        {"prompt": "be quiet", "sandbox": "read-only", "approval-policy": "never"},
    )
    assert report["text"] == ["quiet answer"]
    assert WARNING not in stderr, stderr[-2000:]
    assert report["progress"], "progress must stay on when codex/event is off"
    assert report["progress"][-1][2], report["progress"]


def test_sdk1_elicitation_approves_a_command(
    sdk1: Installed, tmp_path: Path, scripted_model: ScriptedModel, workspace: Path
) -> None:
    home = tmp_path / "approve-home"
    write_config(home, scripted_model, extra='[codex_mcp]\nevent_stream = "off"\n')
    scripted_model.shell("touch made-by-sdk1.txt")
    scripted_model.text("file made")
    report, _ = run_sdk1(
        sdk1,
        tmp_path,
        home,
        workspace,
        {"prompt": "make a file", "sandbox": "danger-full-access", "approval-policy": "untrusted"},
    )
    assert report["text"] == ["file made"]
    assert len(report["elicitations"]) == 1
    assert "touch made-by-sdk1.txt" in report["elicitations"][0]
    assert (workspace / "made-by-sdk1.txt").exists()
    assert any("Running" in (p[2] or "") for p in report["progress"]), report["progress"]
