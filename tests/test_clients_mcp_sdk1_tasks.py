"""Client matrix: MCP tasks with a real client, the `mcp` Python SDK 1.30 (its experimental
task API: `call_tool_as_task`, `poll_task`, `get_task_result`, `list_tasks`, `cancel_task`),
over stdio and over Streamable HTTP.

The 2.x SDK has no client task API, so 1.30 runs in its cached venv (`tests/clients_support`)
as a script that reports what it saw as JSON; the test checks that report and, from outside,
the workspace and the processes.  Over HTTP a second client process fetches a task created
by a first one that closed (the SDK ends its session with DELETE when it closes): a task
outlives its connection and its session.
"""

from __future__ import annotations

import json
import subprocess
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
from tests.support.http_server import HttpServerProcess
from tests.support.raw_client import wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import server_env
from tests.test_clients_mcp_sdk1 import VERSION
from tests.test_shutdown_signals import running
from tests.test_tasks import sleeper

RUN_TIMEOUT = 60.0
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(INSTALL_TIMEOUT + 4 * RUN_TIMEOUT)]

CLIENT_SCRIPT = r'''
"""Runs in a venv with mcp 1.30: MCP tasks, reported as JSON on stdout."""
import asyncio, contextlib, json, os, sys

from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client

request = json.loads(sys.argv[1])
RELATED = "io.modelcontextprotocol/related-task"


@contextlib.asynccontextmanager
async def connect(on_elicit):
    if request.get("url"):
        transport = streamablehttp_client(request["url"], terminate_on_close=True)
    else:
        server = StdioServerParameters(
            command=request["command"], args=[], env=request["env"], cwd=request["cwd"]
        )
        transport = stdio_client(server)
    async with transport as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write, elicitation_callback=on_elicit) as session:
            yield session


async def main():
    report = {"elicitations": [], "statuses": []}

    async def on_elicit(context, params):
        meta = params.meta.model_dump(by_alias=True) if params.meta else {}
        report["elicitations"].append({"message": params.message, "related": meta.get(RELATED)})
        return types.ElicitResult(action="accept", content={"decision": "approved"})

    async with connect(on_elicit) as session:
        init = await session.initialize()
        report["protocol"] = init.protocolVersion
        report["tasks_capability"] = init.capabilities.tasks is not None
        listed = await session.list_tools()
        report["task_support"] = sorted({t.execution.taskSupport for t in listed.tools if t.execution})
        mode = request["mode"]
        if mode in ("run", "start", "cancel"):
            created = await session.experimental.call_tool_as_task(
                "codex", request["arguments"], ttl=600000
            )
            task_id = created.task.taskId
            report["task_id"] = task_id
            report["created_status"] = created.task.status
            if mode == "start":  # leave it running; the client closes (DELETE over HTTP)
                print(json.dumps(report), flush=True)
                return
        else:
            task_id = request["task_id"]
        if mode == "cancel":
            # Cancel once the command itself runs (past its login shell's start-up, which a
            # kill could leave half done), as a person would: it has been working a while.
            started = request["started_file"]
            async for status in session.experimental.poll_task(task_id):
                report["statuses"].append(status.status)
                if (status.statusMessage or "").startswith("Running") and os.path.exists(started):
                    break
            cancelled = await session.experimental.cancel_task(task_id)
            report["cancelled"] = cancelled.status
            report["after"] = (await session.experimental.get_task(task_id)).status
            print(json.dumps(report), flush=True)
            return
        async for status in session.experimental.poll_task(task_id):
            report["statuses"].append(status.status)
            if status.status == "input_required":
                break  # the spec: fetch the result now, the question comes on its stream
        result = await session.experimental.get_task_result(task_id, types.CallToolResult)
        report["is_error"] = result.isError
        report["structured"] = result.structuredContent
        report["result_related"] = (result.meta or {}).get(RELATED)
        final = await session.experimental.get_task(task_id)
        report["final_status"] = final.status
        report["listed"] = [t.taskId for t in (await session.experimental.list_tasks()).tasks]
    print(json.dumps(report), flush=True)


asyncio.run(asyncio.wait_for(main(), float(request["timeout"])))
'''


@pytest.fixture(scope="module")
def sdk1() -> Installed:
    installed = pip_client("mcp-sdk", VERSION, [f"mcp=={VERSION}"])
    print(installed.report())
    return installed


