"""Locating and loading the MCP schema, and checking it against the pinned sha256."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_types_gen import SCHEMA_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCHEMA = REPO_ROOT.parent / "shared" / "mcp-schema" / SCHEMA_VERSION / "schema.json"
DEFAULT_OUTPUT = REPO_ROOT / "codex_mcp" / "mcp_types.py"
PIN_FILE = REPO_ROOT / "vendor" / f"mcp-schema-{SCHEMA_VERSION}.sha256"


class SchemaError(Exception):
    """The schema is missing, does not match the pin, or cannot be translated (CLI exit status 2)."""


@dataclass(frozen=True)
class LoadedSchema:
    path: Path
    sha256: str
    definitions: dict[str, Any]


def read_pin(pin_file: Path = PIN_FILE) -> str:
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


def load_schema(path: Path, pin_file: Path = PIN_FILE) -> LoadedSchema:
    """Read `path`, verify its sha256 against the pin, and return its `definitions`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SchemaError(
            f"MCP schema not found at {path}; pass --schema PATH (the official "
            f"schema/{SCHEMA_VERSION}/schema.json of modelcontextprotocol/modelcontextprotocol)"
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
    definitions = document.get("definitions") if isinstance(document, dict) else None
    if not isinstance(definitions, dict) or not definitions:
        raise SchemaError(f"{path} has no 'definitions' object (a draft-07 MCP schema is expected)")
    return LoadedSchema(path=path, sha256=actual, definitions=definitions)
