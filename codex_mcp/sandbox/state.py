"""Sandbox state between Codex clients and servers: the one place for its names and shapes.

A Codex client tells the server it calls which sandbox to apply; we are such a server (for our
own clients) and such a client (for the agent's MCP servers).  Both forms exist:

* `codex/sandbox-state`: a `codex/sandbox-state/update` request (`sandboxPolicy`,
  `sandboxCwd`) that applies to every later call;
* `codex/sandbox-state-meta`: `_meta["codex/sandbox-state-meta"]` on each `tools/call`, with a
  `permissionProfile` and `sandboxCwd` as a file URI (codex-cli 0.147).

Reading: `parse_sandbox_state_update` / `parse_sandbox_state_meta` give a `PushedSandboxState`
(anything unparsable is an error for the request that carried it, never a silent fallback to
full access); `parse_sandbox_state` reads either form.  Writing: `sandbox_state_update_params`
and `sandbox_state_meta` for a turn's policy and cwd.  The policy pieces themselves are parsed
by `policy` (pure functions); this module imports it only when it parses or writes, so the
handshake can name the capabilities without loading it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codex_mcp.sandbox.policy import SandboxPolicy

CAPABILITY_UPDATE = "codex/sandbox-state"
"""The experimental capability of servers that take `codex/sandbox-state/update`."""
CAPABILITY_META = "codex/sandbox-state-meta"
"""The experimental capability of servers that read the state from each call's `_meta`."""
META_KEY = CAPABILITY_META
"""The `_meta` key of a `tools/call` that carries the state."""
UPDATE_METHOD = "codex/sandbox-state/update"

# The order codex-cli 0.147 uses for the read-only carve-outs.
_CARVE_OUTS = (".git", ".agents", ".codex")


class SandboxStateError(ValueError):
    pass


@dataclass(frozen=True)
class PushedSandboxState:
    """The sandbox an MCP client told us to use (its `codex/sandbox-state` message)."""

    policy: SandboxPolicy
    cwd: Path | None = None
    linux_sandbox_exe: str | None = None


# --- reading ------------------------------------------------------------------------------


def _cwd(value: Any) -> Path | None:
    from codex_mcp.sandbox.policy import SandboxPolicyError, file_uri_to_path

    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SandboxStateError("`sandboxCwd` must be a path or a file:// URI")
    try:
        return Path(file_uri_to_path(value) if value.startswith("file:") else value)
    except (SandboxPolicyError, ValueError) as exc:
        raise SandboxStateError(f"`sandboxCwd`: {exc}") from exc


def parse_sandbox_state_update(params: dict[str, Any]) -> PushedSandboxState:
    from codex_mcp.sandbox.policy import SandboxPolicyError, parse_sandbox_policy_json

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
    from codex_mcp.sandbox.policy import (
        SandboxPolicyError,
        parse_permission_profile,
        parse_sandbox_policy_json,
    )

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


def parse_sandbox_state(params: object) -> tuple[SandboxPolicy, str | None]:
    """(policy, cwd) from either form (`sandboxPolicy` or `permissionProfile`).

    `sandboxCwd` may be a path or a `file://` URI; it is returned as a path (or None).
    Raises `SandboxPolicyError`.
    """
    from codex_mcp.sandbox.policy import (
        SandboxPolicyError,
        file_uri_to_path,
        parse_permission_profile,
        parse_sandbox_policy_json,
    )

    if not isinstance(params, dict):
        raise SandboxPolicyError("sandbox state must be a JSON object")
    raw_cwd = params.get("sandboxCwd")
    if raw_cwd is not None and not isinstance(raw_cwd, str):
        raise SandboxPolicyError(f"sandboxCwd must be a string, got {raw_cwd!r}")
    cwd = os.path.normpath(file_uri_to_path(raw_cwd)) if raw_cwd else None
    if params.get("sandboxPolicy") is not None:
        return parse_sandbox_policy_json(params["sandboxPolicy"]), cwd
    if params.get("permissionProfile") is not None:
        return parse_permission_profile(params["permissionProfile"], cwd=cwd), cwd
    raise SandboxPolicyError("sandbox state has neither 'sandboxPolicy' nor 'permissionProfile'")


# --- writing ------------------------------------------------------------------------------


def _special(kind: str, access: str) -> dict[str, Any]:
    return {"path": {"type": "special", "value": {"kind": kind}}, "access": access}


def _path(path: str, access: str, **extra: Any) -> dict[str, Any]:
    return {"path": {"type": "path", "path": path}, "access": access, **extra}


def permission_profile(policy: SandboxPolicy, cwd: Path) -> dict[str, Any]:
    """`policy` for a turn in `cwd` as a 0.147 `permissionProfile`."""
    if policy.mode == "danger-full-access":
        return {"type": "disabled"}
    entries: list[dict[str, Any]] = [_special("root", "read")]
    network = "restricted"
    if policy.mode == "workspace-write":
        entries.append(_path(str(cwd), "write"))
        entries.extend(_path(root, "write") for root in policy.writable_roots if root != str(cwd))
        if not policy.exclude_slash_tmp:
            entries.append(_special("slash_tmp", "write"))
        if not policy.exclude_tmpdir_env_var:
            entries.append(_special("tmpdir", "write"))
        entries.extend(_path(str(cwd / name), "read", missing_path_behavior="skip") for name in _CARVE_OUTS)
        if policy.network_access:
            network = "enabled"
    return {"type": "managed", "file_system": {"type": "restricted", "entries": entries}, "network": network}


def sandbox_state_meta(policy: SandboxPolicy, cwd: Path) -> dict[str, Any]:
    """The value of `_meta["codex/sandbox-state-meta"]` on a `tools/call`."""
    return {
        "permissionProfile": permission_profile(policy, cwd),
        "sandboxCwd": cwd.as_uri(),
        "codexLinuxSandboxExe": None,
        "useLegacyLandlock": False,
    }


def sandbox_state_update_params(policy: SandboxPolicy, cwd: Path) -> dict[str, Any]:
    """The params of a `codex/sandbox-state/update` request."""
    return {"sandboxPolicy": policy.to_json(), "sandboxCwd": str(cwd), "codexLinuxSandboxExe": None}


def declared(capabilities: Any, name: str) -> bool:
    """Whether an initialize result's `capabilities` declare the experimental `name`."""
    if not isinstance(capabilities, dict):
        return False
    experimental = capabilities.get("experimental")
    return isinstance(experimental, dict) and name in experimental
