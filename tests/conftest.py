"""Fixtures for the end-to-end tests: a scripted model, a CODEX_HOME, and server processes.

Only tests that ask for these fixtures use them; nothing here is autouse.

Tests are fast in-process units or end-to-end (`e2e`): a test that starts processes (the
server, a client, an MCP server, a sandboxed command) is marked `e2e`, by its module
(`pytestmark`) or, for any test that asks for the server fixtures, here.
`python -m pytest -m "not e2e"` runs the units alone.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.agent.model.transport import ProviderTransport
from tests.support.model_wire import Reply
from tests.support.raw_client import Policy, RawClient
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, initialize, server_env, write_config

pytest_plugins = ["tests.support.parallel"]
"""Parallel workers, and the `alone` marker for tests that need the machine to themselves."""

E2E_FIXTURES = frozenset({"spawn_server", "scripted_model", "codex_home"})
"""Asking for one of these means running the server end to end."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the backend the server uses."""
    return "asyncio"


@pytest.fixture
def mock() -> Iterator[ScriptedModel]:
    """The mock model for the model-client tests: scripted with raw `Reply`s
    (`tests/support/model_wire.py`); unscripted requests get a 599."""
    with ScriptedModel(default=Reply(status=599, body=b"no scripted reply")) as server:
        yield server


@pytest.fixture(params=["direct", "proxied", "httpx"])
async def http(request: pytest.FixtureRequest) -> AsyncIterator[ProviderTransport]:
    """The model client's transport: every model-client test runs over ours, over ours
    through an HTTP proxy on loopback (`tests/support/http_proxy.py`: CONNECT for https
    targets, forwarding for http ones; it relays bytes unchanged, so the provider's bytes
    and connections are what the test scripted), and over httpx (what macOS and Windows
    use)."""
    from codex_mcp.tls import build_ssl_context

    transport: ProviderTransport
    with contextlib.ExitStack() as stack:
        if request.param == "direct":
            from codex_mcp.agent.model.transport.direct import DirectTransport

            transport = DirectTransport(build_ssl_context)
        elif request.param == "proxied":
            from codex_mcp.agent.model.transport.direct import DirectTransport
            from codex_mcp.agent.model.transport.proxies import proxy_settings
            from tests.support.http_proxy import HttpProxy

            proxy = stack.enter_context(HttpProxy())
            settings = proxy_settings({"HTTPS_PROXY": proxy.url(), "HTTP_PROXY": proxy.url()})
            transport = DirectTransport(build_ssl_context, proxies=settings)
        else:
            from codex_mcp.agent.model.transport.via_httpx import HttpxTransport

            transport = HttpxTransport(build_ssl_context)
        try:
            yield transport
        finally:
            await transport.aclose()


@pytest.fixture
def scripted_model() -> Iterator[ScriptedModel]:
    with ScriptedModel() as model:
        yield model


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def codex_home(tmp_path: Path, scripted_model: ScriptedModel) -> Path:
    home = tmp_path / "codex-home"
    write_config(home, scripted_model)
    return home


@pytest.fixture
def spawn_server(codex_home: Path, workspace: Path, tmp_path: Path) -> Iterator[ServerFactory]:
    """`spawn_server(*extra_args, init=True, capabilities=None, policy=..., env=...)` -> RawClient."""
    clients: list[RawClient] = []

    def spawn(
        *extra: str,
        init: bool = True,
        capabilities: dict[str, Any] | None = None,
        policy: Policy = "accept-mcp",
        env: dict[str, str] | None = None,
    ) -> RawClient:
        full_env = server_env(codex_home)
        full_env.update(env or {})
        client = RawClient(
            [sys.executable, "-m", "codex_mcp", *extra],
            env=full_env,
            cwd=workspace,
            log_path=tmp_path / f"server-{len(clients)}.stderr.log",
            policy=policy,
        )
        clients.append(client)
        if init:
            initialize(client, capabilities)
        return client

    yield spawn
    for client in clients:
        client.kill()
        text = client.stderr_text()
        if text.strip():
            # Shown by pytest only when the test failed.
            print(f"--- stderr of {client.log_path.name} ---\n{text[-8000:]}")
