"""The agent as an MCP client: tools of the servers configured under `[mcp_servers.<name>]`.

`McpConnectionManager` is the entry point (`lifecycle.ThreadMcp` holds one over a thread's
life); the rest are its parts (config, transports, session, tool naming and schemas, model
output).  The sandbox-state shapes pushed to servers are `codex_mcp.sandbox.state`.
"""

from __future__ import annotations

from codex_mcp.agent.mcp_client.manager import ElicitForward, McpConnectionManager
from codex_mcp.agent.mcp_client.tools import PREFIX as TOOL_PREFIX

__all__ = ["TOOL_PREFIX", "ElicitForward", "McpConnectionManager"]
