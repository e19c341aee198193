"""Locating a chunk's lines inside a file: pure functions over lists of strings.

Models often get whitespace or typography slightly wrong when they quote a file, so a
pattern is looked for with increasingly tolerant comparisons, and the first tier that
finds it wins:

1. exact equality;
2. equality after removing trailing whitespace;
3. equality after removing leading and trailing whitespace;
4. as 3, after also mapping typographic dashes, quotes and spaces to ASCII.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .parser import WHITESPACE

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_SINGLE_QUOTES = "\u2018\u2019\u201a\u201b"
_DOUBLE_QUOTES = "\u201c\u201d\u201e\u201f"
_SPACES = "\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"

_PUNCTUATION_TABLE = str.maketrans(
    {
        **dict.fromkeys(_DASHES, "-"),
        **dict.fromkeys(_SINGLE_QUOTES, "'"),
        **dict.fromkeys(_DOUBLE_QUOTES, '"'),
        **dict.fromkeys(_SPACES, " "),
    }
)


def rstrip_line(line: str) -> str:
    return line.rstrip(WHITESPACE)


def strip_line(line: str) -> str:
    return line.strip(WHITESPACE)


def normalise_line(line: str) -> str:
    """Trim ``line`` and map Unicode dashes, quotes and spaces to their ASCII forms."""
    return line.strip(WHITESPACE).translate(_PUNCTUATION_TABLE)


_TIERS: tuple[Callable[[str], str], ...] = (rstrip_line, strip_line, normalise_line)


class Seeker:
    """Searches one file's lines repeatedly, caching the normalised views of the file.

    The views are computed lazily, the first time a pattern is not found exactly.
    """

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines: list[str] = lines if isinstance(lines, list) else list(lines)
        self._views: dict[Callable[[str], str], list[str]] = {}

    def _view(self, transform: Callable[[str], str]) -> list[str]:
        view = self._views.get(transform)
        if view is None:
            view = [transform(line) for line in self.lines]
            self._views[transform] = view
        return view

    def find(self, pattern: Sequence[str], start: int, eof: bool) -> int | None:
        """Index of the first occurrence of ``pattern`` at or after ``start``, or None.

        An empty pattern matches at ``start``.  With ``eof`` the pattern is only looked
        for where it would end exactly at the end of the file.
        """
        if not pattern:
            return start
        count = len(self.lines)
        size = len(pattern)
        if size > count:
            return None
        last = count - size
        first = count - size if eof else max(start, 0)
        if first > last:
            return None
        found = _find_exact(self.lines, list(pattern), first, last)
        if found is not None:
            return found
        for transform in _TIERS:
            wanted = [transform(line) for line in pattern]
            found = _find_exact(self._view(transform), wanted, first, last)
            if found is not None:
                return found
        return None


def _find_exact(lines: list[str], pattern: list[str], first: int, last: int) -> int | None:
    """First ``i`` in ``[first, last]`` where ``lines[i:i+len(pattern)] == pattern``."""
    head = pattern[0]
    size = len(pattern)
    as_list = lines
    index = first
    while index <= last:
        try:
            index = as_list.index(head, index, last + 1)
        except ValueError:
            return None
        if size == 1 or as_list[index : index + size] == pattern:
            return index
        index += 1
    return None


def seek_sequence(lines: Sequence[str], pattern: Sequence[str], start: int, eof: bool) -> int | None:
    """One-shot form of :meth:`Seeker.find`."""
    return Seeker(lines).find(pattern, start, eof)
