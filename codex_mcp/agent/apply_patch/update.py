"""Applying the chunks of an Update hunk to a file's text (pure, no I/O)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from .diff import Region
from .errors import VerificationError
from .parser import UpdateChunk
from .seek import Seeker


@dataclass(frozen=True)
class UpdatedText:
    """A file's text after an update hunk, and where its edits landed."""

    text: str
    regions: tuple[Region, ...] | None
    """Where the edits landed, as ``(old_start, old_end, new_start, new_end)`` line
    ranges; ``None`` when the edits overlapped and were applied the slow way."""


def text_to_lines(text: str) -> list[str]:
    """Split on LF, dropping the empty element after a final newline."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def lines_to_text(lines: Sequence[str]) -> str:
    """Join lines so that a non-empty result always ends with a newline."""
    return "\n".join(lines) + "\n" if lines else ""


def apply_chunks(text: str, chunks: Sequence[UpdateChunk], display_path: str) -> UpdatedText:
    """Apply ``chunks`` to ``text``; ``display_path`` is only used in error messages.

    Raises :class:`VerificationError` when a context or the lines to replace cannot be
    found.  CRLF files (every LF preceded by CR) keep their line endings.
    """
    crlf = "\r\n" in text and text.count("\n") == text.count("\r\n")
    if crlf:
        text = text.replace("\r\n", "\n")
    lines = text_to_lines(text)
    replacements = _locate(lines, chunks, display_path)
    new_lines, regions = _splice(lines, replacements)
    result = lines_to_text(new_lines)
    if crlf:
        result = result.replace("\n", "\r\n")
    return UpdatedText(text=result, regions=regions)


Replacement = tuple[int, int, Sequence[str]]


def _locate(lines: list[str], chunks: Sequence[UpdateChunk], display_path: str) -> list[Replacement]:
    seeker = Seeker(lines)
    cursor = 0
    found: list[Replacement] = []
    for chunk in chunks:
        if chunk.change_context is not None:
            at = seeker.find([chunk.change_context], cursor, eof=False)
            if at is None:
                raise VerificationError(f"Failed to find context '{chunk.change_context}' in {display_path}")
            cursor = at + 1
        if not chunk.old_lines:
            if not chunk.new_lines:
                continue  # a scope marker only: it moved the cursor
            # Pure insertion: goes at the end of the file, before a trailing blank line.
            at_end = len(lines) - 1 if lines and lines[-1] == "" else len(lines)
            found.append((at_end, 0, chunk.new_lines))
            continue
        old: Sequence[str] = chunk.old_lines
        new: Sequence[str] = chunk.new_lines
        at = seeker.find(old, cursor, chunk.is_end_of_file)
        if at is None and old[-1] == "":
            # A trailing blank context line is often an artefact of how the patch was
            # written; try again without it.
            old = old[:-1]
            if new and new[-1] == "":
                new = new[:-1]
            at = seeker.find(old, cursor, chunk.is_end_of_file)
        if at is None:
            joined = "\n".join(chunk.old_lines)
            raise VerificationError(f"Failed to find expected lines in {display_path}:\n{joined}")
        found.append((at, len(old), new))
        cursor = at + len(old)
    return found


def _splice(lines: list[str], replacements: list[Replacement]) -> tuple[list[str], tuple[Region, ...] | None]:
    ordered = sorted(replacements, key=lambda item: item[0])
    disjoint = all(prev[0] + prev[1] <= cur[0] for prev, cur in itertools.pairwise(ordered))
    if not disjoint:
        # Overlapping edits (only possible in odd corner cases): apply from the bottom up.
        result = list(lines)
        for start, size, new in reversed(ordered):
            result[start : start + size] = new
        return result, None
    out: list[str] = []
    regions: list[Region] = []
    pos = 0
    for start, size, new in ordered:
        out.extend(lines[pos:start])
        new_start = len(out)
        out.extend(new)
        regions.append((start, start + size, new_start, len(out)))
        pos = start + size
    out.extend(lines[pos:])
    return out, tuple(regions)
