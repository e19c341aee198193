"""A small unified-diff writer (header-less, ``@@ -a,b +c,d @@`` hunks).

The output has no ``---``/``+++`` file header: it starts directly with the first hunk,
e.g. ``@@ -1 +1 @@\\n-original content\\n+modified content\\n``.  A line that has no
terminating newline (the last line of a file) is followed by the conventional
``\\ No newline at end of file`` marker line.

Diffing whole files with :mod:`difflib` is slow for large inputs, so callers that know
where the edits are (an applied patch does) pass those *regions*: everything outside
them is compared with a plain slice comparison and only the regions themselves, plus any
gap that turns out to differ, are run through :class:`difflib.SequenceMatcher`.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

Opcode = tuple[str, int, int, int, int]
Region = tuple[int, int, int, int]
"""``(old_start, old_end, new_start, new_end)``, half-open line ranges."""

NO_NEWLINE_MARKER = "\\ No newline at end of file"


def split_keepends(text: str) -> list[str]:
    """Split ``text`` into lines that keep their ``\\n`` (only LF separates lines)."""
    if not text:
        return []
    parts = text.split("\n")
    last = parts.pop()
    lines = [part + "\n" for part in parts]
    if last:
        lines.append(last)
    return lines


def unified_diff(old: str, new: str, context: int = 1, regions: Sequence[Region] | None = None) -> str:
    """Unified diff turning ``old`` into ``new`` with ``context`` lines around changes."""
    a = split_keepends(old)
    b = split_keepends(new)
    opcodes = _opcodes(a, b, regions)
    out: list[str] = []
    for group in _group(opcodes, context):
        out.append(_header(group))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                _emit(out, " ", a[i1:i2])
                continue
            _emit(out, "-", a[i1:i2])
            _emit(out, "+", b[j1:j2])
    return "".join(out)


def _emit(out: list[str], sign: str, lines: Sequence[str]) -> None:
    for line in lines:
        if line.endswith("\n"):
            out.append(sign + line)
        else:
            out.append(f"{sign}{line}\n{NO_NEWLINE_MARKER}\n")


def _range(start: int, end: int) -> str:
    length = end - start
    if length == 1:
        return str(start + 1)
    # An empty range names the line *before* the insertion point.
    return f"{start + 1 if length else start},{length}"


def _header(group: list[Opcode]) -> str:
    first, last = group[0], group[-1]
    return f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"


def _opcodes(a: list[str], b: list[str], regions: Sequence[Region] | None) -> list[Opcode]:
    raw: list[Opcode] = []
    if regions is None or not _regions_fit(a, b, regions):
        regions = ()
    i = j = 0
    for i1, i2, j1, j2 in regions:
        _diff_span(a, b, i, i1, j, j1, raw)
        _diff_span(a, b, i1, i2, j1, j2, raw)
        i, j = i2, j2
    _diff_span(a, b, i, len(a), j, len(b), raw)
    return _merge(raw)


def _regions_fit(a: list[str], b: list[str], regions: Sequence[Region]) -> bool:
    """Regions must be ordered, disjoint, in bounds, and leave equal-length gaps."""
    i = j = 0
    for i1, i2, j1, j2 in regions:
        if not (i <= i1 <= i2 <= len(a) and j <= j1 <= j2 <= len(b)) or i1 - i != j1 - j:
            return False
        i, j = i2, j2
    return len(a) - i == len(b) - j


def _diff_span(a: list[str], b: list[str], i1: int, i2: int, j1: int, j2: int, out: list[Opcode]) -> None:
    """Append the opcodes turning ``a[i1:i2]`` into ``b[j1:j2]``."""
    if i1 == i2 and j1 == j2:
        return
    if i2 - i1 == j2 - j1 and a[i1:i2] == b[j1:j2]:
        out.append(("equal", i1, i2, j1, j2))
        return
    # Peel off the common prefix and suffix cheaply before the quadratic-ish matcher.
    head = 0
    limit = min(i2 - i1, j2 - j1)
    while head < limit and a[i1 + head] == b[j1 + head]:
        head += 1
    tail = 0
    limit -= head
    while tail < limit and a[i2 - 1 - tail] == b[j2 - 1 - tail]:
        tail += 1
    if head:
        out.append(("equal", i1, i1 + head, j1, j1 + head))
    lo_a, hi_a, lo_b, hi_b = i1 + head, i2 - tail, j1 + head, j2 - tail
    matcher = SequenceMatcher(None, a[lo_a:hi_a], b[lo_b:hi_b], autojunk=False)
    for tag, x1, x2, y1, y2 in matcher.get_opcodes():
        out.append((tag, lo_a + x1, lo_a + x2, lo_b + y1, lo_b + y2))
    if tail:
        out.append(("equal", i2 - tail, i2, j2 - tail, j2))


def _merge(raw: list[Opcode]) -> list[Opcode]:
    """Coalesce adjacent opcodes: equal with equal, any change with any change."""
    merged: list[Opcode] = []
    for tag, i1, i2, j1, j2 in raw:
        if i1 == i2 and j1 == j2:
            continue
        kind = "equal" if tag == "equal" else "replace"
        if merged and (merged[-1][0] == "equal") == (kind == "equal"):
            prev = merged[-1]
            merged[-1] = (kind, prev[1], i2, prev[3], j2)
        else:
            merged.append((kind, i1, i2, j1, j2))
    return merged


def _group(opcodes: list[Opcode], context: int) -> list[list[Opcode]]:
    """Split the opcodes into hunks, keeping ``context`` equal lines around each change."""
    if not any(op[0] != "equal" for op in opcodes):
        return []
    ops = list(opcodes)
    if ops[0][0] == "equal":
        _, i1, i2, j1, j2 = ops[0]
        keep = min(context, i2 - i1)
        ops[0] = ("equal", i2 - keep, i2, j2 - keep, j2)
    if ops[-1][0] == "equal":
        _, i1, i2, j1, j2 = ops[-1]
        keep = min(context, i2 - i1)
        ops[-1] = ("equal", i1, i1 + keep, j1, j1 + keep)
    groups: list[list[Opcode]] = []
    current: list[Opcode] = []
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal" and current and i2 - i1 > 2 * context:
            # Close the current hunk with leading context and open the next one.
            current.append(("equal", i1, i1 + context, j1, j1 + context))
            groups.append(current)
            current = [("equal", i2 - context, i2, j2 - context, j2)]
            continue
        current.append((tag, i1, i2, j1, j2))
    if any(op[0] != "equal" for op in current):
        groups.append(current)
    return [[op for op in group if op[1] != op[2] or op[3] != op[4]] for group in groups]
