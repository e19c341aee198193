"""Model clients: the Responses and Chat Completions wires, SSE, retries and auth.

Names resolve on first use: `provider` and `types` are imported by the config layer on the
server's start path, which must not pay for httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codex_mcp._lazy import lazy_exports

if TYPE_CHECKING:
    from codex_mcp.agent.model.auth import Auth, resolve_auth
    from codex_mcp.agent.model.client import ModelClient, OnRetry
    from codex_mcp.agent.model.retry import backoff

_EXPORTS = {
    "Auth": "codex_mcp.agent.model.auth",
    "resolve_auth": "codex_mcp.agent.model.auth",
    "ModelClient": "codex_mcp.agent.model.client",
    "OnRetry": "codex_mcp.agent.model.client",
    "backoff": "codex_mcp.agent.model.retry",
}

__all__ = ["Auth", "ModelClient", "OnRetry", "backoff", "resolve_auth"]

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
