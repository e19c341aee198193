"""The apply_patch engine: parse a patch, work out its effect, write it atomically.

Typical use::

    patch = parse_patch(text)                 # ParseError
    changes = compute_changes(patch, cwd)     # VerificationError; read-only, bounded reads
    plan = plan_changes(changes)              # WriteError; every path resolved once
    ...approval of plan.touched, using changes_to_json(changes)...
    result = apply_planned(plan, allow)       # WriteError / NoChangesError; all or nothing,
                                              # never through a symlink swapped in later
    result.summary                            # "Success. Updated the following files:\\n..."

or simply ``apply_patch_text(text, cwd)``.  Every error is an :class:`ApplyPatchError`
whose ``str()`` is meant for the model.
"""

from __future__ import annotations

from pathlib import Path

from .apply import ApplyResult, PlannedPatch, apply_changes, apply_planned, format_summary, plan_changes
from .changes import (
    AddChange,
    DeleteChange,
    FileChange,
    UpdateChange,
    changes_to_json,
    compute_changes,
    file_change_to_json,
    resolve_path,
)
from .diff import unified_diff
from .errors import (
    IMPLICIT_INVOCATION_MESSAGE,
    ApplyPatchError,
    HeredocError,
    ImplicitInvocationError,
    NoChangesError,
    ParseError,
    VerificationError,
    WriteError,
)
from .parser import AddFile, DeleteFile, Hunk, Patch, UpdateChunk, UpdateFile, parse_patch
from .seek import seek_sequence
from .shell_detect import ShellApplyPatch, extract_apply_patch
from .tool_spec import GRAMMAR, custom_tool_spec, function_tool_spec


def apply_patch_text(text: str, cwd: Path) -> ApplyResult:
    """Parse, verify and atomically apply ``text`` relative to ``cwd``.

    Raises :class:`ApplyPatchError` (``NoChangesError`` for a patch without
    operations); on any error no file has been changed.
    """
    patch = parse_patch(text)
    if not patch.hunks:
        raise NoChangesError()
    return apply_changes(compute_changes(patch, cwd))


__all__ = [
    "GRAMMAR",
    "IMPLICIT_INVOCATION_MESSAGE",
    "AddChange",
    "AddFile",
    "ApplyPatchError",
    "ApplyResult",
    "DeleteChange",
    "DeleteFile",
    "FileChange",
    "HeredocError",
    "Hunk",
    "ImplicitInvocationError",
    "NoChangesError",
    "ParseError",
    "Patch",
    "PlannedPatch",
    "ShellApplyPatch",
    "UpdateChange",
    "UpdateChunk",
    "UpdateFile",
    "VerificationError",
    "WriteError",
    "apply_changes",
    "apply_patch_text",
    "apply_planned",
    "changes_to_json",
    "compute_changes",
    "custom_tool_spec",
    "extract_apply_patch",
    "file_change_to_json",
    "format_summary",
    "function_tool_spec",
    "parse_patch",
    "plan_changes",
    "resolve_path",
    "seek_sequence",
    "unified_diff",
]
