"""codex-mcp: the Codex coding agent in Python, served as an MCP server.

The package root re-exports the embedding API and nothing else.  Names are resolved on
first use so that the server's start path (`codex-mcp-server`) does not pay for them.

    from codex_mcp import Codex

    async with Codex() as codex:
        thread = await codex.start_thread(sandbox="workspace-write")
        result = await thread.run("fix the failing test")

`python -m codex_mcp` puts the directory it was started in first on the module search path,
and the server is usually started in a workspace that its sandboxed commands may write: a
`typing.py` or `logging.py` left there would then run inside the server, unsandboxed, at
its next start.  So the very first thing this package does, when it is being located for
`-m` (argv[0] is "-m" then), is to drop that entry; only builtin and frozen modules are
imported before (no `from __future__`, whose module would be looked up there too).
"""

import sys as _sys

if _sys.argv[:1] == ["-m"] and _sys.path:
    import os as _os

    if _sys.path[0] in ("", _os.getcwd()):
        del _sys.path[0]

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
        ThreadBusy,
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
        "ThreadBusy",
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
    "ThreadBusy",
    "ThreadClosed",
    "ThreadNotFound",
    "TurnEvents",
    "TurnResult",
    "UserInputOp",
    "__version__",
    "load_config",
]

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
