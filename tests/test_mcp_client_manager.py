"""The MCP client manager against real MCP servers run as subprocesses (stdio, loopback only).

The servers live in tests/mcp_servers: `sdk_server.py` (the `mcp` SDK, one behaviour per
`--kind`) and `misbehaving.py` (crash, silence, odd tools; no SDK).  Every wait is bounded
by the manager's own timeouts or `anyio.fail_after`; every child is reaped by `aclose()`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.agent.mcp_client import McpConnectionManager
from codex_mcp.sandbox.policy import SandboxPolicy

pytestmark = pytest.mark.e2e

SERVERS = Path(__file__).parent / "mcp_servers"
TEST_LIMIT = 30


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sdk(kind: str, record: Path | None = None, **extra: Any) -> dict[str, Any]:
    args = [str(SERVERS / "sdk_server.py"), "--kind", kind]
    if record is not None:
        args += ["--record", str(record)]
    return {"command": sys.executable, "args": args, **extra}


def odd(mode: str, **extra: Any) -> dict[str, Any]:
    return {"command": sys.executable, "args": [str(SERVERS / "misbehaving.py"), mode], **extra}


def records(path: Path, kind: str) -> list[Any]:
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["payload"] for r in lines if r["kind"] == kind]


class Events:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    async def __call__(self, msg: dict[str, Any]) -> None:
        self.items.append(msg)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.items if m["type"] == kind]


@asynccontextmanager
async def manager_for(
    servers: dict[str, dict[str, Any]],
    *,
    policy: SandboxPolicy | None = None,
    cwd: Path | None = None,
    elicit: Callable[..., Any] | None = None,
    base_env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[McpConnectionManager, Events]]:
    events = Events()
    with anyio.fail_after(TEST_LIMIT):
        async with anyio.create_task_group() as tg:
            manager = McpConnectionManager(
                servers, policy or SandboxPolicy(), cwd or Path.cwd(), elicit=elicit, base_env=base_env
            )
            await manager.open(tg)
            try:
                await manager.start(events)
                yield manager, events
            finally:
                await manager.aclose()


def pids(path: Path) -> list[int]:
    return [int(p["pid"]) for p in records(path, "started")]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): check its state.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


# --- startup ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_plain_server_tools_are_offered_and_called(tmp_path: Path) -> None:
    rec = tmp_path / "plain.jsonl"
    async with manager_for({"plain": sdk("plain", rec)}) as (manager, events):
        names = [s["name"] for s in manager.tool_specs]
        assert names == sorted(names)
        assert {"mcp__plain__echo", "mcp__plain__add", "mcp__plain__fail"} <= set(names)
        echo = next(s for s in manager.tool_specs if s["name"] == "mcp__plain__echo")
        assert echo["type"] == "function" and echo["strict"] is False
        assert "$schema" not in echo["parameters"]
        assert echo["parameters"]["type"] == "object"

        calls = Events()
        out = await manager.call("c1", "mcp__plain__echo", {"text": "hi"}, calls)
        assert out == "echo: hi"
        out = await manager.call("c2", "mcp__plain__add", {"a": 2, "b": 3}, calls)
        assert json.loads(str(out)) == {"sum": 5}
        out = await manager.call("c3", "mcp__plain__fail", {}, calls)
        assert out == "it broke"

        begin = calls.of("mcp_tool_call_begin")
        end = calls.of("mcp_tool_call_end")
        assert [b["call_id"] for b in begin] == ["c1", "c2", "c3"]
        assert begin[0]["invocation"] == {"server": "plain", "tool": "echo", "arguments": {"text": "hi"}}
        assert end[0]["result"]["Ok"]["content"] == [{"type": "text", "text": "echo: hi"}]
        assert end[1]["result"]["Ok"]["structuredContent"] == {"sum": 5}
        assert end[2]["result"]["Ok"]["isError"] is True
        assert set(end[0]["duration"]) == {"secs", "nanos"}
    assert [e["type"] for e in events.items] == [
        "mcp_startup_update",
        "mcp_startup_update",
        "mcp_startup_complete",
    ]
    assert events.items[0]["status"] == {"state": "starting"}
    assert events.items[1]["status"] == {"state": "ready"}
    assert events.items[2] == {
        "type": "mcp_startup_complete",
        "ready": ["plain"],
        "failed": [],
        "cancelled": [],
    }
    (pid,) = pids(rec)
    assert not alive(pid), "the server process was not reaped"


@pytest.mark.anyio
async def test_a_server_gone_before_a_request_is_sent_is_reported_with_its_exit_and_stderr() -> None:
    """The request finds a broken pipe before the reader has seen the server's exit: the
    error is still the exit code and the last stderr line, not the broken pipe."""
    async with manager_for({"gone": odd("closes-stdin")}) as (manager, _events):
        (failure,) = manager.failed
        assert "exit code 3" in failure["error"] and "gave up after initialize" in failure["error"], failure
        assert "could not send" not in failure["error"], failure


@pytest.mark.anyio
async def test_bad_servers_are_reported_and_skipped_concurrently(tmp_path: Path) -> None:
    rec = tmp_path / "plain.jsonl"
    servers = {
        "plain": sdk("plain", rec),
        "crash": odd("crash"),
        "silent": odd("silent", startup_timeout_sec=1.5),
        "notools": odd("no-tools", startup_timeout_ms=1500),
        "missing": {"command": str(tmp_path / "no-such-binary")},
        "bad name!": sdk("plain"),
        "neither": {"args": ["x"]},
        "off": {**odd("crash"), "enabled": False},
    }
    started = anyio.current_time()
    async with manager_for(servers) as (manager, events):
        elapsed = anyio.current_time() - started
        # Started concurrently: the two 1.5 s timeouts overlap instead of adding up.
        assert elapsed < 6, elapsed
        assert manager.ready == ["plain"]
        failed = {f["server"]: f["error"] for f in manager.failed}
        assert set(failed) == {"crash", "silent", "notools", "missing", "bad name!", "neither"}
        assert "exit code 3" in failed["crash"] and "cannot start" in failed["crash"]
        assert "1.5 s" in failed["silent"] and "1.5 s" in failed["notools"]
        assert "Invalid MCP server name 'bad name!'" in failed["bad name!"]
        assert "no-such-binary" in failed["missing"]
        assert all(not s["name"].startswith(("mcp__crash", "mcp__off")) for s in manager.tool_specs)
        complete = events.of("mcp_startup_complete")
        assert len(complete) == 1 and complete[0]["ready"] == ["plain"]
        updates = {(u["server"], u["status"]["state"]) for u in events.of("mcp_startup_update")}
        assert ("silent", "failed") in updates and ("plain", "ready") in updates
        assert not any(u[0] == "off" for u in updates)
        assert await manager.call("c", "mcp__plain__echo", {"text": "still"}) == "echo: still"


@pytest.mark.anyio
async def test_odd_tool_names_and_schemas(tmp_path: Path) -> None:
    async with manager_for({"odd": odd("odd-tools")}) as (manager, events):
        specs = {s["name"]: s for s in manager.tool_specs}
        names = list(specs)
        assert names == sorted(names)
        assert all(len(n) <= 64 for n in names)
        assert all(c.isalnum() or c in "_-" for n in names for c in n)
        # Two long names sharing a 64-character prefix stay apart thanks to the hash suffix.
        long_names = [n for n in names if n.startswith("mcp__odd__a_really_long")]
        assert len(long_names) == 2 and len(set(long_names)) == 2
        # Sanitised duplicates: the first one listed wins, with a warning.
        assert "mcp__odd__no_schema_type" in specs
        warnings = [w["message"] for w in events.of("warning")]
        assert any("same name" in w and "no.schema.type" in w for w in warnings)
        # Schemas that cannot be argument objects drop the tool, not the server.
        assert "mcp__odd__array_schema" not in specs and "mcp__odd__not_a_dict" not in specs
        assert any("array_schema" in w for w in warnings) and any("not_a_dict" in w for w in warnings)
        # Inferred types, boolean schemas, $ref resolved, arrays get items.
        params = specs["mcp__odd__no_schema_type"]["parameters"]
        assert params == {"type": "object", "properties": {"n": {"minimum": 1, "type": "number"}}}
        refs = specs["mcp__odd__refs"]["parameters"]
        assert "$schema" not in refs and "$defs" not in refs
        assert refs["properties"]["p"] == {"type": "object", "properties": {"x": {"type": "integer"}}}
        assert refs["properties"]["flag"] == {"type": "string"}
        assert refs["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
        assert specs["mcp__odd__echo"]["parameters"]["properties"]["text"] == {"type": "string"}
        out = await manager.call("c", "mcp__odd__echo", {"text": "paged"})
        assert out == '{"text": "paged"}'


@pytest.mark.anyio
async def test_structured_content_is_used_only_when_it_follows_the_output_schema(tmp_path: Path) -> None:
    async with manager_for({"typed": odd("typed")}) as (manager, _):
        calls = Events()
        assert json.loads(str(await manager.call("c1", "mcp__typed__sum_ok", {}, calls))) == {"sum": 5}
        # A result that breaks the tool's own outputSchema is not trusted as structured: the
        # model gets the text content instead.
        assert await manager.call("c2", "mcp__typed__sum_bad", {}, calls) == "five, as text"
        end = calls.of("mcp_tool_call_end")
        assert end[1]["result"]["Ok"]["structuredContent"] == {"sum": "five"}, (
            "the event shows the raw result"
        )


@pytest.mark.anyio
async def test_enabled_and_disabled_tools(tmp_path: Path) -> None:
    servers = {
        "a": sdk("plain", enabled_tools=["echo", "add"], disabled_tools=["add"]),
    }
    async with manager_for(servers) as (manager, _):
        assert [s["name"] for s in manager.tool_specs] == ["mcp__a__echo"]
        assert await manager.call("c", "mcp__a__add", {"a": 1}) == "tool 'add' is disabled for MCP server 'a'"


@pytest.mark.anyio
async def test_stdio_env_is_restricted(tmp_path: Path) -> None:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "OPENAI_API_KEY": "sk-secret",
        "MY_TOKEN": "t",
        "PASS_ME": "yes",
    }
    servers = {"e": sdk("plain", env={"EXTRA": "1"}, env_vars=["PASS_ME"])}
    async with manager_for(servers, base_env=base) as (manager, _):
        env = json.loads(str(await manager.call("c", "mcp__e__env", {})))
    assert env.get("EXTRA") == "1" and env.get("PASS_ME") == "yes" and env.get("HOME") == str(tmp_path)
    assert "OPENAI_API_KEY" not in env and "MY_TOKEN" not in env


# --- calls that go wrong ------------------------------------------------------------------


@pytest.mark.anyio
async def test_tool_timeout_is_an_error_for_the_model(tmp_path: Path) -> None:
    async with manager_for({"s": sdk("slow", tool_timeout_sec=0.5)}) as (manager, _):
        events = Events()
        out = await manager.call("c", "mcp__s__slow", {}, events)
        assert out == "err: tool call timed out after 0.5 s"
        assert events.of("mcp_tool_call_end")[0]["result"] == {"Err": "tool call timed out after 0.5 s"}
        # The connection is still usable afterwards.
        assert await manager.call("c2", "mcp__s__echo", {"text": "after"}) == "echo: after"


@pytest.mark.anyio
async def test_huge_output_is_truncated_for_the_model(tmp_path: Path) -> None:
    async with manager_for({"h": sdk("huge")}) as (manager, _):
        events = Events()
        out = await manager.call("c", "mcp__h__huge", {}, events)
        assert isinstance(out, str) and len(out.encode()) <= 11 * 1024
        assert "omitted" in out
        assert events.of("mcp_tool_call_end")[0]["result"]["Ok"]["content"][0]["text"].count("\n") == 30_000


@pytest.mark.anyio
async def test_image_content_becomes_input_image(tmp_path: Path) -> None:
    async with manager_for({"img": sdk("image")}) as (manager, _):
        out = await manager.call("c", "mcp__img__image", {})
    assert isinstance(out, list)
    assert out[0] == {"type": "input_text", "text": "here is the picture"}
    assert out[1]["type"] == "input_image" and out[1]["image_url"].startswith("data:image/png;base64,iVBOR")


@pytest.mark.anyio
async def test_server_dying_mid_session_gives_an_error_text(tmp_path: Path) -> None:
    rec = tmp_path / "p.jsonl"
    async with manager_for({"p": sdk("plain", rec)}) as (manager, _):
        (pid,) = pids(rec)
        os.kill(pid, 9)
        out = await manager.call("c", "mcp__p__echo", {"text": "x"})
        assert isinstance(out, str) and out.startswith("err: ") and "closed" in out
        assert await manager.call("c", "mcp__nope__x", {}) == "unsupported call: mcp__nope__x"


# --- elicitation --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_elicitation_is_forwarded_and_answered(tmp_path: Path) -> None:
    rec = tmp_path / "e.jsonl"
    seen: list[tuple[str, Any, dict[str, Any]]] = []

    async def elicit(server: str, request_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        seen.append((server, request_id, params))
        return {"action": "accept", "content": {"name": "Ada"}}

    async with manager_for({"ask": sdk("elicit", rec)}, elicit=elicit) as (manager, _):
        out = await manager.call("c", "mcp__ask__elicit", {})
    assert seen and seen[0][0] == "ask" and seen[0][2]["message"] == "What is your name?"
    assert seen[0][2]["requestedSchema"]["properties"] == {"name": {"type": "string"}}
    assert records(rec, "elicit_answer") == [{"action": "accept", "content": {"name": "Ada"}}]
    assert "Ada" in str(out)


@pytest.mark.anyio
async def test_elicitation_without_a_callback_or_with_a_failing_one_declines(tmp_path: Path) -> None:
    rec = tmp_path / "e.jsonl"
    async with manager_for({"ask": sdk("elicit", rec)}) as (manager, _):
        await manager.call("c", "mcp__ask__elicit", {})

    async def broken(server: str, request_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("no UI")

    async with manager_for({"ask": sdk("elicit", rec)}, elicit=broken) as (manager, _):
        await manager.call("c", "mcp__ask__elicit", {})
    assert [a["action"] for a in records(rec, "elicit_answer")] == ["decline", "decline"]


# --- sandbox state ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_sandbox_state_update_on_ready_and_on_change(tmp_path: Path) -> None:
    rec = tmp_path / "s.jsonl"
    plain_rec = tmp_path / "plain.jsonl"
    policy = SandboxPolicy("workspace-write", network_access=True)
    servers = {"sb": sdk("sandbox", rec), "plain": sdk("plain", plain_rec)}
    async with manager_for(servers, policy=policy, cwd=tmp_path) as (manager, _):
        updates = records(rec, "sandbox_update")
        assert updates == [
            {
                "_meta": None,
                "sandboxPolicy": policy.to_json(),
                "sandboxCwd": str(tmp_path),
                "codexLinuxSandboxExe": None,
            }
        ]
        await manager.set_sandbox_state(policy, tmp_path)  # unchanged: nothing sent
        await manager.set_sandbox_state(SandboxPolicy("read-only"), tmp_path / "sub")
        updates = records(rec, "sandbox_update")
        assert len(updates) == 2
        assert updates[1]["sandboxPolicy"] == {"type": "read-only"}
        assert updates[1]["sandboxCwd"] == str(tmp_path / "sub")
        await manager.call("c", "mcp__sb__echo", {"text": "x"})
        await manager.call("c", "mcp__plain__echo", {"text": "x"})
    # Servers without the capability never hear about it (and get no _meta either).
    assert records(plain_rec, "sandbox_update") == []
    assert all(not (c["meta"] or {}).get("codex/sandbox-state-meta") for c in records(plain_rec, "call"))
    assert all(not (c["meta"] or {}).get("codex/sandbox-state-meta") for c in records(rec, "call"))


@pytest.mark.anyio
async def test_sandbox_state_meta_on_every_call(tmp_path: Path) -> None:
    from codex_mcp.sandbox.state import parse_sandbox_state

    rec = tmp_path / "m.jsonl"
    policy = SandboxPolicy("workspace-write")
    async with manager_for({"m": sdk("meta", rec)}, policy=policy, cwd=tmp_path) as (manager, _):
        await manager.call("c1", "mcp__m__echo", {"text": "1"})
        await manager.set_sandbox_state(SandboxPolicy("danger-full-access"), tmp_path)
        await manager.call("c2", "mcp__m__echo", {"text": "2"})
    calls = records(rec, "call")
    assert len(calls) == 2
    first = calls[0]["meta"]["codex/sandbox-state-meta"]
    assert first["sandboxCwd"] == tmp_path.as_uri()
    assert first["codexLinuxSandboxExe"] is None and first["useLegacyLandlock"] is False
    assert parse_sandbox_state(first) == (policy, str(tmp_path))
    second = calls[1]["meta"]["codex/sandbox-state-meta"]
    assert second["permissionProfile"] == {"type": "disabled"}
    assert records(rec, "sandbox_update") == []


@pytest.mark.anyio
async def test_cancelled_startup_reaps_the_child_and_a_later_start_retries(tmp_path: Path) -> None:
    pid_fifo = tmp_path / "silent.pid"
    os.mkfifo(pid_fifo)  # the child writes its pid into it: reading it waits for the child
    servers = {
        "s": {**odd("silent"), "args": [*odd("silent")["args"], str(pid_fifo)], "startup_timeout_sec": 30}
    }
    with anyio.fail_after(TEST_LIMIT):
        async with anyio.create_task_group() as tg:
            manager = McpConnectionManager(servers, SandboxPolicy(), tmp_path)
            await manager.open(tg)
            try:
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as inner:
                        inner.start_soon(manager.start)
                        pid = int(await anyio.to_thread.run_sync(pid_fifo.read_text, abandon_on_cancel=True))
                        scope.cancel()
                assert not manager.started
                assert not alive(pid), "the child of a cancelled startup was not reaped"
                # A later start (the next turn) tries again.
                pid_fifo.unlink()
                os.mkfifo(pid_fifo)
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as inner:
                        inner.start_soon(manager.start)
                        second = int(
                            await anyio.to_thread.run_sync(pid_fifo.read_text, abandon_on_cancel=True)
                        )
                        scope.cancel()
                assert second != pid and not alive(second)
            finally:
                await manager.aclose()
