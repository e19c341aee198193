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

The names below are resolved on first use: the tool list imports `tool_spec` on every first
call, and that must not load the whole engine with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from codex_mcp._lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "ApplyResult": "codex_mcp.agent.apply_patch.apply",
    "PlannedPatch": "codex_mcp.agent.apply_patch.apply",
    "apply_changes": "codex_mcp.agent.apply_patch.apply",
    "apply_planned": "codex_mcp.agent.apply_patch.apply",
    "format_summary": "codex_mcp.agent.apply_patch.apply",
    "plan_changes": "codex_mcp.agent.apply_patch.apply",
    "AddChange": "codex_mcp.agent.apply_patch.changes",
    "DeleteChange": "codex_mcp.agent.apply_patch.changes",
    "FileChange": "codex_mcp.agent.apply_patch.changes",
    "UpdateChange": "codex_mcp.agent.apply_patch.changes",
    "changes_to_json": "codex_mcp.agent.apply_patch.changes",
    "compute_changes": "codex_mcp.agent.apply_patch.changes",
    "file_change_to_json": "codex_mcp.agent.apply_patch.changes",
    "resolve_path": "codex_mcp.agent.apply_patch.changes",
    "unified_diff": "codex_mcp.agent.apply_patch.diff",
    "IMPLICIT_INVOCATION_MESSAGE": "codex_mcp.agent.apply_patch.errors",
    "ApplyPatchError": "codex_mcp.agent.apply_patch.errors",
    "HeredocError": "codex_mcp.agent.apply_patch.errors",
    "ImplicitInvocationError": "codex_mcp.agent.apply_patch.errors",
    "NoChangesError": "codex_mcp.agent.apply_patch.errors",
    "ParseError": "codex_mcp.agent.apply_patch.errors",
    "VerificationError": "codex_mcp.agent.apply_patch.errors",
    "WriteError": "codex_mcp.agent.apply_patch.errors",
    "AddFile": "codex_mcp.agent.apply_patch.parser",
    "DeleteFile": "codex_mcp.agent.apply_patch.parser",
    "Hunk": "codex_mcp.agent.apply_patch.parser",
    "Patch": "codex_mcp.agent.apply_patch.parser",
    "UpdateChunk": "codex_mcp.agent.apply_patch.parser",
    "UpdateFile": "codex_mcp.agent.apply_patch.parser",
    "parse_patch": "codex_mcp.agent.apply_patch.parser",
    "seek_sequence": "codex_mcp.agent.apply_patch.seek",
    "ShellApplyPatch": "codex_mcp.agent.apply_patch.shell_detect",
    "extract_apply_patch": "codex_mcp.agent.apply_patch.shell_detect",
    "GRAMMAR": "codex_mcp.agent.apply_patch.tool_spec",
    "custom_tool_spec": "codex_mcp.agent.apply_patch.tool_spec",
    "function_tool_spec": "codex_mcp.agent.apply_patch.tool_spec",
}
__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


def apply_patch_text(text: str, cwd: Path) -> ApplyResult:
    """Parse, verify and atomically apply ``text`` relative to ``cwd``.

    Raises :class:`ApplyPatchError` (``NoChangesError`` for a patch without
    operations); on any error no file has been changed.
    """
    from .apply import apply_changes
    from .changes import compute_changes
    from .errors import NoChangesError
    from .parser import parse_patch

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
