"""Telling a sandbox *setup* failure from a command that ran and failed.

A setup failure must be surfaced as such: no "retry without sandbox?" prompt, no silent
unsandboxed retry.
"""

from __future__ import annotations

import json
from typing import Literal

from codex_mcp.sandbox.denial import is_likely_sandbox_denied
from codex_mcp.sandbox.launcher import LAUNCHER_EXIT_CODE, LAUNCHER_MARKER
from codex_mcp.sandbox.policy import SandboxPolicy

# bwrap's own report that exec of the command failed (e.g. not found): a command failure.
_BWRAP_EXEC_FAILED = "bwrap: execvp "

ResultClass = Literal["ok", "setup_error", "maybe_denied", "failed"]


def bwrap_status_has_exit_code(status: str) -> bool:
    """Whether bwrap's `--json-status-fd` output records that the command actually ran.

    bwrap writes one JSON document per line-ish chunk; they may be concatenated.
    """
    decoder = json.JSONDecoder()
    i = 0
    text = status.strip()
    while i < len(text):
        try:
            doc, end = decoder.raw_decode(text, i)
        except ValueError:
            return '"exit-code"' in text[i:]
        if isinstance(doc, dict) and "exit-code" in doc:
            return True
        i = end
        while i < len(text) and text[i].isspace():
            i += 1
    return False


def is_setup_error(
    backend: str, exit_code: int | None, stderr: str, *, bwrap_status: str | None = None
) -> bool:
    if backend == "bwrap":
        lines = stderr.splitlines()
        if any(line.startswith(_BWRAP_EXEC_FAILED) for line in lines):
            return False  # bwrap set up fine; the command itself could not be executed
        if bwrap_status is not None and bwrap_status_has_exit_code(bwrap_status):
            return False  # the command ran
        # No exit-code either when bwrap failed to set up or when it was killed (timeout,
        # cancellation): only the former exits 1 with its own `bwrap: ` message.
        return exit_code == 1 and any(line.startswith("bwrap: ") for line in lines)
    if backend == "landlock":
        return exit_code == LAUNCHER_EXIT_CODE and any(
            line.startswith(LAUNCHER_MARKER) for line in stderr.splitlines()
        )
    return False


def classify_result(
    backend: str,
    exit_code: int | None,
    stderr: str,
    *,
    stdout: str = "",
    policy: SandboxPolicy | None = None,
    bwrap_status: str | None = None,
) -> ResultClass:
    """Classify a finished command run through `prepare_command`'s `backend`.

    `bwrap_status` is `PreparedCommand.read_status()` (recommended for bwrap: without it a
    command printing a `bwrap: ` line and exiting 1 is indistinguishable from a setup error).
    `policy` enables the denial heuristic ("maybe_denied"); backend "none" never yields
    "setup_error" or "maybe_denied".
    """
    if exit_code == 0:
        return "ok"
    if backend == "none":
        return "failed"
    if is_setup_error(backend, exit_code, stderr, bwrap_status=bwrap_status):
        return "setup_error"
    if policy is not None and is_likely_sandbox_denied(policy, exit_code, stdout, stderr):
        return "maybe_denied"
    if policy is None and is_likely_sandbox_denied(SandboxPolicy("read-only"), exit_code, stdout, stderr):
        return "maybe_denied"
    return "failed"
