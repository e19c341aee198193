"""The MCP wire models of the newest protocol revision we speak (the one most clients negotiate).

The models themselves are generated, one module per revision, under `codex_mcp._generated`; this
module only re-exports the newest so that code which does not care about the revision has one stable
import. Where what we send differs between revisions (elicitation forms, icons), the sending code
follows the connection's negotiated version itself and imports the revision's module by name.
"""

from codex_mcp._generated.mcp_2025_11_25 import *  # noqa: F403  (a deliberate, complete re-export)
from codex_mcp._generated.mcp_2025_11_25 import __all__ as __all__
