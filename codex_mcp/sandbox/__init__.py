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
    parse_sandbox_state,
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
