"""Dev-only generator of `codex_mcp/_generated/`: everything in this project that is not hand-written.

`python -m mcp_types_gen` writes, and `python -m mcp_types_gen --check` verifies, the pydantic models
of the MCP wire types for every supported protocol revision (from the official JSON schemas, which are
not part of this repository: they are read from outside it and their sha256 is checked against the
pins in `vendor/`), the `tools/list` catalogue and the server icon. Nothing in `codex_mcp` imports
this package (a test checks), so the installed server never needs it.
"""

from __future__ import annotations

JSONRPC_VERSION = "2.0"
