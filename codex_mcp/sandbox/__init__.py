"""The sandbox: policy values, command/patch safety, and the platform sandboxes.

Public API (import from here):

* policy: `ApprovalPolicy`, `SandboxMode`, `SandboxPolicy`, `SandboxPolicyError`,
  `parse_sandbox_policy_json`, `parse_permission_profile`, `parse_sandbox_state`, `file_uri_to_path`,
  `writable_roots_for`
* safety: `is_known_safe_command`, `assess_command_safety`, `assess_patch_safety`,
  `SafetyCheck` = `AutoApprove | AskUser | Reject`
* running: `prepare_command` -> `PreparedCommand`, `sandbox_available`, `probe_backends`,
  `SandboxUnavailableError`,
  `classify_result`, `is_likely_sandbox_denied`
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codex_mcp._lazy import lazy_exports

if TYPE_CHECKING:
    from codex_mcp.sandbox.classify import classify_result
    from codex_mcp.sandbox.denial import is_likely_sandbox_denied
    from codex_mcp.sandbox.policy import (
        ApprovalPolicy,
        SandboxMode,
        SandboxPolicy,
        SandboxPolicyError,
        file_uri_to_path,
        parse_permission_profile,
        parse_sandbox_policy_json,
        writable_roots_for,
    )
    from codex_mcp.sandbox.safety import (
        AskUser,
        AutoApprove,
        Reject,
        SafetyCheck,
        assess_command_safety,
        assess_patch_safety,
        is_known_safe_command,
    )
    from codex_mcp.sandbox.select import (
        PreparedCommand,
        ProbeReport,
        SandboxUnavailableError,
        prepare_command,
        probe_backends,
        sandbox_available,
    )

_EXPORTS = {
    "classify_result": "codex_mcp.sandbox.classify",
    "is_likely_sandbox_denied": "codex_mcp.sandbox.denial",
    "ApprovalPolicy": "codex_mcp.sandbox.policy",
    "SandboxMode": "codex_mcp.sandbox.policy",
    "SandboxPolicy": "codex_mcp.sandbox.policy",
    "SandboxPolicyError": "codex_mcp.sandbox.policy",
    "file_uri_to_path": "codex_mcp.sandbox.policy",
    "parse_permission_profile": "codex_mcp.sandbox.policy",
    "parse_sandbox_policy_json": "codex_mcp.sandbox.policy",
    "parse_sandbox_state": "codex_mcp.sandbox.state",
    "writable_roots_for": "codex_mcp.sandbox.policy",
    "AskUser": "codex_mcp.sandbox.safety",
    "AutoApprove": "codex_mcp.sandbox.safety",
    "Reject": "codex_mcp.sandbox.safety",
    "SafetyCheck": "codex_mcp.sandbox.safety",
    "assess_command_safety": "codex_mcp.sandbox.safety",
    "assess_patch_safety": "codex_mcp.sandbox.safety",
    "is_known_safe_command": "codex_mcp.sandbox.safety",
    "PreparedCommand": "codex_mcp.sandbox.select",
    "ProbeReport": "codex_mcp.sandbox.select",
    "SandboxUnavailableError": "codex_mcp.sandbox.select",
    "prepare_command": "codex_mcp.sandbox.select",
    "probe_backends": "codex_mcp.sandbox.select",
    "sandbox_available": "codex_mcp.sandbox.select",
}

__all__ = [
    "ApprovalPolicy",
    "AskUser",
    "AutoApprove",
    "PreparedCommand",
    "ProbeReport",
    "Reject",
    "SafetyCheck",
    "SandboxMode",
    "SandboxPolicy",
    "SandboxPolicyError",
    "SandboxUnavailableError",
    "assess_command_safety",
    "assess_patch_safety",
    "classify_result",
    "file_uri_to_path",
    "is_known_safe_command",
    "is_likely_sandbox_denied",
    "parse_permission_profile",
    "parse_sandbox_policy_json",
    "parse_sandbox_state",
    "prepare_command",
    "probe_backends",
    "sandbox_available",
    "writable_roots_for",
]

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
