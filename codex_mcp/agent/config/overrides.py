"""`-c key=value` overrides and the tool's `config` object, as edits of the raw TOML tree.

Pure functions only.  An override is a `(path, value)` pair where `path` is the list of
table keys (`["model_providers", "my.x", "base_url"]`) and `value` a plain TOML-like
Python value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from codex_mcp.errors import ConfigError

Override = tuple[list[str], Any]

_BASIC_ESCAPES = {'"': '"', "\\": "\\", "b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r"}
_BLANK = " \t"


def _closing_quote(text: str, start: int) -> int:
    """Index of the quote closing the one at `start`, or -1."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        c = text[i]
        if quote == '"' and c == "\\":
            i += 2
            continue
        if c == quote:
            return i
        i += 1
    return -1


def _decode_quoted(body: str, quote: str) -> str:
    if quote == "'":
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _BASIC_ESCAPES:
                out.append(_BASIC_ESCAPES[nxt])
                i += 2
                continue
            width = {"u": 4, "U": 8}.get(nxt)
            if width is not None:
                digits = body[i + 2 : i + 2 + width]
                if len(digits) == width and all(d in "0123456789abcdefABCDEF" for d in digits):
                    code = int(digits, 16)
                    if code <= 0x10FFFF:
                        out.append(chr(code))
                        i += 2 + width
                        continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_key_path(key: str) -> list[str]:
    """Split a dotted key into segments; `"..."` / `'...'` segments may contain dots."""
    if not key.strip():
        raise ConfigError("empty key in config override")
    segments: list[str] = []
    i, n = 0, len(key)
    while True:
        while i < n and key[i] in _BLANK:
            i += 1
        if i < n and key[i] in "\"'":
            end = _closing_quote(key, i)
            if end < 0:
                raise ConfigError(f"unterminated quote in config key `{key}`")
            segments.append(_decode_quoted(key[i + 1 : end], key[i]))
            i = end + 1
            while i < n and key[i] in _BLANK:
                i += 1
            if i < n and key[i] != ".":
                raise ConfigError(f"expected `.` after a quoted segment in config key `{key}`")
        else:
            dot = key.find(".", i)
            end = n if dot < 0 else dot
            segment = key[i:end].strip()
            if not segment:
                raise ConfigError(f"empty segment in config key `{key}`")
            segments.append(segment)
            i = end
        if i >= n:
            return segments
        i += 1  # skip the dot
        if i >= n or not key[i:].strip():
            raise ConfigError(f"empty segment in config key `{key}`")


def split_assignment(text: str) -> tuple[str, str]:
    """Split at the first `=` that is not inside a quoted key segment."""
    i, n = 0, len(text)
    segment_start = True
    while i < n:
        c = text[i]
        if c == "=":
            return text[:i], text[i + 1 :]
        if segment_start and c in "\"'":
            end = _closing_quote(text, i)
            if end < 0:
                break
            i = end + 1
            segment_start = False
            continue
        if c == ".":
            segment_start = True
        elif c not in _BLANK:
            segment_start = False
        i += 1
    eq = text.find("=")
    if eq < 0:
        raise ConfigError(f"invalid config override `{text}`: expected `key=value`")
    return text[:eq], text[eq + 1 :]


def parse_value(raw: str) -> Any:
    """A TOML value if `raw` is one (`42`, `"x"`, `[1, 2]`, `{a = 1}`), else the trimmed text."""
    text = raw.strip()
    import tomllib

    try:
        doc = tomllib.loads(f"_x_ = {text}")
    except Exception:  # TOMLDecodeError, RecursionError on absurd nesting, ...
        return text
    if len(doc) != 1 or "_x_" not in doc:
        return text  # e.g. "1\ny = 2" smuggling in a second key: keep it literal
    return doc["_x_"]


def parse_override(text: str) -> Override:
    """Parse one `-c key=value`: split at the first `=`, trim, dotted key, TOML-or-raw value."""
    key, raw_value = split_assignment(text)
    key = key.strip()
    if not key:
        raise ConfigError(f"invalid config override `{text}`: empty key")
    return parse_key_path(key), parse_value(raw_value)


def apply_overrides(
    tree: Mapping[str, Any], overrides: Iterable[tuple[Sequence[str], Any]]
) -> dict[str, Any]:
    """Return a copy of `tree` with each override set at its path (the input is not modified).

    Missing intermediate tables are created and non-table intermediates are replaced.
    Only the dicts along the edited paths are copied; untouched subtrees are shared.
    """
    root: dict[str, Any] = dict(tree)
    fresh: dict[int, dict[str, Any]] = {id(root): root}  # values keep the ids alive
    for path, value in overrides:
        if not path:
            raise ConfigError("empty key in config override")
        node = root
        for segment in path[:-1]:
            child = node.get(segment)
            if not isinstance(child, dict) or id(child) not in fresh:
                child = dict(child) if isinstance(child, Mapping) else {}
                fresh[id(child)] = child
                node[segment] = child
            node = child
        node[path[-1]] = value
    return root


def _from_json(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if v is None:
                continue
            if not isinstance(k, str):
                raise ConfigError(f"invalid key {k!r} in config override `{key}`", key=key, origin="call")
            out[k] = _from_json(v, key)
        return out
    if isinstance(value, list | tuple):
        return [_from_json(v, key) for v in value if v is not None]
    if isinstance(value, bool | int | float | str):
        return value
    raise ConfigError(
        f"invalid value for `{key}`: {type(value).__name__} is not a TOML value", key=key, origin="call"
    )


def json_overrides(obj: Mapping[str, Any]) -> list[Override]:
    """Overrides from the tool's `config` JSON object.

    Keys are dotted paths (quoted segments allowed); a nested object replaces the whole
    table at its key, like `-c key={...}`.  A `null` value means "no override" and is skipped.
    """
    result: list[Override] = []
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ConfigError(f"invalid config key {key!r}", origin="call")
        if value is None:
            continue
        try:
            path = parse_key_path(key)
        except ConfigError as err:
            raise ConfigError(err.detail, key=key, origin="call") from None
        result.append((path, _from_json(value, key)))
    return result
