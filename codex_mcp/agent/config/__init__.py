"""Configuration: config.toml, profiles, `-c` overrides and per-call overrides -> `Config`.

Importing this package is cheap: no httpx/pydantic, and tomlkit / tomllib are imported
only when a file or an override value is actually parsed.
"""

from codex_mcp.agent.config.loader import CallOverrides, load_config, load_config_tree, resolve_config
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.config.overrides import apply_overrides, json_overrides, parse_override
from codex_mcp.errors import CallRefused, ConfigError

__all__ = [
    "CallOverrides",
    "CallRefused",
    "Config",
    "ConfigError",
    "apply_overrides",
    "json_overrides",
    "load_config",
    "load_config_tree",
    "parse_override",
    "resolve_config",
]
