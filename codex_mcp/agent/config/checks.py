"""Typed reads of the merged config tree, each failing with a precise `ConfigError`.

`Reader` knows where every value came from (config.toml, the selected profile, a server
`-c` override, the tool's `config` object) so that an error can name the right source, and
for config.toml the line of the key.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from codex_mcp.errors import ConfigError, Origin

T = TypeVar("T")
_MISSING: Any = object()
_BARE_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


def display_key(path: Sequence[str]) -> str:
    """`a.b."c.d"`: a dotted key as one would write it in TOML."""
    return ".".join(seg if _BARE_KEY.match(seg) else json.dumps(seg, ensure_ascii=False) for seg in path)


def describe(value: Any) -> str:
    """How a wrong value is shown in an error: `string "abc"`, `integer 5`, `a table`, ..."""
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, str):
        shown = json.dumps(value if len(value) <= 60 else value[:57] + "...", ensure_ascii=False)
        return f"string {shown}"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return f"datetime {value.isoformat()}"
    return type(value).__name__


def _covers(a: Sequence[str], b: Sequence[str]) -> bool:
    n = min(len(a), len(b))
    return list(a[:n]) == list(b[:n])


class Reader:
    """Reads the effective (profile-overlaid) tree and reports errors against their source."""

    def __init__(
        self,
        effective: Mapping[str, Any],
        *,
        config_file: Path,
        cli_paths: Sequence[Sequence[str]] = (),
        call_paths: Sequence[Sequence[str]] = (),
        profile: str | None = None,
        profile_table: Mapping[str, Any] | None = None,
        read_text: Callable[[Path], str | None] | None = None,
    ) -> None:
        self.effective = effective
        self.config_file = config_file
        self.cli_paths = cli_paths
        self.call_paths = call_paths
        self.profile = profile
        self.profile_table = profile_table or {}
        self._read_text = read_text

    # -- error reporting -------------------------------------------------------------------

    def raw_path(self, path: Sequence[str]) -> list[str]:
        """The path in the raw tree: under `profiles.<name>` when the profile supplied it."""
        if self.profile is None:
            return list(path)
        node: Any = self.profile_table
        for segment in path:
            if not isinstance(node, Mapping) or segment not in node:
                return list(path)
            node = node[segment]
        return ["profiles", self.profile, *path]

    def origin_of(self, raw: Sequence[str]) -> Origin:
        if any(_covers(p, raw) for p in self.call_paths):
            return "call"
        if any(_covers(p, raw) for p in self.cli_paths):
            return "cli"
        return "config.toml"

    def fail(
        self, path: Sequence[str], template: str, /, *, origin: Origin | None = None, **values: Any
    ) -> NoReturn:
        """Raise for `path`: `template.format(key=<displayed raw key>, **values)`."""
        raw = list(path) if origin == "typed" else self.raw_path(path)
        key = display_key(raw)
        text = template.format(key=key, **values)
        where = origin or self.origin_of(raw)
        if where != "config.toml":
            raise ConfigError(text, key=key, origin=where)
        line = None
        content = self._read_text(self.config_file) if self._read_text else None
        if content is not None:
            from codex_mcp.agent.config.locate import find_key_line

            line = find_key_line(content, raw)
        raise ConfigError(text, key=key, origin=where, file=self.config_file, line=line)

    def type_error(
        self, path: Sequence[str], expected: str, value: Any, *, origin: Origin | None = None
    ) -> NoReturn:
        self.fail(
            path,
            "invalid type for `{key}`: expected {expected}, got {got}",
            origin=origin,
            expected=expected,
            got=describe(value),
        )

    # -- typed reads -----------------------------------------------------------------------

    def get(self, path: Sequence[str]) -> Any:
        node: Any = self.effective
        for segment in path:
            if not isinstance(node, Mapping) or segment not in node:
                return _MISSING
            node = node[segment]
        return node

    def string(self, path: Sequence[str], default: T) -> str | T:
        value = self.get(path)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            self.type_error(path, "a string", value)
        return value

    def boolean(self, path: Sequence[str], default: T) -> bool | T:
        value = self.get(path)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.type_error(path, "a boolean", value)
        return value

    def integer(self, path: Sequence[str], default: T, *, minimum: int | None = 0) -> int | T:
        value = self.get(path)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.type_error(path, "an integer", value)
        if minimum is not None and value < minimum:
            word = "a non-negative" if minimum == 0 else f"an at least {minimum}"
            self.fail(
                path,
                "invalid value for `{key}`: expected {word} integer, got {value}",
                word=word,
                value=value,
            )
        return value

    def number(self, path: Sequence[str], default: T) -> float | T:
        value = self.get(path)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.type_error(path, "a number", value)
        return float(value)

    def enum(
        self,
        path: Sequence[str],
        choices: Sequence[str],
        default: T,
        *,
        aliases: Mapping[str, str] | None = None,
    ) -> str | T:
        value = self.get(path)
        if value is _MISSING:
            return default
        return self.check_enum(path, value, choices, aliases=aliases)

    def check_enum(
        self,
        path: Sequence[str],
        value: Any,
        choices: Sequence[str],
        *,
        aliases: Mapping[str, str] | None = None,
        origin: Origin | None = None,
    ) -> str:
        if not isinstance(value, str):
            self.type_error(path, "a string", value, origin=origin)
        if value in choices:
            return value
        if aliases and value in aliases:
            return aliases[value]
        expected = ", ".join(f"`{c}`" for c in choices)
        shown = value if len(value) <= 60 else value[:57] + "..."
        self.fail(
            path,
            "unknown value `{value}` for `{key}`, expected one of {expected}",
            origin=origin,
            value=shown,
            expected=expected,
        )

    def table(self, path: Sequence[str]) -> Mapping[str, Any] | None:
        value = self.get(path)
        if value is _MISSING:
            return None
        if not isinstance(value, Mapping):
            self.type_error(path, "a table", value)
        return value

    def string_list(self, path: Sequence[str]) -> tuple[str, ...] | None:
        value = self.get(path)
        if value is _MISSING:
            return None
        if not isinstance(value, list | tuple):
            self.type_error(path, "an array of strings", value)
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.fail(
                    path,
                    "invalid type for `{key}`: expected an array of strings, got {got} at index {index}",
                    got=describe(item),
                    index=index,
                )
        return tuple(value)

    def string_map(self, path: Sequence[str]) -> dict[str, str] | None:
        value = self.table(path)
        if value is None:
            return None
        for key, item in value.items():
            if not isinstance(item, str):
                self.type_error([*path, key], "a string", item)
        return dict(value)
