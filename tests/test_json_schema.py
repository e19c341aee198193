"""Checking values against schemas from outside: errors named, unusable schemas ignored, bounded."""

from __future__ import annotations

import subprocess
import sys

import pytest

from codex_mcp.agent.json_schema import MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, violation

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


async def test_a_value_that_follows_the_schema_passes() -> None:
    assert await violation(SCHEMA, {"name": "Ada"}) is None


async def test_a_value_that_breaks_it_is_named_with_its_path() -> None:
    problem = await violation(SCHEMA, {"name": 42})
    assert problem is not None and problem.startswith("name:") and "string" in problem
    assert "required" in (await violation(SCHEMA, {}) or "")


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "no-such-type"},  # not a valid schema
        {"description": "x" * (MAX_SCHEMA_BYTES + 1), "type": "integer"},  # too large to use
        "not a schema",
    ],
)
async def test_an_unusable_schema_decides_nothing(schema: object) -> None:
    assert await violation(schema, "anything") is None


async def test_a_deeply_nested_schema_is_not_walked() -> None:
    deep: dict[str, object] = {"type": "integer"}
    for _ in range(MAX_SCHEMA_DEPTH + 5):
        deep = {"type": "object", "properties": {"x": deep}}
    assert await violation(deep, {"x": "not checked"}) is None


def test_the_server_start_path_does_not_import_jsonschema() -> None:
    code = "import sys, codex_mcp.cli, codex_mcp.handshake; print('jsonschema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