class Sdk1:
    def __init__(self, installed: Installed, tmp_path: Path, codex_home: Path, workspace: Path) -> None:
        self.installed = installed
        self.tmp = tmp_path
        self.codex_home = codex_home
        self.workspace = workspace
        self.script = tmp_path / "sdk1_tasks.py"
        self.script.write_text(CLIENT_SCRIPT)

    def request(self, mode: str, url: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "mode": mode,
            "url": url,
            "command": str(SERVER_COMMAND),
            "env": clean_env(CODEX_HOME=str(self.codex_home), MOCK_API_KEY="test-key"),
            "cwd": str(self.workspace),
            "timeout": RUN_TIMEOUT - 10,
            **extra,
        }

    def argv(self, request: dict[str, Any]) -> list[Any]:
        return [venv_python(self.installed.path), self.script, json.dumps(request)]

    def run(self, mode: str, url: str | None = None, **extra: Any) -> dict[str, Any]:
        done, seconds = run_client(self.argv(self.request(mode, url, **extra)), RUN_TIMEOUT, env=clean_env())
        print(f"mcp {VERSION} tasks client ({mode}): {seconds:.2f} s")
        assert done.returncode == 0, describe(done)
        report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return report


@pytest.fixture
def sdk(sdk1: Installed, tmp_path: Path, codex_home: Path, workspace: Path) -> Sdk1:
    return Sdk1(sdk1, tmp_path, codex_home, workspace)


@pytest.fixture
def http_url(codex_home: Path, workspace: Path) -> Any:
    server = HttpServerProcess(["--http", "127.0.0.1:0"], server_env(codex_home), workspace)
    try:
        yield server.url()
    finally:
        server.kill()


APPROVED = {"prompt": "make a file", "sandbox": "danger-full-access", "approval-policy": "untrusted"}


def check_approved_run(report: dict[str, Any], workspace: Path) -> None:
    assert report["protocol"] == "2025-11-25" and report["tasks_capability"] is True
    assert report["task_support"] == ["optional"]
    assert report["created_status"] == "working"
    task_id = report["task_id"]
    assert report["is_error"] in (None, False), report
    assert report["structured"]["content"] == "the task made it"
    assert report["result_related"] == {"taskId": task_id}
    assert report["final_status"] == "completed" and task_id in report["listed"]
    assert [e["related"] for e in report["elicitations"]] == [{"taskId": task_id}]
    assert "touch made-by-sdk-task" in report["elicitations"][0]["message"]
    assert (workspace / "made-by-sdk-task").exists()


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_sdk1_runs_an_approval_gated_call_as_a_task(
    sdk: Sdk1, scripted_model: ScriptedModel, workspace: Path, transport: str, request: pytest.FixtureRequest
) -> None:
    scripted_model.shell("touch made-by-sdk-task")
    scripted_model.text("the task made it")
    url = request.getfixturevalue("http_url") if transport == "http" else None
    check_approved_run(sdk.run("run", url, arguments=APPROVED), workspace)


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_sdk1_cancels_a_running_task(
    sdk: Sdk1, scripted_model: ScriptedModel, transport: str, request: pytest.FixtureRequest
) -> None:
    command, argv = sleeper()
    started = sdk.workspace / "started"
    scripted_model.shell(f"touch {started}; {command}")
    scripted_model.text("never reached")
    url = request.getfixturevalue("http_url") if transport == "http" else None
    args = {"prompt": "run long", "sandbox": "danger-full-access", "approval-policy": "never"}
    report = sdk.run("cancel", url, arguments=args, started_file=str(started))
    assert report["cancelled"] == "cancelled" and report["after"] == "cancelled"
    wait_until(lambda: not running(argv), 10, "the cancelled task's command to be killed")


def test_sdk1_fetches_from_a_new_session_a_task_whose_client_left(
    sdk: Sdk1, scripted_model: ScriptedModel, http_url: str, workspace: Path
) -> None:
    """The first client starts a task and closes (its session ends with DELETE); a second
    client process, a new session of the same client, polls it and gets its result."""
    gate = workspace / "go"
    scripted_model.shell(f"for i in $(seq 600); do [ -e {gate} ] && break; sleep 0.05; done; echo went")
    scripted_model.text("done after the first client left")
    args = {"prompt": "wait for go", "sandbox": "danger-full-access", "approval-policy": "never"}
    first = sdk.run("start", http_url, arguments=args)
    task_id = first["task_id"]
    second = subprocess.Popen(
        [str(a) for a in sdk.argv(sdk.request("fetch", http_url, task_id=task_id))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        gate.touch()
        out, err = second.communicate(timeout=RUN_TIMEOUT)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    assert second.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["structured"]["content"] == "done after the first client left"
    assert report["result_related"] == {"taskId": task_id}
    assert report["final_status"] == "completed"
    assert report["listed"] == [task_id], "opened by id, so now listed for this session"
