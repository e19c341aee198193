"""Derive the environment a model-requested command runs with (`[shell_environment_policy]`).

The child never sees our environment as is: it gets exactly the mapping built here
(the spawner clears the environment and sets these variables only). The steps, in order:

1. start set: all of `base_env` (`inherit = "all"`), only the core variables
   (`inherit = "core"`), or nothing (`inherit = "none"`);
2. unless `ignore_default_excludes`, drop every variable that looks like a secret: a name
   matching one of `DEFAULT_EXCLUDE_PATTERNS` (keys, secrets, tokens, passwords,
   credentials, auth, cookies, webhooks, database URLs and DSNs), or a value that carries
   one (`scheme://user:password@host`, a PEM private key, or a well-known token format);
3. drop every name matching a pattern in `exclude`;
4. insert the `set` variables (overriding same-named ones);
5. if `include_only` is non-empty, keep only names matching one of its patterns.

Patterns are shell-style globs (`*`, `?`, `[...]`) matched case-insensitively against
the whole variable name.

Codex drops only `*KEY*`, `*SECRET*` and `*TOKEN*`, which lets `PGPASSWORD`,
`DATABASE_URL=postgres://u:pw@db/x` or `SSH_AUTH_SOCK` through to every command the model
runs.  Commands are the model's; secrets must never reach them, so the default list is wider.
The price is that a command which needs one of these must get it from the person explicitly
(`set`, or `ignore_default_excludes` with an own `exclude` list).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

EnvInherit = Literal["all", "core", "none"]


@dataclass(frozen=True)
class ShellEnvironmentPolicy:
    """`[shell_environment_policy]`: how a command's environment is derived from ours."""

    inherit: EnvInherit = "all"
    ignore_default_excludes: bool = False
    exclude: tuple[str, ...] = ()
    set: Mapping[str, str] = field(default_factory=dict)
    include_only: tuple[str, ...] = ()


__all__ = [
    "CORE_ENV_VARS",
    "DEFAULT_EXCLUDE_PATTERNS",
    "SECRET_VALUE_PATTERNS",
    "EnvInherit",
    "ShellEnvironmentPolicy",
    "build_command_env",
    "looks_secret",
    "matches_any",
]

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

DEFAULT_EXCLUDE_PATTERNS: tuple[str, ...] = (
    "*KEY*",
    "*SECRET*",
    "*TOKEN*",
    "*PASSWORD*",
    "*PASSWD*",
    "*PASSPHRASE*",
    "*_PASS",
    "*PGPASS",
    "SSHPASS",
    "*_PWD",
    "*_PW",
    "*_PAT",
    "*JWT*",
    "*CREDENTIAL*",
    "*CREDS*",
    "AUTH_*",
    "*_AUTH",
    "*_AUTH_*",
    "*AUTHORIZATION*",
    "*COOKIE*",
    "*WEBHOOK*",
    "*DATABASE_URL*",
    "*DSN",
    "*CONNECTION_STRING*",
    "*CONN_STR*",
)
"""Names dropped unless `ignore_default_excludes` is true (`*_PWD` is `MYSQL_PWD`, not `PWD`
or `OLDPWD`; `*_PW` is `DB_PW`, `LDAP_BIND_PW`; `*_PAT` is a personal access token such as
`GITHUB_PAT`; `*_AUTH_*` includes `SSH_AUTH_SOCK`: the agent socket signs with the person's keys)."""

SECRET_VALUE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*:[^/\s@]+@",  # scheme://user:password@host
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----",
        r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub
        r"\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"\bglpat-[A-Za-z0-9_\-]{20,}",  # GitLab
        r"\bsk-[A-Za-z0-9_\-]{20,}",  # OpenAI, Anthropic and others
        r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",  # Slack
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
        r"\bAIza[0-9A-Za-z_\-]{35}",  # Google API keys
        r"\bnpm_[A-Za-z0-9]{36}",
        r"\bhf_[A-Za-z0-9]{30,}",  # Hugging Face
        r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
        r"\bpypi-AgE[A-Za-z0-9_\-]{20,}",  # PyPI upload tokens
        r"\bdo[opr]_v1_[a-f0-9]{32,}",  # DigitalOcean
        r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.",  # a JWT (header.payload.signature)
        r"(?i)^\s*(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{16,}\s*$",  # an Authorization value
    )
)
"""Values dropped (whatever the name) unless `ignore_default_excludes` is true."""


@functools.lru_cache(maxsize=4096)
def looks_secret(name: str, value: str) -> bool:
    """Whether the default excludes drop this variable (by its name or by its value).

    Remembered per (name, value): every command of a session scrubs the same environment,
    and checking ~40 patterns per variable was the largest cost of starting a command."""
    if matches_any(name, DEFAULT_EXCLUDE_PATTERNS):
        return True
    return any(p.search(value) for p in SECRET_VALUE_PATTERNS)


@functools.lru_cache(maxsize=256)
def _globs(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One expression for several case-folded glob patterns (what `fnmatchcase` does for each)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p.upper())})" for p in patterns) or r"(?!)")


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    """True when `name` matches one of the glob `patterns`, ignoring case."""
    return _globs(tuple(patterns)).match(name.upper()) is not None


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
        env = {k: v for k, v in env.items() if not looks_secret(k, v)}

    if policy.exclude:
        env = {k: v for k, v in env.items() if not matches_any(k, policy.exclude)}

    env.update(policy.set)

    if policy.include_only:
        env = {k: v for k, v in env.items() if matches_any(k, policy.include_only)}

    return env
