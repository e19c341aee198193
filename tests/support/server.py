"""Starting the server under test: its config.toml, its environment, the handshake."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.raw_client import RawClient
from tests.support.scripted_model import ScriptedModel

ServerFactory = Callable[..., RawClient]
"""The `spawn_server` fixture: `(*extra_args, init=True, capabilities=None, policy=..., env=...)`."""

PROTOCOL_VERSION = "2025-06-18"
ELICITATION_CAPS: dict[str, Any] = {"elicitation": {}}


def write_config(home: Path, model: ScriptedModel, *, wire_api: str = "responses", extra: str = "") -> Path:
    """config.toml: provider `mock` at the scripted model, no retries, `mock-model`."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(
        f"""model = "mock-model"
model_provider = "mock"

{extra}

[model_providers.mock]
name = "mock"
base_url = "{model.base_url}"
env_key = "MOCK_API_KEY"
wire_api = "{wire_api}"
request_max_retries = 0
stream_max_retries = 0
""",
        encoding="utf-8",
    )
    return path


def server_env(codex_home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "CODEX_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update(
        CODEX_HOME=str(codex_home),
        MOCK_API_KEY="test-key",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return env


def initialize(
    client: RawClient, capabilities: dict[str, Any] | None = None, version: str = PROTOCOL_VERSION
) -> dict[str, Any]:
    """initialize + notifications/initialized; returns the initialize result."""
    response = client.call(
        "initialize",
        {
            "protocolVersion": version,
            "capabilities": ELICITATION_CAPS if capabilities is None else capabilities,
            "clientInfo": {"name": "codex-mcp-tests", "version": "0.0.1"},
        },
    )
    assert "result" in response, response
    client.notify("notifications/initialized")
    return dict(response["result"])
