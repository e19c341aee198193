"""Every file of the generated package `codex_mcp/_generated/`, and what produces it.

One table, so that one command writes them all and one `--check` proves them all fresh, and so
that a file nothing produces any more (a dropped revision) is noticed instead of lingering.
"""

from __future__ import annotations

from pathlib import Path

from mcp_types_gen import icon
from mcp_types_gen.emit import render
from mcp_types_gen.schema import DEFAULT_PIN_DIR, DEFAULT_SCHEMA_DIR, REVISIONS, load_schema
from mcp_types_gen.templates import GENERATED_MARK, REGENERATE
from mcp_types_gen.translate import translate

TOOL_CATALOGUE = "tool_catalogue.py"
"""Written by `codex_mcp.tools.schema_gen` (from the tool argument models) and by this package."""


def generate_revision(schema_path: Path, pin_file: Path, version: str) -> str:
    """The wire-model module for one revision's schema (raises SchemaError)."""
    loaded = load_schema(schema_path, pin_file, version)
    return render(translate(loaded.definitions, loaded.ref_prefix), loaded.sha256, version)


def package_init() -> str:
    modules = ", ".join(f"`{r.module}`" for r in REVISIONS)
    return "\n".join(
        [
            GENERATED_MARK,
            REGENERATE,
            '"""Generated code only: change the generators, never these files.',
            "",
            f"* {modules}: pydantic models of the MCP wire types of each protocol revision, from the",
            "  official JSON schemas (sha256-pinned in `vendor/`; the schemas are not in this repository);",
            f"* `{TOOL_CATALOGUE.removesuffix('.py')}`: the `tools/list` catalogue, from the argument models",
            "  of `codex_mcp/tools/args.py` (`python -m codex_mcp.tools.schema_gen` writes it too);",
            "* `icons`: the icon published to clients of MCP 2025-11-25 and later.",
            "",
            "Importing this package imports nothing else: the start path reads `tool_catalogue` and `icons`",
            "without paying for pydantic.",
            '"""',
            "",
        ]
    )


def tool_catalogue() -> str:
    # Imported here: it pulls in pydantic and the argument models, which only this output needs.
    from codex_mcp.tools import schema_gen

    return schema_gen.render()


def produce_all(schema_dir: Path = DEFAULT_SCHEMA_DIR, pin_dir: Path = DEFAULT_PIN_DIR) -> dict[str, str]:
    """File name inside the generated package -> its text. Raises SchemaError before producing any."""
    files = {"__init__.py": package_init()}
    for revision in REVISIONS:
        files[f"{revision.module}.py"] = generate_revision(
            revision.schema_path(schema_dir), revision.pin_file(pin_dir), revision.version
        )
    files[TOOL_CATALOGUE] = tool_catalogue()
    files["icons.py"] = icon.render()
    return files
