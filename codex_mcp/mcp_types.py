"""The MCP wire models of the protocol revision the server speaks on the wire.

The models themselves are generated, one module per revision, under `codex_mcp._generated`; this
module only re-exports the one in use, so that code which does not care about the revision has one
stable import.
"""

from codex_mcp._generated.mcp_2025_06_18 import *  # noqa: F403  (a deliberate, complete re-export)
from codex_mcp._generated.mcp_2025_06_18 import __all__ as __all__
