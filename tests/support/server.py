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


CALL_CEILING = "danger-full-access"
"""What the project's tests let a call choose, as the person's own harness would: most tests
pass `sandbox: danger-full-access` to exercise everything but the sandbox.  Tests of the
ceiling itself pass `ceiling=None` (no setting: the default) or another value."""


def ceiling_table(ceiling: str | None, extra: str = "") -> tuple[str, str]:
    """(`extra` with the ceiling merged into its `[codex_mcp]` table, a trailing table if it
    has none); TOML forbids defining the table twice."""
    if ceiling is None:
        return extra, ""
    line = f'max_call_sandbox = "{ceiling}"'
    if "[codex_mcp]" in extra:
        return extra.replace("[codex_mcp]", f"[codex_mcp]\n{line}", 1), ""
    return extra, f"\n[codex_mcp]\n{line}\n"


def write_config(
    home: Path,
    model: ScriptedModel,
    *,
    wire_api: str = "responses",
    extra: str = "",
    ceiling: str | None = CALL_CEILING,
) -> Path:
    """config.toml: provider `mock` at the scripted model, no retries, `mock-model`, and
    `[codex_mcp] max_call_sandbox = ceiling` (None: not set)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    extra, trailer = ceiling_table(ceiling, extra)
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
{trailer}""",
        encoding="utf-8",
    )
    return path


def server_env(codex_home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "CODEX_"))
        and not k.lower().endswith("_proxy")
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
