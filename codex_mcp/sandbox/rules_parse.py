"""A small, safe parser for the Starlark subset that `.rules` files are written in.

Nothing here evaluates code.  The accepted language is:

* blank lines, `#` comments, and `\\` line continuations;
* top-level assignments `NAME = value`, where value is a string, a list, or an earlier NAME;
* top-level call statements `function(name = value, ...)` with keyword arguments only and an
  optional trailing comma; the caller says which function names exist;
* string literals in single or double quotes, triple-quoted, or raw (`r"..."`), with the
  Starlark escapes (`\\n \\t \\r \\\\ \\' \\" \\a \\b \\f \\v`, octal, `\\x..`, `\\u....`,
  `\\U........`, and backslash-newline);
* list literals (possibly nested, trailing comma allowed).

Anything else is a `RulesError` carrying the file, 1-based line and column, and a message.
The semantic checks (which arguments a function takes, their types) live in `rules.py`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

MAX_NESTING = 64


class RulesError(Exception):
    """A malformed rules file; `str()` is `"{path}:{line}:{column}: {message}"`."""

    def __init__(self, path: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.message = message


@dataclass(frozen=True)
class Value:
    """A string or list literal (`data` is a str or a tuple of Values) and where it starts."""

    line: int
    column: int
    data: str | tuple[Value, ...]


@dataclass(frozen=True)
class Argument:
    """A keyword argument of a rule call, with where it was written."""

    name: str
    line: int
    column: int
    value: Value


@dataclass(frozen=True)
class Call:
    """A call of a rules file (`prefix_rule(...)`), with where it was written."""

    function: str
    line: int
    column: int
    arguments: tuple[Argument, ...]


@dataclass(frozen=True)
class _Token:
    """One token of a rules file."""

    kind: str  # "name", "string", "op", "newline" or "eof"
    text: str  # the name, the decoded string, or the operator character
    line: int
    column: int


_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"',
    "a": "\a", "b": "\b", "f": "\f", "v": "\v",
}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class _Lexer:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self._line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def error(self, offset: int, message: str) -> RulesError:
        line, column = self.position(offset)
        return RulesError(self.path, line, column, message)

    def tokens(self) -> Iterator[_Token]:
        text, n = self.text, len(self.text)
        i = 0
        depth = 0  # open brackets: newlines inside them do not end a statement
        last_was_newline = True
        while i < n:
            c = text[i]
            if c in " \t\r\f":
                i += 1
            elif c == "#":
                end = text.find("\n", i)
                i = n if end < 0 else end
            elif c == "\n":
                if depth == 0 and not last_was_newline:
                    yield _Token("newline", "\n", *self.position(i))
                    last_was_newline = True
                i += 1
            elif c == "\\" and text.startswith("\n", i + 1):
                i += 2
            elif c in "\"'" or (c in "rR" and i + 1 < n and text[i + 1] in "\"'"):
                value, end = self._string(i)
                yield _Token("string", value, *self.position(i))
                last_was_newline = False
                i = end
            elif c in _NAME_START:
                start = i
                while i < n and text[i] in _NAME_CHARS:
                    i += 1
                yield _Token("name", text[start:i], *self.position(start))
                last_was_newline = False
            elif c in "()[],=":
                if c in "([":
                    depth += 1
                elif c in ")]":
                    depth = max(0, depth - 1)
                yield _Token("op", c, *self.position(i))
                last_was_newline = False
                i += 1
            else:
                raise self.error(i, f"unexpected character {c!r}")
        yield _Token("eof", "", *self.position(n))

    def _string(self, start: int) -> tuple[str, int]:
        text, n = self.text, len(self.text)
        i = start
        raw = text[i] in "rR"
        if raw:
            i += 1
        quote = text[i]
        delimiter = quote * 3 if text.startswith(quote * 3, i) else quote
        i += len(delimiter)
        out: list[str] = []
        while True:
            if i >= n or (text[i] == "\n" and len(delimiter) == 1):
                raise self.error(start, "unterminated string")
            if text.startswith(delimiter, i):
                return "".join(out), i + len(delimiter)
            c = text[i]
            if c != "\\":
                out.append(c)
                i += 1
                continue
            if i + 1 >= n:
                raise self.error(start, "unterminated string")
            nxt = text[i + 1]
            if raw:
                out.append(c + nxt)
                i += 2
            elif nxt == "\n":
                i += 2
            elif nxt in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[nxt])
                i += 2
            elif nxt in "01234567":
                j = i + 1
                while j < n and j < i + 4 and text[j] in "01234567":
                    j += 1
                code = int(text[i + 1 : j], 8)
                if code > 0xFF:
                    raise self.error(i, f"octal escape {text[i:j]!r} is out of range")
                out.append(chr(code))
                i = j
            elif nxt in _HEX_ESCAPES:
                digits = text[i + 2 : i + 2 + _HEX_ESCAPES[nxt]]
                if len(digits) != _HEX_ESCAPES[nxt] or not all(d in _HEX_DIGITS for d in digits):
                    raise self.error(i, f"invalid escape sequence '\\{nxt}': expected hex digits")
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise self.error(i, f"escape '\\{nxt}{digits}' is not a valid code point")
                out.append(chr(code))
                i += 2 + len(digits)
            else:
                raise self.error(i, f"invalid escape sequence '\\{nxt}'")


class _Parser:
    def __init__(self, text: str, path: str, functions: frozenset[str]) -> None:
        self.path = path
        self.functions = functions
        self._tokens = _Lexer(text, path).tokens()
        self._peeked: _Token | None = None
        self._globals: dict[str, Value] = {}

    def _peek(self) -> _Token:
        if self._peeked is None:
            self._peeked = next(self._tokens)
        return self._peeked

    def _next(self) -> _Token:
        token = self._peek()
        if token.kind != "eof":
            self._peeked = None
        return token

    def _error(self, token: _Token, message: str) -> RulesError:
        return RulesError(self.path, token.line, token.column, message)

    @staticmethod
    def _is_op(token: _Token, op: str) -> bool:
        return token.kind == "op" and token.text == op

    @staticmethod
    def _describe(token: _Token) -> str:
        if token.kind == "eof":
            return "end of file"
        if token.kind == "newline":
            return "end of line"
        if token.kind == "string":
            return "a string"
        return repr(token.text)

    def parse(self) -> list[Call]:
        calls: list[Call] = []
        while True:
            token = self._next()
            if token.kind == "eof":
                return calls
            if token.kind == "newline":
                continue
            if token.kind != "name":
                raise self._error(token, f"expected a statement, found {self._describe(token)}")
            after = self._peek()
            if self._is_op(after, "="):
                self._next()
                self._assign(token)
            elif self._is_op(after, "("):
                calls.append(self._call(token))
            else:
                raise self._error(after, f"expected '=' or '(' after {token.text!r}")
            end = self._peek()
            if end.kind not in ("newline", "eof"):
                raise self._error(end, f"expected end of line, found {self._describe(end)}")

    def _assign(self, name: _Token) -> None:
        if name.text in self.functions:
            raise self._error(name, f"cannot assign to built-in {name.text!r}")
        if name.text in self._globals:
            raise self._error(name, f"{name.text!r} is already defined")
        self._globals[name.text] = self._expr(0)

    def _call(self, name: _Token) -> Call:
        if name.text not in self.functions:
            known = " or ".join(sorted(self.functions))
            raise self._error(name, f"unknown function {name.text!r} (expected {known})")
        opening = self._next()
        arguments: list[Argument] = []
        seen: set[str] = set()
        while True:
            token = self._next()
            if self._is_op(token, ")"):
                break
            if token.kind == "eof":
                raise self._error(opening, "unterminated '('")
            if token.kind != "name" or not self._is_op(self._peek(), "="):
                raise self._error(token, "positional arguments are not supported; write name = value")
            self._next()
            if token.text in seen:
                raise self._error(token, f"duplicate argument {token.text!r}")
            seen.add(token.text)
            arguments.append(Argument(token.text, token.line, token.column, self._expr(1)))
            after = self._next()
            if self._is_op(after, ")"):
                break
            if after.kind == "eof":
                raise self._error(opening, "unterminated '('")
            if not self._is_op(after, ","):
                raise self._error(after, f"expected ',' or ')', found {self._describe(after)}")
        return Call(name.text, name.line, name.column, tuple(arguments))

    def _expr(self, depth: int) -> Value:
        token = self._next()
        if token.kind == "string":
            return Value(token.line, token.column, token.text)
        if self._is_op(token, "["):
            if depth >= MAX_NESTING:
                raise self._error(token, "lists are nested too deeply")
            return self._list(token, depth + 1)
        if token.kind == "name":
            if self._is_op(self._peek(), "("):
                raise self._error(token, "function calls are only allowed as statements")
            if token.text in self._globals:
                return self._globals[token.text]
            raise self._error(token, f"undefined name {token.text!r}")
        raise self._error(token, f"expected a string or a list, found {self._describe(token)}")

    def _list(self, opening: _Token, depth: int) -> Value:
        items: list[Value] = []
        while True:
            if self._is_op(self._peek(), "]"):
                self._next()
                break
            if self._peek().kind == "eof":
                raise self._error(opening, "unterminated '['")
            items.append(self._expr(depth))
            after = self._next()
            if self._is_op(after, "]"):
                break
            if after.kind == "eof":
                raise self._error(opening, "unterminated '['")
            if not self._is_op(after, ","):
                raise self._error(after, f"expected ',' or ']', found {self._describe(after)}")
        return Value(opening.line, opening.column, tuple(items))


def parse_calls(text: str, path: str, functions: frozenset[str]) -> list[Call]:
    """Parse `text` into its top-level call statements (assignments are resolved into values).

    Raises RulesError for anything outside the subset, naming `path`, line and column."""
    return _Parser(text, path, functions).parse()
