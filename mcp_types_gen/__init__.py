"""Generator for `codex_mcp/mcp_types.py`, the pydantic models of the MCP wire types.

Run `python -m mcp_types_gen --help`. The input is the official MCP JSON schema (2025-06-18), which is
not part of this repository: it is read from a path outside it and its sha256 is checked against the
pin in `vendor/mcp-schema-2025-06-18.sha256`.
"""

from __future__ import annotations

SCHEMA_VERSION = "2025-06-18"
JSONRPC_VERSION = "2.0"
