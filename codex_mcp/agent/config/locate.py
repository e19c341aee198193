"""Best-effort: find the line of config.toml that defines a key path.

tomlkit does not keep line numbers, so error messages look the key up in the raw text.
This is a line scanner, not a parser; it understands table headers, dotted and quoted keys
and skips multi-line strings.  When the exact key is not found (say it sits in an inline
table) the line of the closest enclosing table or key is returned.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from codex_mcp.agent.config.overrides import parse_key_path, split_assignment
from codex_mcp.errors import ConfigError

_SEGMENT = r"""(?:[A-Za-z0-9_\-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_HEADER = re.compile(rf"^\s*\[\[?\s*({_SEGMENT}(?:\s*\.\s*{_SEGMENT})*)\s*\]\]?\s*(?:#.*)?$")
_KEY_START = re.compile(r"""^\s*[A-Za-z0-9_\-"']""")
_STRINGS_AND_COMMENT = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'|\#.*""")


def _bracket_balance(text: str) -> int:
    """Open minus closed `[`/`{` outside strings and comments (for multi-line arrays)."""
    bare = _STRINGS_AND_COMMENT.sub("", text)
    return bare.count("[") + bare.count("{") - bare.count("]") - bare.count("}")


def _path_of(text: str) -> list[str] | None:
    try:
        return parse_key_path(text)
    except ConfigError:
        return None


def find_key_line(text: str, path: Sequence[str]) -> int | None:
    """1-based line number of `path` in TOML `text`, or of its nearest enclosing key; or None."""
    target = list(path)
    table: list[str] = []
    best_line: int | None = None
    best_len = 0
    multiline: str | None = None
    depth = 0  # > 0 while inside a multi-line array / inline table value
    for lineno, line in enumerate(text.splitlines(), start=1):
        if multiline is not None:
            if line.count(multiline) % 2 == 1:
                multiline = None
            continue
        if depth > 0:
            depth = max(0, depth + _bracket_balance(line))
            continue
        header = _HEADER.match(line)
        if header:
            found = _path_of(header.group(1))
            if found is not None:
                table = found
                if table == target[: len(table)] and len(table) > best_len:
                    best_line, best_len = lineno, len(table)
            continue
        if not _KEY_START.match(line):
            continue
        try:
            left, right = split_assignment(line)
        except ConfigError:
            continue
        for quote in ('"""', "'''"):
            if right.count(quote) % 2 == 1:
                multiline = quote
                break
        if multiline is None:
            depth = max(0, _bracket_balance(right))
        key = _path_of(left.strip())
        if key is None:
            continue
        full = table + key
        if full == target:
            return lineno
        if full == target[: len(full)] and len(full) > best_len:
            best_line, best_len = lineno, len(full)
    return best_line
