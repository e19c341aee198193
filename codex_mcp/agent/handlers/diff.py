"""The `turn_diff` event: one git-style diff of every file a turn changed.

The files are workspace files that sandboxed commands may have replaced since the patch wrote
them (by a FIFO, a symlink to a device, a huge sparse file), so every read here is bounded:
regular files only, opened without blocking, at most `MAX_DIFF_FILE_BYTES` each.  A file that
cannot be shown that way is listed with a one-line note instead of its contents.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from codex_mcp.bounded_read import read_regular_file

MAX_DIFF_FILE_BYTES: Final = 1024 * 1024
"""Files larger than this are not diffed (the diff would be unreadable and slow to compute)."""


class Unreadable:
    """A file that exists but was not read (not a regular file, too large, no permission)."""

    def __repr__(self) -> str:
        return "UNREADABLE"


UNREADABLE: Final = Unreadable()
Snapshot = bytes | None | Unreadable
"""A file's state: its bytes, None when it does not exist, or UNREADABLE."""


def snapshot(path: Path) -> Snapshot:
    """The current state of `path` (resolved; a symlink at the last component is not
    followed), read without blocking and with a size cap."""
    try:
        return read_regular_file(path, limit=MAX_DIFF_FILE_BYTES, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return UNREADABLE


def _text(data: bytes | None) -> list[str]:
    if data is None:
        return []
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


NO_BLOB = "0" * 40


def blob_id(data: bytes | None) -> str:
    """The git blob id of `data` (what `git hash-object` prints); zeros for no file.  It
    lets a client (or `git apply`) check the diff against the files it has."""
    if data is None:
        return NO_BLOB
    import hashlib  # with difflib: only once a patch changed a file

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def file_diff(rel: str, before: Snapshot, after: Snapshot) -> str:
    if isinstance(before, Unreadable) or isinstance(after, Unreadable):
        if before is after:
            return ""
        return (
            f"diff --git a/{rel} b/{rel}\n"
            f"Files a/{rel} and b/{rel} differ (not a regular file, or over {MAX_DIFF_FILE_BYTES} "
            "bytes; contents not shown)\n"
        )
    old, new = _text(before), _text(after)
    if old == new and (before is None) == (after is None):
        return ""
    header = f"diff --git a/{rel} b/{rel}\n"
    index = f"index {blob_id(before)}..{blob_id(after)}"
    if before is None:
        header += f"new file mode 100644\n{index}\n"
    elif after is None:
        header += f"deleted file mode 100644\n{index}\n"
    else:
        header += f"{index} 100644\n"
    import difflib  # only when a patch changed something: a turn without one never needs it

    lines = difflib.unified_diff(
        old, new, "/dev/null" if before is None else f"a/{rel}", "/dev/null" if after is None else f"b/{rel}"
    )
    body = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    return header + body


def aggregate_diff(originals: dict[Path, Snapshot], cwd: Path, shown: dict[Path, Path] | None = None) -> str:
    """The diff of every file in `originals` (keyed by resolved path) against its current
    state; `shown` maps a resolved path to the path the patch named, for display."""
    parts = []
    for path in sorted(originals):
        after = snapshot(path)
        display = (shown or {}).get(path, path)
        try:
            rel = os.path.relpath(display, cwd)
        except ValueError:
            rel = str(display)
        parts.append(file_diff(rel, originals[path], after))
    return "".join(p for p in parts if p)
