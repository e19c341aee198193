"""codex-mcp: the Codex coding agent in Python, served as an MCP server.

The package root re-exports the embedding API and nothing else.  Names are resolved on
first use so that the server's start path (`codex-mcp-server`) does not pay for them.

    from codex_mcp import Codex

    async with Codex() as codex:
        thread = await codex.start_thread(sandbox="workspace-write")
        result = await thread.run("fix the failing test")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codex_mcp._lazy import lazy_exports
from codex_mcp._version import __version__

if TYPE_CHECKING:
    from codex_mcp.agent.codex import Codex
    from codex_mcp.agent.config import CallOverrides, Config, load_config
    from codex_mcp.agent.events import ApprovalRequest, ElicitationRequest, Event, ReviewDecision
    from codex_mcp.agent.protocol import (
        ExecApprovalOp,
        ImageInput,
        InterruptOp,
        LocalImageInput,
        PatchApprovalOp,
        ResolveElicitationOp,
        ShutdownOp,
        TextInput,
        UserInputOp,
    )
    from codex_mcp.agent.thread import Thread, TurnResult
    from codex_mcp.agent.turn_stream import TurnEvents
    from codex_mcp.errors import (
        CallRefused,
        CodexError,
        ConfigError,
        McpError,
        ModelError,
        RolloutError,
        SandboxUnavailableError,
        ThreadClosed,
        ThreadNotFound,
    )


def _from(module: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names, module)


_EXPORTS = {
    **_from("codex_mcp.agent.codex", "Codex"),
    **_from("codex_mcp.agent.thread", "Thread", "TurnResult"),
    **_from("codex_mcp.agent.turn_stream", "TurnEvents"),
    **_from("codex_mcp.agent.config", "Config", "CallOverrides", "load_config"),
    **_from("codex_mcp.agent.events", "Event", "ApprovalRequest", "ElicitationRequest", "ReviewDecision"),
    **_from(
        "codex_mcp.agent.protocol",
        "TextInput",
        "ImageInput",
        "LocalImageInput",
        "UserInputOp",
        "InterruptOp",
        "ExecApprovalOp",
        "PatchApprovalOp",
        "ResolveElicitationOp",
        "ShutdownOp",
    ),
    **_from(
        "codex_mcp.errors",
        "CodexError",
        "CallRefused",
        "ConfigError",
        "McpError",
        "ModelError",
        "RolloutError",
        "SandboxUnavailableError",
        "ThreadClosed",
        "ThreadNotFound",
    ),
}

__all__ = [
    "ApprovalRequest",
    "CallOverrides",
    "CallRefused",
    "Codex",
    "CodexError",
    "Config",
    "ConfigError",
    "ElicitationRequest",
    "Event",
    "ExecApprovalOp",
    "ImageInput",
    "InterruptOp",
    "LocalImageInput",
    "McpError",
    "ModelError",
    "PatchApprovalOp",
    "ResolveElicitationOp",
    "ReviewDecision",
    "RolloutError",
    "SandboxUnavailableError",
    "ShutdownOp",
    "TextInput",
    "Thread",
    "ThreadClosed",
    "ThreadNotFound",
    "TurnEvents",
    "TurnResult",
    "UserInputOp",
    "__version__",
    "load_config",
]

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
