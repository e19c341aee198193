"""Parser for the apply_patch patch language.

A patch looks like::

    *** Begin Patch
    *** Add File: docs/new.md
    +first line
    *** Delete File: old.txt
    *** Update File: src/app.py
    *** Move to: src/main.py
    @@ def main():
    -    print("hi")
    +    print("hello")
    *** End Patch

:func:`parse_patch` turns such text into a :class:`Patch`.  It is total: for any input
string it either returns a ``Patch`` or raises :class:`~.errors.ParseError`; no other
exception escapes.  The parser is deliberately a bit more forgiving than the grammar the
model is sampled with (see :mod:`.tool_spec`): blank lines count as empty context lines,
a patch wrapped in a ``<<'EOF'`` heredoc is unwrapped, blank lines between file
operations are ignored, and consecutive ``@@`` markers (naming nested scopes such as a
class and then one of its methods) narrow the search step by step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .errors import ParseError
from .limits import MAX_PATCH_BYTES, MAX_PATCH_FILES, patch_too_large, too_many_files

BEGIN_MARKER = "*** Begin Patch"
END_MARKER = "*** End Patch"
ADD_HEADER = "*** Add File: "
DELETE_HEADER = "*** Delete File: "
UPDATE_HEADER = "*** Update File: "
MOVE_HEADER = "*** Move to: "
END_OF_FILE_MARKER = "*** End of File"
CONTEXT_MARKER = "@@"

HEREDOC_OPENERS = frozenset({"<<EOF", "<<'EOF'", '<<"EOF"'})

# Unicode White_Space, i.e. what Rust's `str::trim` removes.  Python's bare `str.strip()`
# also removes the ASCII separators U+001C..U+001F, which we must keep.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def trim(text: str) -> str:
    """Strip Unicode White_Space from both ends."""
    return text.strip(WHITESPACE)


@dataclass(frozen=True)
class AddFile:
    """Create ``path`` (or overwrite it) with ``contents``."""

    path: str
    contents: str


@dataclass(frozen=True)
class DeleteFile:
    """Remove the file ``path``."""

    path: str


@dataclass(frozen=True)
class UpdateChunk:
    """One ``@@`` section of an Update hunk.

    ``old_lines`` must be found in the file (after ``change_context``, if any) and is
    replaced by ``new_lines``.  ``is_end_of_file`` anchors the match at the end of the file.
    """

    change_context: str | None
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    is_end_of_file: bool = False


@dataclass(frozen=True)
class UpdateFile:
    """Edit ``path`` chunk by chunk, optionally renaming it to ``move_path``."""

    path: str
    move_path: str | None
    chunks: tuple[UpdateChunk, ...]


Hunk = AddFile | DeleteFile | UpdateFile


@dataclass(frozen=True)
class Patch:
    """A parsed patch: the file operations in the order they were written."""

    hunks: tuple[Hunk, ...]
    text: str = field(default="", compare=False)
    """The patch body actually parsed (trimmed, heredoc wrapper removed)."""


def split_lines(text: str) -> list[str]:
    """Split on LF and drop one trailing CR per line (like Rust's ``str::lines``)."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse_patch(text: str) -> Patch:
    """Parse ``text`` into a :class:`Patch`.

    Raises :class:`~.errors.ParseError` -- and nothing else -- when the text is not a
    valid patch, or is over the size or file-count caps of :mod:`.limits`.
    """
    size = len(text) if len(text) > MAX_PATCH_BYTES else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_PATCH_BYTES:
        raise ParseError(patch_too_large(size))
    lines = split_lines(trim(text))
    body = _check_boundaries(lines)
    hunks: list[Hunk] = []
    index = 1  # index into `lines`; the begin marker is line 0
    end = len(body) - 1
    while index < end:
        if trim(body[index]) == "":
            index += 1
            continue
        hunk, used = _parse_hunk(body, index, end)
        hunks.append(hunk)
        index += used
    paths = {h.path for h in hunks}
    paths.update(h.move_path for h in hunks if isinstance(h, UpdateFile) and h.move_path)
    if len(paths) > MAX_PATCH_FILES:
        raise ParseError(too_many_files(len(paths)))
    return Patch(hunks=tuple(hunks), text="\n".join(body))


def _check_boundaries(lines: list[str]) -> list[str]:
    """Return the lines from the begin marker to the end marker, both included."""
    error = _strict_boundary_error(lines)
    if error is None:
        return lines
    if len(lines) >= 4 and lines[0] in HEREDOC_OPENERS and lines[-1].endswith("EOF"):
        inner = lines[1:-1]
        inner_error = _strict_boundary_error(inner)
        if inner_error is None:
            return inner
        raise inner_error
    raise error


def _strict_boundary_error(lines: Sequence[str]) -> ParseError | None:
    if not lines or trim(lines[0]) != BEGIN_MARKER:
        return ParseError("The first line of the patch must be '*** Begin Patch'")
    if len(lines) < 2 or trim(lines[-1]) != END_MARKER:
        return ParseError("The last line of the patch must be '*** End Patch'")
    return None


def _parse_hunk(lines: list[str], start: int, end: int) -> tuple[Hunk, int]:
    """Parse the file operation starting at ``lines[start]``; ``end`` is exclusive.

    Returns the hunk and the number of lines it spans.
    """
    line_number = start + 1
    header = trim(lines[start])
    if header.startswith(ADD_HEADER):
        path = header[len(ADD_HEADER) :]
        contents: list[str] = []
        index = start + 1
        while index < end and lines[index].startswith("+"):
            contents.append(lines[index][1:] + "\n")
            index += 1
        return AddFile(path=path, contents="".join(contents)), index - start

    if header.startswith(DELETE_HEADER):
        return DeleteFile(path=header[len(DELETE_HEADER) :]), 1

    if header.startswith(UPDATE_HEADER):
        path = header[len(UPDATE_HEADER) :]
        index = start + 1
        move_path: str | None = None
        if index < end:
            move_line = trim(lines[index])
            if move_line.startswith(MOVE_HEADER):
                move_path = move_line[len(MOVE_HEADER) :]
                index += 1
        chunks: list[UpdateChunk] = []
        while index < end:
            line = lines[index]
            if trim(line) == "":
                index += 1  # blank lines between chunks
                continue
            if line.startswith("***"):
                break
            chunk, used = _parse_chunk(lines, index, end, first=not chunks)
            chunks.append(chunk)
            index += used
        if not chunks:
            raise ParseError(f"Update file hunk for path '{path}' is empty", line_number)
        return UpdateFile(path=path, move_path=move_path, chunks=tuple(chunks)), index - start

    raise ParseError(
        f"'{header}' is not a valid hunk header. Valid hunk headers: '*** Add File: {{path}}', "
        "'*** Delete File: {path}', '*** Update File: {path}'",
        line_number,
    )


def _is_marker(line: str) -> bool:
    return line == CONTEXT_MARKER or line.startswith(CONTEXT_MARKER + " ")


def _parse_chunk(lines: list[str], start: int, end: int, *, first: bool) -> tuple[UpdateChunk, int]:
    """Parse one chunk of an Update hunk starting at ``lines[start]``.

    Only the first chunk of a hunk may omit the ``@@`` marker.  Returns the chunk and
    the number of lines consumed.
    """
    opener = lines[start]
    context: str | None = None
    index = start
    if opener == CONTEXT_MARKER:
        index += 1
    elif opener.startswith(CONTEXT_MARKER + " "):
        context = opener[len(CONTEXT_MARKER) + 1 :]
        index += 1
    elif not first:
        raise ParseError(
            f"Expected update hunk to start with a @@ context marker, got: '{opener}'", start + 1
        )
    if index >= end:
        raise ParseError("Update hunk does not contain any lines", index + 1)
    if index > start and _is_marker(lines[index]):
        # Nested scopes ("@@ class A" then "@@ def f"): this marker only narrows the search.
        return UpdateChunk(change_context=context, old_lines=(), new_lines=()), index - start

    old: list[str] = []
    new: list[str] = []
    at_eof = False
    body_start = index
    while index < end:
        line = lines[index]
        if line.rstrip(WHITESPACE) == END_OF_FILE_MARKER:
            if index == body_start:
                raise ParseError("Update hunk does not contain any lines", index + 1)
            at_eof = True
            index += 1
            break
        if line == "":
            old.append("")
            new.append("")
        else:
            tag, rest = line[0], line[1:]
            if tag == " ":
                old.append(rest)
                new.append(rest)
            elif tag == "+":
                new.append(rest)
            elif tag == "-":
                old.append(rest)
            elif index == body_start:
                raise ParseError(
                    f"Unexpected line found in update hunk: '{line}'. Every line should start with "
                    "' ' (context line), '+' (added line), or '-' (removed line)",
                    index + 1,
                )
            else:
                break  # the next chunk, hunk or end marker
        index += 1
    chunk = UpdateChunk(
        change_context=context, old_lines=tuple(old), new_lines=tuple(new), is_end_of_file=at_eof
    )
    return chunk, index - start
