"""One exception hierarchy: every error the package raises on purpose is a `CodexError`,
and each keeps the standard base it had (so existing `except` clauses still catch it)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import codex_mcp
from codex_mcp import errors


@pytest.mark.parametrize(
    ("name", "also"),
    [
        ("ConfigError", None),
        ("CallRefused", errors.ConfigError),
        ("ModelError", None),
        ("ThreadNotFound", LookupError),
        ("RolloutError", None),
        ("ThreadClosed", RuntimeError),
        ("SandboxUnavailableError", RuntimeError),
        ("McpError", None),
        ("McpTimeout", errors.McpError),
    ],
)
def test_every_error_is_a_codex_error_and_keeps_its_standard_base(name: str, also: type | None) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, errors.CodexError)
    if also is not None:
        assert issubclass(cls, also)


def test_the_modules_that_raise_them_use_the_same_classes() -> None:
    from codex_mcp.agent.config import CallRefused, ConfigError
    from codex_mcp.agent.mcp_client.client import McpError, McpTimeout
    from codex_mcp.agent.model.types import ModelError
    from codex_mcp.agent.rollout import RolloutError
    from codex_mcp.sandbox.select import SandboxUnavailableError

    assert (ConfigError, CallRefused, ModelError, RolloutError) == (
        errors.ConfigError,
        errors.CallRefused,
        errors.ModelError,
        errors.RolloutError,
    )
    assert (McpError, McpTimeout, SandboxUnavailableError) == (
        errors.McpError,
        errors.McpTimeout,
        errors.SandboxUnavailableError,
    )


def test_the_package_root_re_exports_them() -> None:
    for name in ("CodexError", "ConfigError", "ModelError", "ThreadNotFound", "McpError", "RolloutError"):
        assert getattr(codex_mcp, name) is getattr(errors, name)
        assert name in codex_mcp.__all__


def test_config_error_messages_are_unchanged() -> None:
    from pathlib import Path

    assert str(errors.ConfigError("bad", file=Path("/c.toml"), line=3)) == "/c.toml:3: bad"
    assert str(errors.ConfigError("bad", origin="cli")) == "bad (set by a server `-c` override)"
    refused = errors.CallRefused("no", key="k", setting="s")
    assert (refused.key, refused.setting, refused.origin) == ("k", "s", "call")


def test_importing_the_package_root_does_not_import_the_errors_module() -> None:
    code = "import sys, codex_mcp; print('codex_mcp.errors' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
