"""The `turn_diff` event: one git-style diff of every file a turn changed."""

from __future__ import annotations

import difflib
import os
from pathlib import Path


def _text(data: bytes | None) -> list[str]:
    if data is None:
        return []
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


def file_diff(rel: str, before: bytes | None, after: bytes | None) -> str:
    old, new = _text(before), _text(after)
    if old == new and (before is None) == (after is None):
        return ""
    header = f"diff --git a/{rel} b/{rel}\n"
    if before is None:
        header += "new file mode 100644\n"
    elif after is None:
        header += "deleted file mode 100644\n"
    lines = difflib.unified_diff(
        old, new, "/dev/null" if before is None else f"a/{rel}", "/dev/null" if after is None else f"b/{rel}"
    )
    body = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    return header + body


def aggregate_diff(originals: dict[Path, bytes | None], cwd: Path) -> str:
    parts = []
    for path in sorted(originals):
        try:
            after: bytes | None = path.read_bytes()
        except OSError:
            after = None
        try:
            rel = os.path.relpath(path, cwd)
        except ValueError:
            rel = str(path)
        parts.append(file_diff(rel, originals[path], after))
    return "".join(p for p in parts if p)
