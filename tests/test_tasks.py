"""MCP tasks through the real server, spoken by hand: over stdio with the raw client and over
`--http` with httpx.  (A real SDK client drives them in `tests/test_clients_mcp_sdk1_tasks.py`.)

What is checked from outside: the capability and the tools' task support exist only for
2025-11-25; a task-augmented call answers at once and runs on; every message of a task
carries the related-task key; `input_required` while the person is asked; cancellation
kills the command; the per-client limit; and over HTTP, a task outlives the connection and
the session that created it and is fetched from another.
"""

from __future__ import annotations

import json
import random
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from codex_mcp._generated import mcp_2025_11_25 as r1125
from codex_mcp.tools.tasks import MAX_ACTIVE_TASKS, RELATED_TASK
from tests.support.http_server import HttpServerProcess, RawHttp
from tests.support.model_turns import text_turn
from tests.support.raw_client import RawClient, result_of, text_of, wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, initialize, server_env
from tests.test_shutdown_signals import rollout_lines, running

pytestmark = [pytest.mark.timeout(90)]

MODERN = "2025-11-25"
FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}
ASKING = {"sandbox": "danger-full-access", "approval-policy": "untrusted"}
WAIT = 30.0


def related(message: dict[str, Any]) -> str | None:
    meta = (message.get("params") or message.get("result") or {}).get("_meta") or {}
    value = meta.get(RELATED_TASK)
    return value.get("taskId") if isinstance(value, dict) else None


def task_call(arguments: dict[str, Any], ttl: int | None = 60_000, **meta: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": "codex",
        "arguments": arguments,
        "task": {} if ttl is None else {"ttl": ttl},
    }
    if meta:
        params["_meta"] = meta
    return params


def modern(spawn_server: ServerFactory, **kwargs: Any) -> RawClient:
    client = spawn_server(init=False, **kwargs)
    initialize(client, {"elicitation": {}}, version=MODERN)
    return client


def sleeper() -> tuple[str, list[str]]:
    marker = f"{random.randrange(10**6, 10**7)}.5"
    return f"exec sleep {marker}", ["sleep", marker]


