"""codex-mcp: the Codex coding agent in Python, served as an MCP server.

The package root re-exports the embedding API and nothing else.  Names are resolved on
first use so that the server's start path (`codex-mcp-server`) does not pay for them.

    from codex_mcp import Codex, load_config

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
    from codex_mcp.agent.codex import Codex, ThreadNotFound
    from codex_mcp.agent.config import CallOverrides, Config, ConfigError, load_config
    from codex_mcp.agent.model.types import ModelError
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

_EXPORTS = {
    "Codex": "codex_mcp.agent.codex",
    "ThreadNotFound": "codex_mcp.agent.codex",
    "Thread": "codex_mcp.agent.session",
    "TurnHandle": "codex_mcp.agent.session",
    "Config": "codex_mcp.agent.config",
    "ConfigError": "codex_mcp.agent.config",
    "CallOverrides": "codex_mcp.agent.config",
    "load_config": "codex_mcp.agent.config",
    "ModelError": "codex_mcp.agent.model.types",
    "Event": "codex_mcp.agent.protocol",
    "TextInput": "codex_mcp.agent.protocol",
    "UserInputOp": "codex_mcp.agent.protocol",
    "InterruptOp": "codex_mcp.agent.protocol",
    "ExecApprovalOp": "codex_mcp.agent.protocol",
    "PatchApprovalOp": "codex_mcp.agent.protocol",
    "ShutdownOp": "codex_mcp.agent.protocol",
}

__all__ = [
    "CallOverrides",
    "Codex",
    "Config",
    "ConfigError",
    "Event",
    "ExecApprovalOp",
    "InterruptOp",
    "ModelError",
    "PatchApprovalOp",
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
