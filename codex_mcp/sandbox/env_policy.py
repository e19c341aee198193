"""Derive the environment a model-requested command runs with (`[shell_environment_policy]`).

The child never sees our environment as is: it gets exactly the mapping built here
(the spawner clears the environment and sets these variables only). The steps, in order:

1. start set: all of `base_env` (`inherit = "all"`), only the core variables
   (`inherit = "core"`), or nothing (`inherit = "none"`);
2. unless `ignore_default_excludes`, drop every name matching `*KEY*`, `*SECRET*` or
   `*TOKEN*`;
3. drop every name matching a pattern in `exclude`;
4. insert the `set` variables (overriding same-named ones);
5. if `include_only` is non-empty, keep only names matching one of its patterns.

Patterns are shell-style globs (`*`, `?`, `[...]`) matched case-insensitively against
the whole variable name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from codex_mcp.agent.config.model import ShellEnvironmentPolicy

__all__ = ["CORE_ENV_VARS", "DEFAULT_EXCLUDE_PATTERNS", "build_command_env", "matches_any"]

CORE_ENV_VARS: tuple[str, ...] = (
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "USER",
    "USERNAME",
    "TMPDIR",
    "TEMP",
    "TMP",
)
"""What `inherit = "core"` keeps (exact names; case-insensitive on Windows)."""

DEFAULT_EXCLUDE_PATTERNS: tuple[str, ...] = ("*KEY*", "*SECRET*", "*TOKEN*")
"""Names dropped unless `ignore_default_excludes` is true."""


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    """True when `name` matches one of the glob `patterns`, ignoring case."""
    folded = name.upper()
    return any(fnmatchcase(folded, pattern.upper()) for pattern in patterns)


def _is_core(name: str) -> bool:
    if os.name == "nt":
        return name.upper() in CORE_ENV_VARS
    return name in CORE_ENV_VARS


def build_command_env(policy: ShellEnvironmentPolicy, base_env: Mapping[str, str]) -> dict[str, str]:
    """Return the complete environment for a command under `policy`.

    Pure: reads nothing but its arguments (pass `os.environ` as `base_env`).
    """
    if policy.inherit == "all":
        env = dict(base_env)
    elif policy.inherit == "core":
        env = {name: value for name, value in base_env.items() if _is_core(name)}
    else:
        env = {}

    if not policy.ignore_default_excludes:
        env = {k: v for k, v in env.items() if not matches_any(k, DEFAULT_EXCLUDE_PATTERNS)}

    if policy.exclude:
        env = {k: v for k, v in env.items() if not matches_any(k, policy.exclude)}

    env.update(policy.set)

    if policy.include_only:
        env = {k: v for k, v in env.items() if matches_any(k, policy.include_only)}

    return env