def wait_status(client: RawClient, task_id: str, wanted: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def reached() -> bool:
        task = result_of(client.call("tasks/get", {"taskId": task_id}))
        found.append(task)
        return task["status"] == wanted

    wait_until(reached, WAIT, f"task status {wanted}")
    return found[-1]


# -- negotiation -------------------------------------------------------------------------


def test_tasks_exist_only_for_the_revision_that_has_them(
    spawn_server: ServerFactory, scripted_model: ScriptedModel
) -> None:
    old = spawn_server()  # 2025-06-18
    assert "tasks" not in initialize_result(old)
    assert all("execution" not in tool for tool in result_of(old.call("tools/list"))["tools"])
    scripted_model.text("a plain answer")
    plain = result_of(old.call("tools/call", task_call({"prompt": "hi", **FULL}), timeout=WAIT))
    assert text_of(plain) == "a plain answer", "the task field is ignored where tasks are not declared"
    assert old.call("tasks/get", {"taskId": "x"})["error"]["code"] == -32601

    new = modern(spawn_server)
    listed = result_of(new.call("tools/list"))["tools"]
    assert {tool["execution"]["taskSupport"] for tool in listed} == {"optional"}
    r1125.ListToolsResult.model_validate({"tools": listed})


def initialize_result(client: RawClient) -> dict[str, Any]:
    """The capabilities the server declared to `client` (kept by `initialize`)."""
    found = client.wait_for(lambda m: "result" in m and "protocolVersion" in (m.get("result") or {}))
    return dict(found["result"]["capabilities"])


def test_the_modern_handshake_declares_the_tasks_capability(spawn_server: ServerFactory) -> None:
    client = modern(spawn_server)
    caps = initialize_result(client)
    assert caps["tasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
    r1125.ServerCapabilities.model_validate(caps)


# -- over stdio --------------------------------------------------------------------------


def test_a_task_answers_at_once_runs_on_and_is_fetched(
    spawn_server: ServerFactory, scripted_model: ScriptedModel, workspace: Path
) -> None:
    client = modern(spawn_server)
    scripted_model.shell("touch made-by-a-task")
    scripted_model.text("the task is done")
    created = result_of(client.call("tools/call", task_call({"prompt": "go", **ASKING}, progressToken="tok")))
    task = r1125.CreateTaskResult.model_validate(created).task
    assert task.status == "working" and task.ttl == 60_000
    fetched = client.call("tasks/result", {"taskId": task.task_id}, timeout=WAIT)
    result = result_of(fetched)
    assert result["structuredContent"]["content"] == "the task is done"
    assert related(fetched) == task.task_id
    assert (workspace / "made-by-a-task").exists()

    asked = client.server_requests()
    assert len(asked) == 1 and related(asked[0]) == task.task_id, "the approval belongs to the task"
    events = client.notifications("codex/event")
    assert events and all(related(e) == task.task_id for e in events)
    progress = client.notifications("notifications/progress")
    assert progress and all(p["params"]["progressToken"] == "tok" for p in progress)
    assert all(related(p) == task.task_id for p in progress)
    statuses = [n["params"]["status"] for n in client.notifications("notifications/tasks/status")]
    assert statuses[:2] == ["input_required", "working"] and statuses[-1] == "completed", statuses

    done = result_of(client.call("tasks/get", {"taskId": task.task_id}))
    assert done["status"] == "completed" and done["statusMessage"] == "the task is done"
    assert [t["taskId"] for t in result_of(client.call("tasks/list"))["tasks"]] == [task.task_id]
    refused = client.call("tasks/cancel", {"taskId": task.task_id})
    assert refused["error"]["code"] == -32602 and "terminal" in refused["error"]["message"]
    assert client.call("tasks/get", {"taskId": "no-such-task"})["error"]["code"] == -32602


def test_a_failed_call_fails_its_task_with_the_same_result(
    spawn_server: ServerFactory, scripted_model: ScriptedModel
) -> None:
    client = modern(spawn_server)
    scripted_model.http_error(400, {"error": {"message": "bad request from the model"}})
    created = result_of(client.call("tools/call", task_call({"prompt": "fail", **FULL})))
    task_id = created["task"]["taskId"]
    result = result_of(client.call("tasks/result", {"taskId": task_id}, timeout=WAIT))
    assert result["isError"] is True and result["structuredContent"]["threadId"]
    task = result_of(client.call("tasks/get", {"taskId": task_id}))
    assert task["status"] == "failed" and task["statusMessage"]


def test_cancelling_a_task_kills_its_command_and_records_the_abort(
    spawn_server: ServerFactory, scripted_model: ScriptedModel, codex_home: Path
) -> None:
    client = modern(spawn_server)
    command, argv = sleeper()
    scripted_model.shell(command)
    scripted_model.text("never reached")
    task_id = result_of(client.call("tools/call", task_call({"prompt": "long", **FULL})))["task"]["taskId"]
    wait_until(lambda: bool(running(argv)), WAIT, "the task's command to start")
    assert wait_status(client, task_id, "working")["statusMessage"].startswith("Running: ")
    cancelled = result_of(client.call("tasks/cancel", {"taskId": task_id}))
    assert cancelled["status"] == "cancelled", "cancelled before the answer"
    wait_until(lambda: not running(argv), 10, "the command to be killed")
    result = client.call("tasks/result", {"taskId": task_id}, timeout=WAIT)
    assert result_of(result)["isError"] is True and related(result) == task_id
    wait_until(
        lambda: "turn_aborted" in [line["payload"].get("type") for line in rollout_lines(codex_home)],
        10,
        "the aborted turn in the rollout",
    )
    assert client.call("ping")["result"] == {}


def test_cancelling_a_wait_for_the_result_leaves_the_task_running(
    spawn_server: ServerFactory, scripted_model: ScriptedModel
) -> None:
    client = modern(spawn_server)
    gate = scripted_model.hold(then=text_turn("finished after all"))
    task_id = result_of(client.call("tools/call", task_call({"prompt": "slow", **FULL})))["task"]["taskId"]
    gate.wait_arrived()
    waiting = client.request("tasks/result", {"taskId": task_id})
    client.notify("notifications/cancelled", {"requestId": waiting})
    assert client.call("ping")["result"] == {}
    assert result_of(client.call("tasks/get", {"taskId": task_id}))["status"] == "working"
    gate.release()
    wait_status(client, task_id, "completed")
    assert client.responses_to(waiting) == [], "a cancelled request gets no response"


def test_one_client_may_run_only_so_many_tasks(
    spawn_server: ServerFactory, scripted_model: ScriptedModel
) -> None:
    client = modern(spawn_server)
    gates = [scripted_model.hold(then=None) for _ in range(MAX_ACTIVE_TASKS)]
    ids = [
        result_of(client.call("tools/call", task_call({"prompt": f"hold {n}", **FULL})))["task"]["taskId"]
        for n in range(MAX_ACTIVE_TASKS)
    ]
    refused = client.call("tools/call", task_call({"prompt": "one too many", **FULL}))
    assert refused["error"]["code"] == -32600 and "Too many tasks" in refused["error"]["message"]
    for task_id in ids:
        assert result_of(client.call("tasks/cancel", {"taskId": task_id}))["status"] == "cancelled"
    for gate in gates:
        gate.release()
    scripted_model.text("room again")
    again = result_of(client.call("tools/call", task_call({"prompt": "now", **FULL})))["task"]["taskId"]
    assert text_of(result_of(client.call("tasks/result", {"taskId": again}, timeout=WAIT))) == "room again"


# -- over HTTP ---------------------------------------------------------------------------


@pytest.fixture
def http_server(codex_home: Path, workspace: Path) -> Iterator[HttpServerProcess]:
    env = {**server_env(codex_home), "CODEX_MCP_LOG": "info"}
    server = HttpServerProcess(["--http", "127.0.0.1:0"], env, workspace)
    try:
        yield server
    finally:
        server.kill()
        print(f"--- server stderr ---\n{server.stderr()[-6000:]}")


@asynccontextmanager
async def session(url: str) -> AsyncIterator[RawHttp]:
    async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as http:
        raw = RawHttp(http, url, protocol=MODERN)
        await raw.initialize()
        yield raw


async def http_status(raw: RawHttp, task_id: str) -> dict[str, Any]:
    reply = await raw.call("get", "tasks/get", {"taskId": task_id})
    assert "result" in reply, reply
    return dict(reply["result"])


async def fetch_result(raw: RawHttp, request_id: int, task_id: str) -> dict[str, Any]:
    """`tasks/result`, answered on an SSE stream (the task's messages, then the result)."""
    request = {"jsonrpc": "2.0", "id": request_id, "method": "tasks/result", "params": {"taskId": task_id}}
    async with raw.stream(request) as (response, messages):
        assert response.headers["content-type"].startswith("text/event-stream")
        async for message in messages:
            if message.get("id") == request_id and "method" not in message:
                return message
    raise AssertionError("the tasks/result stream ended without its response")


@pytest.mark.anyio
async def test_a_task_outlives_its_connection_and_its_session(
    http_server: HttpServerProcess, scripted_model: ScriptedModel
) -> None:
    url = http_server.url()
    gate = scripted_model.hold(then=text_turn("survived"))
    with anyio.fail_after(WAIT):
        async with session(url) as first:
            created = await first.call(1, "tools/call", task_call({"prompt": "outlive", **FULL}))
            task_id = created["result"]["task"]["taskId"]
            # A tasks/result stream whose connection drops: not a cancellation.
            async with first.stream(
                {"jsonrpc": "2.0", "id": 2, "method": "tasks/result", "params": {"taskId": task_id}}
            ) as (
                response,
                _,
            ):
                assert response.status_code == 200
            assert (await http_status(first, task_id))["status"] == "working"
            gate.wait_arrived()
            # The client ends its session (as SDK clients do when they close): the task goes on.
            deleted = await first.client.delete(url, headers=first.headers())
            assert deleted.status_code == 200
        async with session(url) as second:
            listed = await second.call(3, "tasks/list")
            assert listed["result"]["tasks"] == [], "another session lists only what it knows"
            assert (await http_status(second, task_id))["status"] == "working"
            assert [t["taskId"] for t in (await second.call(4, "tasks/list"))["result"]["tasks"]] == [task_id]
            gate.release()
            fetched = await fetch_result(second, 5, task_id)
            assert fetched["result"]["structuredContent"]["content"] == "survived"
            assert related(fetched) == task_id


@pytest.mark.anyio
async def test_a_tasks_question_waits_for_a_stream_and_is_answered_there(
    http_server: HttpServerProcess, scripted_model: ScriptedModel, workspace: Path
) -> None:
    """No stream is open when the task asks for approval: the question is kept until the
    client, seeing `input_required`, opens `tasks/result`; it is answered there, and the same
    stream then carries the task's events and its result."""
    url = http_server.url()
    scripted_model.shell("touch approved-over-http")
    scripted_model.text("approved and done")
    with anyio.fail_after(WAIT):
        async with session(url) as raw:
            created = await raw.call(1, "tools/call", task_call({"prompt": "ask", **ASKING}))
            task_id = created["result"]["task"]["taskId"]
            for _ in range(int(WAIT / 0.05)):  # polling, as the spec has clients do
                if (await http_status(raw, task_id))["status"] == "input_required":
                    break
                await anyio.sleep(0.05)
            request = {"jsonrpc": "2.0", "id": 2, "method": "tasks/result", "params": {"taskId": task_id}}
            seen: list[dict[str, Any]] = []
            async with raw.stream(request) as (response, messages):
                assert response.headers["content-type"].startswith("text/event-stream")
                async for message in messages:
                    seen.append(message)
                    if message.get("method") == "elicitation/create":
                        assert related(message) == task_id
                        answer = {
                            "jsonrpc": "2.0",
                            "id": message["id"],
                            "result": {"action": "accept", "content": {"decision": "approved"}},
                        }
                        assert (await raw.post(answer)).status_code == 202
                    if message.get("id") == 2:
                        break
    assert seen[-1]["result"]["structuredContent"]["content"] == "approved and done"
    assert any(m.get("method") == "codex/event" and related(m) == task_id for m in seen)
    assert (workspace / "approved-over-http").exists()


def test_stopping_the_server_cancels_its_tasks(
    http_server: HttpServerProcess, scripted_model: ScriptedModel
) -> None:
    url = http_server.url()
    command, argv = sleeper()
    scripted_model.shell(command)
    scripted_model.text("never reached")

    async def start() -> None:
        async with session(url) as raw:
            created = await raw.call(1, "tools/call", task_call({"prompt": "long", **FULL}))
            assert created["result"]["task"]["status"] == "working"

    anyio.run(start)  # the client leaves; its session stays, and with it the task
    wait_until(lambda: bool(running(argv)), WAIT, "the task's command to start")
    http_server.proc.send_signal(signal.SIGTERM)
    assert http_server.proc.wait(15) == 0
    wait_until(lambda: not running(argv), 10, "the command to be killed")


def test_elicitation_params_carry_no_stray_keys(
    spawn_server: ServerFactory, scripted_model: ScriptedModel
) -> None:
    """The task's approval is a valid 2025-11-25 form request, related-task key included."""
    client = modern(spawn_server)
    scripted_model.shell("touch asked-first")
    scripted_model.text("ok")
    task_id = result_of(client.call("tools/call", task_call({"prompt": "ask", **ASKING})))["task"]["taskId"]
    client.call("tasks/result", {"taskId": task_id}, timeout=WAIT)
    params = client.server_requests()[0]["params"]
    r1125.ElicitRequestFormParams.model_validate(params)
    assert json.dumps(params["_meta"]) == json.dumps({RELATED_TASK: {"taskId": task_id}})
