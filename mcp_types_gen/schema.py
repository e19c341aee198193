"""The MCP schema revisions we generate from: where each one is, its pin, and loading it.

The schema files are third-party data kept outside this repository; each revision's sha256 is
pinned in `vendor/mcp-schema-<revision>.sha256` and checked before anything is generated, so a
changed upstream file never slips into the generated code unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_schema_dir() -> Path:
    """`$CODEX_MCP_SHARED/mcp-schema`, else the nearest `shared/mcp-schema` beside an ancestor of the
    checkout (`../shared` for the main checkout, `../../shared` for a worktree under `wt/`)."""
    shared = os.environ.get("CODEX_MCP_SHARED")
    if shared:
        return Path(shared) / "mcp-schema"
    for ancestor in REPO_ROOT.parents:
        candidate = ancestor / "shared" / "mcp-schema"
        if candidate.is_dir():
            return candidate
    return REPO_ROOT.parent / "shared" / "mcp-schema"


DEFAULT_SCHEMA_DIR = _default_schema_dir()
"""Holds `<revision>/schema.json` for every revision (the layout of the upstream repository)."""
DEFAULT_PIN_DIR = REPO_ROOT / "vendor"
GENERATED_PACKAGE = "codex_mcp._generated"
DEFAULT_OUTPUT_DIR = REPO_ROOT / "codex_mcp" / "_generated"

# The two layouts a schema can have: draft-07 `definitions` (up to 2025-06-18) and JSON Schema
# 2020-12 `$defs` (from 2025-11-25 on). Each pairs the key with the prefix of its local refs.
_LAYOUTS = (("definitions", "#/definitions/"), ("$defs", "#/$defs/"))


class SchemaError(Exception):
    """The schema is missing, does not match the pin, or cannot be translated (CLI exit status 2)."""


@dataclass(frozen=True)
class Revision:
    """One MCP protocol revision we generate wire models for."""

    version: str

    @property
    def module(self) -> str:
        """`mcp_2025_06_18`: the generated module's name inside `codex_mcp._generated`."""
        return "mcp_" + self.version.replace("-", "_")

    def schema_path(self, schema_dir: Path = DEFAULT_SCHEMA_DIR) -> Path:
        return schema_dir / self.version / "schema.json"

    def pin_file(self, pin_dir: Path = DEFAULT_PIN_DIR) -> Path:
        return pin_dir / f"mcp-schema-{self.version}.sha256"


REVISIONS: tuple[Revision, ...] = (Revision("2025-06-18"), Revision("2025-11-25"))
"""Oldest first. Adding one: pin its sha256 in vendor/, add it here, regenerate."""


@dataclass(frozen=True)
class LoadedSchema:
    path: Path
    sha256: str
    definitions: dict[str, Any]
    ref_prefix: str
    """`#/definitions/` or `#/$defs/`: how this schema's `$ref`s name its definitions."""


def read_pin(pin_file: Path) -> str:
    """The pinned sha256: the first field of the first non-comment line of the pin file."""
    try:
        text = pin_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemaError(f"cannot read the schema pin {pin_file}: {exc.strerror or exc}") from exc
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest = line.split()[0].lower()
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            return digest
        break
    raise SchemaError(f"{pin_file} does not start with a sha256 line ('<sha256>  <path>')")


def load_schema(path: Path, pin_file: Path, version: str = "") -> LoadedSchema:
    """Read `path`, verify its sha256 against the pin, and return its definitions."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        wanted = f"schema/{version}/schema.json" if version else "schema/<revision>/schema.json"
        raise SchemaError(
            f"MCP schema not found at {path}; pass --schema-dir DIR (holding the official "
            f"{wanted} of modelcontextprotocol/modelcontextprotocol)"
        ) from None
    except OSError as exc:
        raise SchemaError(f"cannot read the MCP schema {path}: {exc.strerror or exc}") from exc
    actual = hashlib.sha256(raw).hexdigest()
    expected = read_pin(pin_file)
    if actual != expected:
        raise SchemaError(
            f"sha256 mismatch for {path}: expected {expected} (pinned in {pin_file}), got {actual}. "
            "Use the pinned schema revision, or update the pin deliberately and review the regenerated diff."
        )
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise SchemaError(f"{path} is not valid JSON: {exc}") from exc
    if isinstance(document, dict):
        for key, prefix in _LAYOUTS:
            definitions = document.get(key)
            if isinstance(definitions, dict) and definitions:
                return LoadedSchema(path=path, sha256=actual, definitions=definitions, ref_prefix=prefix)
    raise SchemaError(f"{path} has neither a 'definitions' nor a '$defs' object (an MCP schema is expected)")
