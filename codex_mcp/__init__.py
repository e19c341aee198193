"""codex-mcp: the Codex coding agent in Python, served as an MCP server.

The package root re-exports the embedding API and nothing else.  Names are resolved on
first use so that the server's start path (`codex-mcp-server`) does not pay for them.

    from codex_mcp import Codex, load_config
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codex_mcp._lazy import lazy_exports
from codex_mcp._version import __version__

if TYPE_CHECKING:
    from codex_mcp.agent.codex import Codex
    from codex_mcp.agent.config import CallOverrides, Config, load_config
    from codex_mcp.agent.protocol import (
        Event,
        ExecApprovalOp,
        InterruptOp,
        PatchApprovalOp,
        ShutdownOp,
        TextInput,
        UserInputOp,
    )
    from codex_mcp.agent.session import Thread, TurnHandle
    from codex_mcp.errors import (
        CallRefused,
        CodexError,
        ConfigError,
        McpError,
        ModelError,
        RolloutError,
        SandboxUnavailableError,
        ThreadNotFound,
    )

_EXPORTS = {
    "Codex": "codex_mcp.agent.codex",
    "Thread": "codex_mcp.agent.session",
    "TurnHandle": "codex_mcp.agent.session",
    "Config": "codex_mcp.agent.config",
    "CallOverrides": "codex_mcp.agent.config",
    "load_config": "codex_mcp.agent.config",
    "Event": "codex_mcp.agent.protocol",
    "TextInput": "codex_mcp.agent.protocol",
    "UserInputOp": "codex_mcp.agent.protocol",
    "InterruptOp": "codex_mcp.agent.protocol",
    "ExecApprovalOp": "codex_mcp.agent.protocol",
    "PatchApprovalOp": "codex_mcp.agent.protocol",
    "ShutdownOp": "codex_mcp.agent.protocol",
    **{
        name: "codex_mcp.errors"
        for name in (
            "CodexError",
            "CallRefused",
            "ConfigError",
            "McpError",
            "ModelError",
            "RolloutError",
            "SandboxUnavailableError",
            "ThreadNotFound",
        )
    },
}

__all__ = [
    "CallOverrides",
    "CallRefused",
    "Codex",
    "CodexError",
    "Config",
    "ConfigError",
    "Event",
    "ExecApprovalOp",
    "InterruptOp",
    "McpError",
    "ModelError",
    "PatchApprovalOp",
    "RolloutError",
    "SandboxUnavailableError",
    "ShutdownOp",
    "TextInput",
    "Thread",
    "ThreadNotFound",
    "TurnHandle",
    "UserInputOp",
    "__version__",
    "load_config",
]

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
