"""The Streamable HTTP transport against the `mcp` SDK's own HTTP server on 127.0.0.1.

The test binds and listens on the socket itself and hands it to the server process, so
requests sent before the server is up simply wait in the listen backlog: no polling.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.agent.mcp_client import McpConnectionManager
from codex_mcp.agent.mcp_client.config import HttpTransportConfig
from codex_mcp.agent.mcp_client.http import http_headers
from codex_mcp.sandbox.policy import SandboxPolicy

SERVER = Path(__file__).parent / "mcp_servers" / "sdk_server.py"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def serve_http(kind: str, *, json_response: bool = False) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    argv = [sys.executable, str(SERVER), "--kind", kind, "--http-fd", str(sock.fileno())]
    if json_response:
        argv.append("--json")
    proc = subprocess.Popen(argv, pass_fds=(sock.fileno(),), stderr=subprocess.DEVNULL)
    sock.close()
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture
def sse_url() -> Iterator[str]:
    yield from serve_http("elicit")


@pytest.fixture
def json_url() -> Iterator[str]:
    yield from serve_http("plain", json_response=True)


async def run_with(
    servers: dict[str, dict[str, Any]], body: Any, *, env: dict[str, str] | None = None, elicit: Any = None
) -> tuple[McpConnectionManager, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    async def emit(msg: dict[str, Any]) -> None:
        events.append(msg)

    with anyio.fail_after(40):
        async with anyio.create_task_group() as tg:
            manager = McpConnectionManager(
                servers, SandboxPolicy(), Path.cwd(), base_env=env or {}, elicit=elicit
            )
            await manager.open(tg)
            try:
                await manager.start(emit)
                await body(manager)
            finally:
                await manager.aclose()
    return manager, events


@pytest.mark.anyio
async def test_http_server_with_sse_answers_and_elicitation(sse_url: str) -> None:
    asked: list[dict[str, Any]] = []

    async def elicit(server: str, request_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        return {"action": "accept", "content": {"name": "Grace"}}

    async def body(manager: McpConnectionManager) -> None:
        assert manager.ready == ["h"], manager.failed
        names = [s["name"] for s in manager.tool_specs]
        assert "mcp__h__echo" in names and "mcp__h__elicit" in names
        assert await manager.call("c1", "mcp__h__echo", {"text": "over http"}) == "echo: over http"
        out = await manager.call("c2", "mcp__h__elicit", {})
        assert "Grace" in str(out)

    servers = {
        "h": {
            "url": sse_url,
            "bearer_token_env_var": "H_TOKEN",
            "http_headers": {"X-Test": "1"},
            "startup_timeout_sec": 30,
        }
    }
    await run_with(servers, body, env={"H_TOKEN": "secret"}, elicit=elicit)
    assert asked and asked[0]["message"] == "What is your name?"


@pytest.mark.anyio
async def test_http_server_with_json_responses(json_url: str) -> None:
    async def body(manager: McpConnectionManager) -> None:
        assert manager.ready == ["j"], manager.failed
        assert await manager.call("c", "mcp__j__add", {"a": 1, "b": 2}) == '{"sum": 3}'

    await run_with({"j": {"url": json_url, "startup_timeout_sec": 30}}, body)


@pytest.mark.anyio
async def test_http_failures_are_reported() -> None:
    # A port nobody listens on (bound, never listening: connection refused), and a missing token.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:

        async def body(manager: McpConnectionManager) -> None:
            failed = {f["server"]: f["error"] for f in manager.failed}
            assert set(failed) == {"down", "notoken"}
            assert "HTTP request" in failed["down"]
            assert "NO_SUCH_TOKEN" in failed["notoken"]

        servers = {
            "down": {"url": f"http://127.0.0.1:{port}/mcp", "startup_timeout_sec": 5},
            "notoken": {"url": f"http://127.0.0.1:{port}/mcp", "bearer_token_env_var": "NO_SUCH_TOKEN"},
        }
        await run_with(servers, body)
    finally:
        sock.close()


def test_http_headers_from_config_and_environment() -> None:
    config = HttpTransportConfig(
        url="http://127.0.0.1/mcp",
        bearer_token_env_var="TOKEN",
        http_headers={"X-Static": "a"},
        env_http_headers={"X-From-Env": "HEADER_VALUE", "X-Unset": "UNSET"},
    )
    headers = http_headers(config, {"TOKEN": "t0k", "HEADER_VALUE": "v"})
    assert headers == {"X-Static": "a", "X-From-Env": "v", "Authorization": "Bearer t0k"}
    with pytest.raises(ValueError, match="TOKEN"):
        http_headers(config, {})
