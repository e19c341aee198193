"""`python -m mcp_types_gen [--schema PATH] [--check] [--output PATH]`.

Exit status: 0 written / fresh, 1 stale (`--check`, a unified diff is printed), 2 schema problem
(missing, sha256 differs from the pin, or not translatable) or bad usage.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mcp_types_gen.emit import render
from mcp_types_gen.schema import DEFAULT_OUTPUT, DEFAULT_SCHEMA, PIN_FILE, SchemaError, load_schema
from mcp_types_gen.translate import translate


def generate(schema_path: Path, pin_file: Path = PIN_FILE) -> str:
    """The text of the generated module for the schema at `schema_path` (raises SchemaError)."""
    loaded = load_schema(schema_path, pin_file)
    return render(translate(loaded.definitions), loaded.sha256)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mcp_types_gen",
        description="Generate codex_mcp/mcp_types.py from the official MCP JSON schema (2025-06-18).",
    )
    parser.add_argument(
        "--schema", type=Path, default=DEFAULT_SCHEMA, help=f"schema.json to read (default: {DEFAULT_SCHEMA})"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"module to write or check (default: {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--pin", type=Path, default=PIN_FILE, help=f"sha256 pin of the schema (default: {PIN_FILE})"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 with a unified diff if the output file is stale, 0 if it is fresh",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    schema: Path = args.schema
    output: Path = args.output
    try:
        text = generate(schema, args.pin)
    except SchemaError as exc:
        print(f"mcp_types_gen: error: {exc}", file=sys.stderr)
        return 2
    try:
        current = output.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if args.check:
        if current == text:
            print(f"mcp_types_gen: {output} is up to date", file=sys.stderr)
            return 0
        diff = difflib.unified_diff(
            (current or "").splitlines(keepends=True),
            text.splitlines(keepends=True),
            fromfile=f"{output} (committed)",
            tofile=f"{output} (generated)",
        )
        sys.stdout.writelines(diff)
        print(f"mcp_types_gen: {output} is stale; run `python -m mcp_types_gen`", file=sys.stderr)
        return 1
    if current == text:
        print(f"mcp_types_gen: {output} unchanged", file=sys.stderr)
    else:
        _write_atomically(output, text)
        print(f"mcp_types_gen: wrote {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
