"""Guessing whether a failed sandboxed command failed *because of* the sandbox.

Used to decide whether to offer "retry without sandbox?" under approval policy on-failure.
Pure: a heuristic over the exit code and the output, as Codex uses it.
"""

from __future__ import annotations

from codex_mcp.sandbox.policy import SandboxPolicy

DENIAL_KEYWORDS: tuple[str, ...] = (
    "operation not permitted",
    "permission denied",
    "read-only file system",
    "seccomp",
    "sandbox",
    "landlock",
    "failed to write file",
)

# Codex misses these; they are how blocked network access shows up (curl exit 7, ENETUNREACH,
# failed DNS) and are only meaningful when the sandbox turned the network off.
NETWORK_DENIAL_PHRASES: tuple[str, ...] = (
    "couldn't connect to server",
    "network is unreachable",
    "could not resolve host",
    "temporary failure in name resolution",
)

_QUICK_REJECT_CODES = frozenset({2, 126, 127})
_SIGSYS = 31


def is_likely_sandbox_denied(
    policy: SandboxPolicy, exit_code: int | None, stdout: str, stderr: str, *, sandboxed: bool = True
) -> bool:
    """True when a non-zero exit under a sandbox looks like a sandbox denial.

    `exit_code` may be negative (a `subprocess` signal death) or None (unknown).  A command not
    run in a sandbox (`sandboxed=False` or a danger-full-access policy) is never a denial.
    """
    if not sandboxed or policy.is_full_access or exit_code == 0:
        return False
    text = (stdout + "\n" + stderr).lower()
    if any(keyword in text for keyword in DENIAL_KEYWORDS):
        return True
    if not policy.has_network and any(phrase in text for phrase in NETWORK_DENIAL_PHRASES):
        return True
    if exit_code in _QUICK_REJECT_CODES:
        return False
    return exit_code in (128 + _SIGSYS, -_SIGSYS)
