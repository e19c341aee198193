"""`python -m mcp_types_gen [--check] [--schema-dir DIR] [--pin-dir DIR] [--output-dir DIR]`.

Writes (or, with `--check`, verifies) every file of `codex_mcp/_generated/`. Exit status: 0 written /
fresh, 1 stale (`--check`; a unified diff is printed) or a file there that nothing produces, 2 schema
problem (missing, sha256 differs from the pin, or not translatable) or bad usage.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mcp_types_gen.outputs import produce_all
from mcp_types_gen.schema import DEFAULT_OUTPUT_DIR, DEFAULT_PIN_DIR, DEFAULT_SCHEMA_DIR, SchemaError

_PROG = "mcp_types_gen"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            os.fchmod(handle.fileno(), 0o644)  # mkstemp makes 0600; these are ordinary source files
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _strays(output_dir: Path, expected: dict[str, str]) -> list[Path]:
    """Python files in the generated package that no generator produces (e.g. a dropped revision)."""
    if not output_dir.is_dir():
        return []
    return sorted(p for p in output_dir.glob("*.py") if p.name not in expected)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {_PROG}",
        description="Generate codex_mcp/_generated/: the MCP wire models of every supported protocol "
        "revision (from the official JSON schemas, sha256-pinned in vendor/), the tools/list catalogue "
        "and the server icon.",
    )
    parser.add_argument(
        "--schema-dir",
        type=Path,
        default=DEFAULT_SCHEMA_DIR,
        help=f"directory holding <revision>/schema.json (default: {DEFAULT_SCHEMA_DIR})",
    )
    parser.add_argument(
        "--pin-dir",
        type=Path,
        default=DEFAULT_PIN_DIR,
        help=f"directory of the mcp-schema-<revision>.sha256 pins (default: {DEFAULT_PIN_DIR})",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=f"generated package to write or check (default: {DEFAULT_OUTPUT_DIR})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 with a unified diff if any generated file is stale, 0 if all are fresh",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    output_dir: Path = args.output_dir
    try:
        files = produce_all(args.schema_dir, args.pin_dir)
    except SchemaError as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 2
    stale: list[Path] = []
    for name, text in files.items():
        path = output_dir / name
        current = _read(path)
        if current == text:
            continue
        if args.check:
            stale.append(path)
            sys.stdout.writelines(
                difflib.unified_diff(
                    (current or "").splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    fromfile=f"{path} (committed)",
                    tofile=f"{path} (generated)",
                )
            )
        else:
            _write_atomically(path, text)
            print(f"{_PROG}: wrote {path}", file=sys.stderr)
    strays = _strays(output_dir, files)
    for path in strays:
        print(f"{_PROG}: {path} is produced by no generator; delete it", file=sys.stderr)
    if stale:
        names = ", ".join(p.name for p in stale)
        print(f"{_PROG}: stale in {output_dir}: {names}; run `python -m {_PROG}`", file=sys.stderr)
    if stale or strays:
        return 1
    if args.check:
        print(f"{_PROG}: {output_dir} is up to date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
