"""The official `mcp` SDK client (`ClientSession` over stdio) against the real server."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio
import mcp.types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.support.scripted_model import ScriptedModel
from tests.support.server import server_env

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(40)]

FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}
SDK_TIMEOUT = 30


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def errlog(tmp_path: Path) -> Iterator[TextIO]:
    """The server's stderr; printed at teardown (pytest shows it for failed tests)."""
    path = tmp_path / "sdk-server.stderr.log"
    with open(path, "w") as handle:
        yield handle
    text = path.read_text(errors="replace")
    if text.strip():
        print(f"--- server stderr ---\n{text[-8000:]}")


@asynccontextmanager
async def sdk_session(
    codex_home: Path, workspace: Path, errlog: TextIO, elicitation: Callable[..., Any] | None = None
) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "codex_mcp"], env=server_env(codex_home), cwd=workspace
    )
    async with (
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write, elicitation_callback=elicitation) as session,
    ):
        yield session


async def test_initialize_and_list_tools(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, errlog: TextIO
) -> None:
    with anyio.fail_after(SDK_TIMEOUT):
        async with sdk_session(codex_home, workspace, errlog) as session:
            init = await session.initialize()
            assert init.server_info.name == "codex-mcp-server"
            assert init.protocol_version == "2025-11-25", "the SDK asks for 2025-11-25; we speak it"
            assert init.capabilities.tools is not None
            assert init.server_info.icons and init.server_info.icons[0].src.startswith("data:image/png;")
            listed = await session.list_tools()
            tools = {t.name: t for t in listed.tools}
            assert set(tools) == {"codex", "codex-reply"}
            codex = tools["codex"]
            assert codex.title == "Codex"
            assert codex.icons and codex.icons[0].mime_type == "image/png"
            assert codex.input_schema["required"] == ["prompt"]
            assert "approval-policy" in codex.input_schema["properties"]
            assert codex.output_schema is not None
            assert set(codex.output_schema["required"]) == {"threadId", "content"}
            assert "threadId" in tools["codex-reply"].input_schema["properties"]


async def test_call_codex_with_progress_then_reply(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, errlog: TextIO
) -> None:
    scripted_model.text("Hello SDK")
    scripted_model.text("Hello again")
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    with anyio.fail_after(SDK_TIMEOUT):
        async with sdk_session(codex_home, workspace, errlog) as session:
            await session.initialize()
            result = await session.call_tool(
                "codex", {"prompt": "hi from the sdk", **FULL}, progress_callback=on_progress
            )
            assert isinstance(result, types.CallToolResult)
            assert not result.is_error
            assert result.structured_content is not None
            assert result.structured_content["content"] == "Hello SDK"
            thread_id = result.structured_content["threadId"]
            assert isinstance(result.content[0], types.TextContent)
            assert result.content[0].text == "Hello SDK"

            again = await session.call_tool("codex-reply", {"threadId": thread_id, "prompt": "and again"})
            assert isinstance(again, types.CallToolResult)
            assert not again.is_error
            assert again.structured_content == {"threadId": thread_id, "content": "Hello again"}

    assert progress, "no progress reached the SDK's callback"
    values = [p[0] for p in progress]
    assert values == sorted(set(values)), values
    assert all(p[2] for p in progress)
    second = scripted_model.wait_requests(2)[1]
    assert second.last_user_text() == "and again"
    assert "Hello SDK" in str(second.items())


async def test_elicitation_callback_approves_a_command(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, errlog: TextIO
) -> None:
    scripted_model.shell("touch made-by-sdk.txt")
    scripted_model.text("made it")
    asked: list[Any] = []

    async def approve(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept", content={"decision": "approved"})

    with anyio.fail_after(SDK_TIMEOUT):
        async with sdk_session(codex_home, workspace, errlog, elicitation=approve) as session:
            await session.initialize()
            result = await session.call_tool(
                "codex",
                {"prompt": "make a file", "sandbox": "danger-full-access", "approval-policy": "untrusted"},
            )
    assert isinstance(result, types.CallToolResult)
    assert not result.is_error
    assert result.structured_content is not None and result.structured_content["content"] == "made it"
    assert len(asked) == 1
    assert "touch made-by-sdk.txt" in asked[0].message
    assert asked[0].mode == "form"
    decision = asked[0].requested_schema["properties"]["decision"]
    assert decision["default"] == "denied", "an untouched form must deny"
    assert {o["const"] for o in decision["oneOf"]} == {"approved", "approved_for_session", "denied", "abort"}
    assert (workspace / "made-by-sdk.txt").exists()


async def test_elicitation_decline_through_the_sdk(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path, errlog: TextIO
) -> None:
    call_id = scripted_model.shell("touch refused-by-sdk.txt")
    scripted_model.text("refused")

    async def decline(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    with anyio.fail_after(SDK_TIMEOUT):
        async with sdk_session(codex_home, workspace, errlog, elicitation=decline) as session:
            await session.initialize()
            result = await session.call_tool(
                "codex", {"prompt": "try", "sandbox": "danger-full-access", "approval-policy": "untrusted"}
            )
    assert isinstance(result, types.CallToolResult)
    assert result.structured_content is not None and result.structured_content["content"] == "refused"
    assert not (workspace / "refused-by-sdk.txt").exists()
    assert "rejected" in scripted_model.call_output(call_id)
