"""Fixtures for the end-to-end tests: a scripted model, a CODEX_HOME, and server processes.

Only tests that ask for these fixtures use them; nothing here is autouse.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.model_mock_server import MockServer, serve_mock
from tests.support.raw_client import Policy, RawClient
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, initialize, server_env, write_config


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the backend the server uses."""
    return "asyncio"


@pytest.fixture
def mock() -> Iterator[MockServer]:
    """The model-client tests' scripted HTTP server (tests/model_mock_server.py)."""
    with serve_mock() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


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
