"""Sandbox state pushed by a Codex client, in both forms Codex clients use.

Older clients send a `codex/sandbox-state/update` request (`sandboxPolicy`, `sandboxCwd`)
that applies to every later call; codex-cli 0.147 instead puts
`_meta["codex/sandbox-state-meta"]` (`permissionProfile`, `sandboxCwd` as a file URI) on each
`tools/call`.  Both become a `PushedSandboxState`.  Anything unparsable is an error for the
request that carried it, never a silent fallback to full access.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_mcp.sandbox.policy import (
    SandboxPolicy,
    SandboxPolicyError,
    file_uri_to_path,
    parse_permission_profile,
    parse_sandbox_policy_json,
)

META_KEY = "codex/sandbox-state-meta"


class SandboxStateError(ValueError):
    pass


@dataclass(frozen=True)
class PushedSandboxState:
    policy: SandboxPolicy
    cwd: Path | None = None
    linux_sandbox_exe: str | None = None


def _cwd(value: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SandboxStateError("`sandboxCwd` must be a path or a file:// URI")
    try:
        return Path(file_uri_to_path(value) if value.startswith("file:") else value)
    except (SandboxPolicyError, ValueError) as exc:
        raise SandboxStateError(f"`sandboxCwd`: {exc}") from exc


def parse_sandbox_state_update(params: dict[str, Any]) -> PushedSandboxState:
    if "sandboxPolicy" not in params:
        raise SandboxStateError("`sandboxPolicy` is required")
    cwd = _cwd(params.get("sandboxCwd"))
    try:
        policy = parse_sandbox_policy_json(params["sandboxPolicy"])
    except (SandboxPolicyError, ValueError, TypeError) as exc:
        raise SandboxStateError(f"`sandboxPolicy`: {exc}") from exc
    exe = params.get("codexLinuxSandboxExe")
    return PushedSandboxState(policy, cwd, exe if isinstance(exe, str) else None)


def parse_sandbox_state_meta(meta: Any) -> PushedSandboxState:
    if not isinstance(meta, dict):
        raise SandboxStateError(f"`_meta.{META_KEY}` must be an object")
    cwd = _cwd(meta.get("sandboxCwd"))
    profile = meta.get("permissionProfile")
    try:
        if profile is not None:
            policy = parse_permission_profile(profile, str(cwd) if cwd else None)
        elif "sandboxPolicy" in meta:
            policy = parse_sandbox_policy_json(meta["sandboxPolicy"])
        else:
            raise SandboxStateError("`permissionProfile` is required")
    except (SandboxPolicyError, ValueError, TypeError) as exc:
        raise SandboxStateError(f"`permissionProfile`: {exc}") from exc
    exe = meta.get("codexLinuxSandboxExe")
    return PushedSandboxState(policy, cwd, exe if isinstance(exe, str) else None)
