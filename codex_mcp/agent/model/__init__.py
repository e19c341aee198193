"""Model clients: the Responses and Chat Completions wires, SSE, retries and auth."""

from codex_mcp.agent.model.auth import Auth, resolve_auth
from codex_mcp.agent.model.client import ModelClient, OnRetry
from codex_mcp.agent.model.retry import backoff

__all__ = ["Auth", "ModelClient", "OnRetry", "backoff", "resolve_auth"]
