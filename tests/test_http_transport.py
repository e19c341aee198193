"""`codex-mcp-server --http`: the real server process on 127.0.0.1:0, spoken to by the `mcp`
SDK's streamable-HTTP client and by hand with httpx.

The same behaviour as over stdio is asserted where it matters (events and progress before
the result, elicitation, cancellation, sandbox-state ordering), plus what only HTTP has:
sessions, the access checks, and the body limit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.support.http_server import HttpServerProcess, RawHttp
from tests.support.raw_client import wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import server_env

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}
WAIT = 30.0

Spawn = Callable[..., HttpServerProcess]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def spawn_http(codex_home: Path, workspace: Path) -> Iterator[Spawn]:
    servers: list[HttpServerProcess] = []

    def spawn(
        *extra: str, env: dict[str, str] | None = None, address: str = "127.0.0.1:0"
    ) -> HttpServerProcess:
        full_env = server_env(codex_home)
        full_env.update(env or {})
        server = HttpServerProcess(["--http", address, *extra], full_env, workspace)
        servers.append(server)
        return server

    yield spawn
    for server in servers:
        server.kill()
        text = server.stderr()
        if text.strip():
            print(f"--- server stderr ---\n{text[-8000:]}")


@pytest.fixture
def url(spawn_http: Spawn) -> str:
    return spawn_http().url()


@asynccontextmanager
async def raw_session(url: str, capabilities: dict[str, Any] | None = None) -> AsyncIterator[RawHttp]:
    async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as client:
        raw = RawHttp(client, url)
        await raw.initialize(capabilities)
        yield raw


def tool_call(request_id: Any, arguments: dict[str, Any], token: Any = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": "codex", "arguments": arguments}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def event_type(message: dict[str, Any]) -> str | None:
    if message.get("method") != "codex/event":
        return None
    return str(message["params"]["msg"]["type"])


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


# -- sessions and the SDK client ---------------------------------------------------------


async def test_initialize_assigns_a_session_and_lists_tools(url: str) -> None:
    with anyio.fail_after(WAIT):
        async with raw_session(url) as raw:
            assert raw.session_id and len(raw.session_id) >= 32
            listed = await raw.call(1, "tools/list")
            assert {t["name"] for t in listed["result"]["tools"]} == {"codex", "codex-reply"}
            assert (await raw.call("p", "ping")) == {"jsonrpc": "2.0", "id": "p", "result": {}}


async def test_sdk_client_calls_codex_with_progress_and_elicitation(
    scripted_model: ScriptedModel, url: str, workspace: Path
) -> None:
    import mcp.types as types
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    scripted_model.text("Hello over HTTP")
    scripted_model.shell("touch made-over-http.txt")
    scripted_model.text("made it")
    progress: list[tuple[float, str | None]] = []
    asked: list[Any] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async def approve(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept", content={"decision": "approved"})

    with anyio.fail_after(WAIT):
        async with (
            streamable_http_client(url) as (read, write),
            ClientSession(read, write, elicitation_callback=approve) as session,
        ):
            init = await session.initialize()
            assert init.server_info.name == "codex-mcp-server"
            tools = {t.name for t in (await session.list_tools()).tools}
            assert tools == {"codex", "codex-reply"}
            result = await session.call_tool(
                "codex", {"prompt": "hi over http", **FULL}, progress_callback=on_progress
            )
            assert not result.is_error
            assert result.structured_content is not None
            assert result.structured_content["content"] == "Hello over HTTP"
            approved = await session.call_tool(
                "codex",
                {"prompt": "make a file", "sandbox": "danger-full-access", "approval-policy": "untrusted"},
            )
            assert not approved.is_error, approved
    assert progress and [p[0] for p in progress] == sorted({p[0] for p in progress})
    assert len(asked) == 1 and "touch made-over-http.txt" in asked[0].message
    assert (workspace / "made-over-http.txt").exists()


# -- one call's stream --------------------------------------------------------------------


async def test_call_streams_events_and_progress_before_its_result(
    scripted_model: ScriptedModel, url: str
) -> None:
    scripted_model.text("streamed answer")
    with anyio.fail_after(WAIT):
        async with raw_session(url) as raw:
            seen: list[dict[str, Any]] = []
            async with raw.stream(tool_call(7, {"prompt": "stream it", **FULL}, token="tok-7")) as (
                resp,
                msgs,
            ):
                assert resp.status_code == 200
                assert resp.headers["content-type"].startswith("text/event-stream")
                async for message in msgs:
                    seen.append(message)
    assert seen[-1]["id"] == 7 and seen[-1]["result"]["structuredContent"]["content"] == "streamed answer"
    before = seen[:-1]
    events = [m for m in before if m.get("method") == "codex/event"]
    progress = [m for m in before if m.get("method") == "notifications/progress"]
    assert all(m["params"]["_meta"]["requestId"] == 7 for m in events)
    assert {event_type(m) for m in events} >= {"session_configured", "task_started", "task_complete"}
    assert progress and all(m["params"]["progressToken"] == "tok-7" for m in progress)
    assert len(events) + len(progress) == len(before), "only this call's messages belong on its stream"


async def test_elicitation_round_trip_on_the_call_stream(
    scripted_model: ScriptedModel, url: str, workspace: Path
) -> None:
    scripted_model.shell("touch approved.txt")
    scripted_model.text("approved and done")
    args = {"prompt": "touch", "sandbox": "danger-full-access", "approval-policy": "untrusted"}
    with anyio.fail_after(WAIT):
        async with raw_session(url) as raw, raw.stream(tool_call("call-e", args)) as (_, msgs):
            result = None
            async for message in msgs:
                if message.get("method") == "elicitation/create":
                    params = message["params"]
                    assert params["codex_mcp_tool_call_id"] == "call-e"
                    assert params["codex_elicitation"] == "exec-approval"
                    answer = {
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "result": {"action": "accept", "content": {"decision": "approved"}},
                    }
                    posted = await raw.post(answer)
                    assert posted.status_code == 202
                elif message.get("id") == "call-e":
                    result = message
    assert result is not None and not result["result"].get("isError"), result
    assert (workspace / "approved.txt").exists()


async def test_cancellation_ends_the_stream_and_kills_the_command(
    scripted_model: ScriptedModel, url: str, workspace: Path
) -> None:
    scripted_model.shell("sleep 30 & echo $! > pid.txt; wait", timeout_ms=60_000)
    pid_file = workspace / "pid.txt"
    with anyio.fail_after(WAIT):
        async with (
            raw_session(url) as raw,
            raw.stream(tool_call(9, {"prompt": "sleep", **FULL})) as (_, msgs),
        ):
            after_cancel: list[dict[str, Any]] = []
            cancelled = False
            async for message in msgs:
                if cancelled:
                    after_cancel.append(message)
                elif event_type(message) == "exec_command_begin":
                    await anyio.to_thread.run_sync(
                        wait_until,
                        lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(),
                        15,
                        "pid.txt",
                    )
                    note = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
                    assert (await raw.post(note)).status_code == 202
                    cancelled = True
            # The stream ended: a cancelled request gets no response.
            assert not any(m.get("id") == 9 for m in after_cancel), after_cancel
            assert (await raw.call("after", "ping"))["result"] == {}
    pid = int(pid_file.read_text())
    await anyio.to_thread.run_sync(wait_until, lambda: process_gone(pid), 10, f"process {pid} to be killed")


async def test_sandbox_state_update_applies_to_the_next_call(scripted_model: ScriptedModel, url: str) -> None:
    scripted_model.text("one")
    scripted_model.text("two")

    async def sandbox_of(raw: RawHttp, request_id: int) -> dict[str, Any]:
        async with raw.stream(tool_call(request_id, {"prompt": "p", "approval-policy": "never"})) as (
            _,
            msgs,
        ):
            configured = [m async for m in msgs if event_type(m) == "session_configured"]
        return dict(configured[0]["params"]["msg"]["sandbox_policy"])

    with anyio.fail_after(WAIT):
        async with raw_session(url) as raw, raw_session(url) as other:
            update = {"sandboxPolicy": {"type": "danger-full-access"}}
            answer = await raw.call(1, "codex/sandbox-state/update", update)
            assert answer["result"] == {}
            assert (await sandbox_of(raw, 2))["type"] == "danger-full-access"
            # The other session was not told anything: its calls keep the configured default.
            assert (await sandbox_of(other, 2))["type"] != "danger-full-access"


async def test_two_sessions_with_the_same_request_ids_stay_apart(
    scripted_model: ScriptedModel, url: str
) -> None:
    gate = scripted_model.hold()
    scripted_model.echo()
    with anyio.fail_after(WAIT):
        async with raw_session(url) as first, raw_session(url) as second:
            results: dict[str, list[dict[str, Any]]] = {}

            async def run(name: str, raw: RawHttp) -> None:
                async with raw.stream(tool_call(1, {"prompt": f"from {name}", **FULL})) as (_, msgs):
                    results[name] = [m async for m in msgs]

            async with anyio.create_task_group() as group:
                group.start_soon(run, "first", first)
                await anyio.to_thread.run_sync(gate.wait_arrived, 1)
                group.start_soon(run, "second", second)
                await anyio.to_thread.run_sync(scripted_model.wait_requests, 2)
                gate.release()
    texts = {name: msgs[-1]["result"]["structuredContent"]["content"] for name, msgs in results.items()}
    assert texts == {"first": "echo: from first", "second": "echo: from second"}
    threads = {
        name: {m["params"]["_meta"]["threadId"] for m in msgs if m.get("method") == "codex/event"}
        for name, msgs in results.items()
    }
    assert len(threads["first"]) == 1 and len(threads["second"]) == 1
    assert threads["first"] != threads["second"]


async def test_a_closed_post_stream_is_not_a_cancellation(scripted_model: ScriptedModel, url: str) -> None:
    gate = scripted_model.hold(then=None)
    with anyio.fail_after(WAIT):
        async with raw_session(url) as raw, raw.stream({}, method="GET") as (get_resp, get_msgs):
            assert get_resp.status_code == 200
            async with raw.stream(tool_call(5, {"prompt": "keep going", **FULL})) as (_, msgs):
                async for message in msgs:
                    if event_type(message) == "task_started":
                        break  # the client walks away from the POST's stream
            await anyio.to_thread.run_sync(gate.wait_arrived, 1)
            gate.release()
            # The call goes on; its remaining events arrive on the GET stream.
            async for message in get_msgs:
                assert message.get("id") is None, "responses never travel on the GET stream"
                if event_type(message) == "task_complete":
                    assert message["params"]["_meta"]["requestId"] == 5
                    break
    assert gate.disconnected == 0


# -- HTTP-level rules -------------------------------------------------------------------------


async def test_session_header_rules_and_delete(url: str) -> None:
    async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as client:
        raw = RawHttp(client, url)
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        missing = await raw.post(ping)
        assert missing.status_code == 400 and "Mcp-Session-Id" in missing.json()["error"]["message"]
        unknown = await raw.post(ping, {"mcp-session-id": "0" * 32})
        assert unknown.status_code == 404
        await raw.initialize()
        bad_version = await raw.post(ping, {"mcp-protocol-version": "1999-01-01"})
        assert bad_version.status_code == 400
        assert (await raw.post(ping)).status_code == 200
        gone = await client.delete(url, headers=raw.headers())
        assert gone.status_code == 200
        assert (await raw.post(ping)).status_code == 404
        assert (await client.delete(url, headers=raw.headers())).status_code == 404
        assert (await client.put(url, headers=raw.headers())).status_code == 405
        assert (await client.post(url.replace("/mcp", "/other"), json=ping)).status_code == 404


async def test_delete_cancels_the_running_call(
    scripted_model: ScriptedModel, url: str, workspace: Path
) -> None:
    scripted_model.shell("sleep 30 & echo $! > pid.txt; wait", timeout_ms=60_000)
    pid_file = workspace / "pid.txt"
    with anyio.fail_after(WAIT):
        async with (
            raw_session(url) as raw,
            raw.stream(tool_call(3, {"prompt": "sleep", **FULL})) as (_, msgs),
        ):
            rest: list[dict[str, Any]] = []
            deleted = False
            async for message in msgs:
                if deleted:
                    rest.append(message)
                elif event_type(message) == "exec_command_begin":
                    await anyio.to_thread.run_sync(
                        wait_until,
                        lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(),
                        15,
                        "pid",
                    )
                    response = await raw.client.delete(raw.url, headers=raw.headers())
                    assert response.status_code == 200
                    deleted = True
            assert not any(m.get("id") == 3 for m in rest)
    pid = int(pid_file.read_text())
    # The command's process group was signalled before DELETE returned; the background
    # `sleep` (a grandchild nobody waits for) takes a moment to die under load.
    await anyio.to_thread.run_sync(wait_until, lambda: process_gone(pid), 10, f"process {pid} to be killed")


async def test_origin_and_host_checks(url: str) -> None:
    async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as client:
        raw = RawHttp(client, url)
        evil = await raw.post(
            {"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"origin": "http://evil.example.com"}
        )
        assert evil.status_code == 403
        rebound = await raw.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"host": "evil.example.com"})
        assert rebound.status_code == 403
        port = url.split(":")[2].split("/")[0]
        raw_local = RawHttp(client, url)
        await raw_local.initialize()
        local = await raw_local.post(
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {"origin": f"http://localhost:{port}", "host": f"localhost:{port}"},
        )
        assert local.status_code == 200
        assert local.headers["access-control-allow-origin"] == f"http://localhost:{port}"


async def test_allowed_origins_option(spawn_http: Spawn) -> None:
    url = spawn_http("--http-allowed-origins", "https://app.example.com").url()
    async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as client:
        raw = RawHttp(client, url)
        await raw.initialize()
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert (await raw.post(ping, {"origin": "https://app.example.com"})).status_code == 200
        assert (await raw.post(ping, {"origin": "https://other.example.com"})).status_code == 403


@pytest.mark.parametrize("via", ["flag", "env"])
async def test_bearer_token(spawn_http: Spawn, via: str) -> None:
    server = (
        spawn_http("--http-token", "s3cret")
        if via == "flag"
        else spawn_http(env={"CODEX_MCP_HTTP_TOKEN": "s3cret"})
    )
    url = server.url()
    async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as client:
        raw = RawHttp(client, url)
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": "2025-06-18"},
        }
        refused = await raw.post(init)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        wrong = await raw.post(init, {"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await raw.post(init, {"authorization": "Bearer s3cret"})
        assert ok.status_code == 200, ok.text


async def test_body_limit_and_malformed_json(url: str) -> None:
    async with raw_session(url) as raw:
        huge = (
            b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"x" * (17 * 1024 * 1024) + b'"}}'
        )
        too_big = await raw.client.post(raw.url, content=huge, headers=raw.headers())
        assert too_big.status_code == 413
        bad = await raw.client.post(raw.url, content=b'{"jsonrpc": "2.0", "id": 1,', headers=raw.headers())
        assert bad.status_code == 400 and bad.json()["error"]["code"] == -32700
        batch = await raw.client.post(raw.url, content=b"[]", headers=raw.headers())
        assert batch.status_code == 400 and batch.json()["error"]["code"] == -32600
        wrong_type = await raw.client.post(
            raw.url, content=b"{}", headers=raw.headers({"content-type": "text/plain"})
        )
        assert wrong_type.status_code == 415
        assert (await raw.call(2, "ping"))["result"] == {}  # the session is unharmed


async def test_get_stream_is_one_per_session(url: str) -> None:
    with anyio.fail_after(WAIT):
        async with raw_session(url) as raw, raw.stream({}, method="GET") as (resp, _):
            assert resp.status_code == 200
            second = await raw.client.get(raw.url, headers=raw.headers({"accept": "text/event-stream"}))
            assert second.status_code == 409
            not_sse = await raw.client.get(raw.url, headers=raw.headers({"accept": "application/json"}))
            assert not_sse.status_code == 406


# -- process level ---------------------------------------------------------------------------


def test_non_loopback_bind_needs_a_token(codex_home: Path, workspace: Path) -> None:
    server = HttpServerProcess(["--http", "0.0.0.0:0"], server_env(codex_home), workspace)
    assert server.proc.wait(20) == 2
    server.kill()
    assert "without a bearer token" in server.stderr()


def test_sigterm_during_a_call_kills_the_command_and_exits_cleanly(
    scripted_model: ScriptedModel, spawn_http: Spawn, workspace: Path
) -> None:
    scripted_model.shell("sleep 30 & echo $! > pid.txt; wait", timeout_ms=60_000)
    server = spawn_http()
    url = server.url()
    pid_file = workspace / "pid.txt"
    session = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}
    with httpx.Client(timeout=WAIT, trust_env=False) as client:
        headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        init = client.post(url, content=json.dumps(session), headers=headers)
        headers["mcp-session-id"] = init.headers["mcp-session-id"]
        with client.stream(
            "POST", url, content=json.dumps(tool_call(1, {"prompt": "s", **FULL})), headers=headers
        ):
            wait_until(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 20, "pid.txt")
            pid = int(pid_file.read_text())
            assert server.terminate() == 0
    wait_until(lambda: process_gone(pid), 10, f"process {pid} to be reaped")


async def test_an_idle_session_ends_by_itself(spawn_http: Spawn) -> None:
    server = spawn_http("--http-session-idle-timeout", "0.5", "--log-level", "info")
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with raw_session(server.url()) as raw:
        assert (await raw.post(ping)).status_code == 200
        line = await anyio.to_thread.run_sync(server.wait_line, f"session {raw.session_id} ends")
        assert "idle" in line
        assert (await raw.post(ping)).status_code == 404
