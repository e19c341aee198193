"""`[mcp_servers.<name>]` tables, validated into one frozen value per server.

The loader hands us the raw tables; this module decides what each entry means.  A bad
entry never stops the thread: it becomes a `ConfigProblem` (reported as a failed server
at startup) and the other servers still start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
DEFAULT_STARTUP_TIMEOUT_SEC = 10.0
DEFAULT_TOOL_TIMEOUT_SEC = 60.0


@dataclass(frozen=True)
class StdioTransportConfig:
    """An MCP server we start as a process and talk to over its stdin and stdout."""

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    env_vars: tuple[str, ...] = ()
    """Names of variables of our own environment to pass on (besides the core set)."""
    cwd: str | None = None


@dataclass(frozen=True)
class HttpTransportConfig:
    """An MCP server we reach over Streamable HTTP."""

    url: str
    bearer_token_env_var: str | None = None
    http_headers: Mapping[str, str] = field(default_factory=dict)
    env_http_headers: Mapping[str, str] = field(default_factory=dict)
    """Header name -> name of the environment variable holding its value."""


@dataclass(frozen=True)
class McpServerConfig:
    """One `[mcp_servers.<name>]` table: how to reach the server, its time limits, which
    tools to offer."""

    name: str
    transport: StdioTransportConfig | HttpTransportConfig
    startup_timeout_sec: float = DEFAULT_STARTUP_TIMEOUT_SEC
    tool_timeout_sec: float = DEFAULT_TOOL_TIMEOUT_SEC
    enabled: bool = True
    enabled_tools: tuple[str, ...] | None = None
    disabled_tools: tuple[str, ...] = ()

    def tool_allowed(self, tool: str) -> bool:
        if self.enabled_tools is not None and tool not in self.enabled_tools:
            return False
        return tool not in self.disabled_tools


@dataclass(frozen=True)
class ConfigProblem:
    """An `[mcp_servers.<name>]` table we could not use, and why (reported, the others still
    start)."""

    server: str
    error: str


class _Invalid(ValueError):
    pass


def _string(entry: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise _Invalid(f"`{key}` is required")
        return None
    if not isinstance(value, str) or not value:
        raise _Invalid(f"`{key}` must be a non-empty string")
    return value


def _string_list(entry: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"`{key}` must be a list of strings")
    return tuple(value)


def _string_map(entry: Mapping[str, Any], key: str) -> dict[str, str]:
    value = entry.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _Invalid(f"`{key}` must be a table of strings")
    return dict(value)


def _seconds(entry: Mapping[str, Any], key: str, ms_key: str | None, default: float) -> float:
    value: Any = entry.get(key)
    scale = 1.0
    if value is None and ms_key is not None and entry.get(ms_key) is not None:
        value, scale, key = entry[ms_key], 0.001, ms_key
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"`{key}` must be a number")
    seconds = float(value) * scale
    if not seconds > 0 or math.isinf(seconds):
        raise _Invalid(f"`{key}` must be a positive, finite number")
    return seconds


def parse_server(name: str, entry: Mapping[str, Any]) -> McpServerConfig:
    """One entry; raises ValueError with a message for the user when it is unusable."""
    if not NAME_PATTERN.match(name):
        raise _Invalid(f"Invalid MCP server name '{name}': must match pattern ^[a-zA-Z0-9_-]+$")
    if not isinstance(entry, Mapping):
        raise _Invalid("the entry must be a table")
    transport: StdioTransportConfig | HttpTransportConfig
    url = _string(entry, "url")
    command = _string(entry, "command")
    if url is not None and command is not None:
        raise _Invalid("set either `command` (stdio) or `url` (streamable HTTP), not both")
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise _Invalid("`url` must be an http:// or https:// URL")
        transport = HttpTransportConfig(
            url=url,
            bearer_token_env_var=_string(entry, "bearer_token_env_var"),
            http_headers=_string_map(entry, "http_headers"),
            env_http_headers=_string_map(entry, "env_http_headers"),
        )
    elif command is not None:
        transport = StdioTransportConfig(
            command=command,
            args=_string_list(entry, "args") or (),
            env=_string_map(entry, "env"),
            env_vars=_string_list(entry, "env_vars") or (),
            cwd=_string(entry, "cwd"),
        )
    else:
        raise _Invalid("either `command` (stdio) or `url` (streamable HTTP) is required")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _Invalid("`enabled` must be a boolean")
    return McpServerConfig(
        name=name,
        transport=transport,
        startup_timeout_sec=_seconds(
            entry, "startup_timeout_sec", "startup_timeout_ms", DEFAULT_STARTUP_TIMEOUT_SEC
        ),
        tool_timeout_sec=_seconds(entry, "tool_timeout_sec", None, DEFAULT_TOOL_TIMEOUT_SEC),
        enabled=enabled,
        enabled_tools=_string_list(entry, "enabled_tools"),
        disabled_tools=_string_list(entry, "disabled_tools") or (),
    )


def parse_servers(
    raw: Mapping[str, Mapping[str, Any]],
) -> tuple[list[McpServerConfig], list[ConfigProblem]]:
    """All entries, sorted by name: the usable (enabled) ones and the problems of the rest."""
    servers: list[McpServerConfig] = []
    problems: list[ConfigProblem] = []
    for name in sorted(raw):
        try:
            server = parse_server(name, raw[name])
        except ValueError as exc:
            message = str(exc)
            if not message.startswith("Invalid MCP server name"):
                message = f"invalid configuration for MCP server '{name}': {message}"
            problems.append(ConfigProblem(name, message))
            continue
        if server.enabled:
            servers.append(server)
    return servers, problems
