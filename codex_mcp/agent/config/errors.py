"""The one exception type of the config package.

A `ConfigError` carries a human-readable `detail` plus where the bad value came from, so
that callers (the MCP tool handler, the CLI) can either print `str(error)` or build their
own text from the parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Origin = Literal["config.toml", "cli", "call", "typed"]

_ORIGIN_SUFFIX: dict[str, str] = {
    "cli": " (set by a server `-c` override)",
    "call": "",  # the tool handler adds its own "from overrides" prefix
    "typed": " (set by a tool argument)",
}


class ConfigError(Exception):
    """Invalid configuration.

    `str(err)` is a complete message:

    * from config.toml: ``{file}:{line}: {detail}`` (``{file}: {detail}`` when the line is
      unknown; ``{file}:{line}:{column}: ...`` for TOML syntax errors);
    * from a server ``-c`` override: ``{detail} (set by a server `-c` override)``;
    * from the tool's ``config`` object: ``{detail}``;
    * from a typed tool argument: ``{detail} (set by a tool argument)``.
    """

    def __init__(
        self,
        detail: str,
        *,
        key: str | None = None,
        origin: Origin | None = None,
        file: Path | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.detail = detail
        self.key = key
        self.origin: Origin | None = origin
        self.file = file
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            return f"{where}: {self.detail}"
        if self.origin is not None:
            return self.detail + _ORIGIN_SUFFIX.get(self.origin, "")
        return self.detail
