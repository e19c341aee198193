"""Whether a command or a patch may run without asking, and whether it runs in the sandbox.

Pure functions over argv / paths / policies, as Codex decides them, with one deliberate
departure from Codex: "known safe" only means "needs no approval".  When the session has a
sandbox (read-only or workspace-write), every command runs inside it unless the person
approved that command explicitly (an exec approval, an approval for the session, or the
retry offered after a sandbox denial).  Likewise a patch is applied by the server itself only
where the session's boundary allows writing, unless the person approved that patch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codex_mcp.sandbox.boundary import Boundary, is_within
from codex_mcp.sandbox.policy import PROTECTED_SUBPATHS, ApprovalPolicy, SandboxPolicy
from codex_mcp.sandbox.safe_commands import is_known_safe_command, shell_script_of, split_simple_script

__all__ = [
    "REJECT_EMPTY_PATCH",
    "REJECT_NOT_TRUSTED",
    "REJECT_NO_SANDBOX",
    "REJECT_PATCH_OUTSIDE",
    "AskUser",
    "AutoApprove",
    "Reject",
    "SafetyCheck",
    "assess_command_safety",
    "assess_patch_safety",
    "is_known_safe_command",
    "patch_write_allowed",
    "shell_script_of",
    "split_simple_script",
]


@dataclass(frozen=True)
class AutoApprove:
    """Run without asking; `run_sandboxed` says whether the platform sandbox must be used."""

    run_sandboxed: bool


@dataclass(frozen=True)
class AskUser:
    """Ask the user before running."""


@dataclass(frozen=True)
class Reject:
    """Do not run; `reason` is the text given back to the model."""

    reason: str


SafetyCheck = AutoApprove | AskUser | Reject

REJECT_NOT_TRUSTED = "auto-rejected because command is not on trusted list"
REJECT_EMPTY_PATCH = "empty patch"
REJECT_PATCH_OUTSIDE = "writing outside of the project; rejected by user approval settings"
REJECT_NO_SANDBOX = (
    "auto-rejected because no sandbox is available to run it in, and the approval policy is never"
)

# --------------------------------------------------------------------------------------------
# Command and patch assessment
# --------------------------------------------------------------------------------------------


def assess_command_safety(
    argv: Sequence[str],
    approval_policy: ApprovalPolicy,
    sandbox_policy: SandboxPolicy,
    approved_for_session: Iterable[tuple[str, ...]] | set[tuple[str, ...]],
    with_escalated_permissions: bool,
    sandbox_available: bool,
    search_path: str | None = None,
) -> SafetyCheck:
    """Decide how to run `argv` (the sandbox is the boundary).

    * The exact argv approved for the session by the person runs without asking and without
      the sandbox (their decision).
    * danger-full-access has no sandbox: everything runs unsandboxed; `untrusted` asks for
      anything not known safe.
    * Otherwise every other command runs in the sandbox; "known safe" only spares the
      question under `untrusted`.  An escalation request (on-request) is always asked.  With
      no sandbox available nothing runs unasked (fail closed): `never` rejects, others ask.

    Rejecting escalation requests under policies other than on-request is the caller's job.
    `search_path` is the command's PATH (default: the server's), which decides what a bare
    program name runs when there is no sandbox.
    """
    if tuple(argv) in set(approved_for_session):
        return AutoApprove(run_sandboxed=False)
    full = sandbox_policy.is_full_access
    safe = is_known_safe_command(argv, without_sandbox=full, search_path=search_path)
    if full:
        if approval_policy == "untrusted" and not safe:
            return AskUser()
        return AutoApprove(run_sandboxed=False)
    if with_escalated_permissions and approval_policy == "on-request":
        return AskUser()
    if not sandbox_available:
        if approval_policy == "never":
            return Reject(REJECT_NO_SANDBOX if safe else REJECT_NOT_TRUSTED)
        return AskUser()
    if approval_policy == "untrusted" and not safe:
        return AskUser()
    return AutoApprove(run_sandboxed=True)


def patch_write_allowed(boundary: Boundary, path: str) -> bool:
    """Whether the server may write `path` (absolute, symlink-resolved) on its own authority.

    The boundary's own rule, plus the protected names (`.git`, `.codex`, `.agents`) directly
    under every writable root even when they do not exist yet: a patch must not create a
    repository's hooks or an agent config that later runs with the person's rights.
    """
    if boundary.is_full_access:
        return True
    path = os.path.normpath(path)
    if not boundary.allows_write(path):
        return False
    for root in boundary.writable_roots:
        for name in PROTECTED_SUBPATHS:
            if is_within(path, os.path.join(root, name)):
                return False
    return True


def assess_patch_safety(
    paths: Sequence[str],
    approval_policy: ApprovalPolicy,
    boundary: Boundary,
    *,
    sandbox_available: bool = True,
) -> SafetyCheck:
    """Decide how to apply a patch (the session's boundary is the rule).

    `paths` are every path the patch writes or deletes, absolute and symlink-resolved (the
    exact paths the writer will then touch, see `apply_patch.plan_changes`).  The boundary is
    the session's (`compute_boundary` of its configured cwd), never the directory a shell
    patch was started in.  `AutoApprove(run_sandboxed=True)` means the server applies the patch
    confined to the boundary; `run_sandboxed=False` only under danger-full-access.  A path
    outside the boundary is asked for under every policy but `never`, which rejects it
    (Codex auto-approved it under `on-failure`; here that would let the server write where
    the sandbox may not).
    """
    if not paths:
        return Reject(REJECT_EMPTY_PATCH)
    if approval_policy == "untrusted":
        return AskUser()
    if all(patch_write_allowed(boundary, p) for p in paths):
        if boundary.is_full_access:
            return AutoApprove(run_sandboxed=False)
        return AutoApprove(run_sandboxed=True) if sandbox_available else AskUser()
    if approval_policy == "never":
        return Reject(REJECT_PATCH_OUTSIDE)
    return AskUser()
