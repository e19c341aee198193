"""The sandbox state we pass on to MCP servers that ask for it, in both Codex forms.

A server that runs commands for the model (another Codex, a shell server) should apply the
same sandbox as our own turn, so it is told the turn's policy and cwd:

* `codex/sandbox-state` servers get a `codex/sandbox-state/update` request with the policy
  JSON (agent-core.md section 10);
* `codex/sandbox-state-meta` servers get `_meta["codex/sandbox-state-meta"]` on every
  `tools/call`, with a `permissionProfile` shaped as codex-cli 0.147 sends it
  (reference-server.md section 13b).

Pure functions: the manager decides when to send.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codex_mcp.sandbox.policy import PROTECTED_SUBPATHS, SandboxPolicy

CAPABILITY_UPDATE = "codex/sandbox-state"
CAPABILITY_META = "codex/sandbox-state-meta"
UPDATE_METHOD = "codex/sandbox-state/update"
META_KEY = CAPABILITY_META

_ROOT_READ: dict[str, Any] = {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"}
# The order codex-cli 0.147 uses for the read-only carve-outs.
_CARVE_OUTS = (".git", ".agents", ".codex")
assert set(_CARVE_OUTS) == set(PROTECTED_SUBPATHS)


def _special(kind: str, access: str) -> dict[str, Any]:
    return {"path": {"type": "special", "value": {"kind": kind}}, "access": access}


def _path(path: str, access: str, **extra: Any) -> dict[str, Any]:
    return {"path": {"type": "path", "path": path}, "access": access, **extra}


def permission_profile(policy: SandboxPolicy, cwd: Path) -> dict[str, Any]:
    """`policy` for a turn in `cwd` as a 0.147 `permissionProfile`."""
    if policy.mode == "danger-full-access":
        return {"type": "disabled"}
    entries: list[dict[str, Any]] = [dict(_ROOT_READ)]
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
