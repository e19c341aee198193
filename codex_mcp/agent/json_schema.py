"""Checking a JSON value against a JSON Schema someone else wrote (jsonschema, loaded lazily).

Two places receive a value together with the schema it should follow: an MCP server's tool
result (`structuredContent` against the tool's `outputSchema`) and the person's answer to an
MCP server's question (`content` against the `requestedSchema`).  Both schemas come from
outside, so checking is bounded: a schema over `MAX_SCHEMA_BYTES` or nested deeper than
`MAX_SCHEMA_DEPTH`, or one that is not a valid schema, is not used (the value is neither
accepted nor refused on its account: `check` says it could not tell), and the check runs in a
worker thread so a slow pattern cannot stall the event loop.  jsonschema is imported on first
use only: the server's start path never pays for it.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

import anyio.to_thread

log = logging.getLogger(__name__)

MAX_SCHEMA_BYTES = 64 * 1024
MAX_SCHEMA_DEPTH = 32
MAX_INSTANCE_BYTES = 1024 * 1024


def _depth(value: Any, limit: int) -> bool:
    """Whether `value` nests at most `limit` containers deep (iterative, no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return False
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return True


@functools.lru_cache(maxsize=64)
def _validator(schema_text: str) -> Any:
    """A validator for the schema (cached by its text); None when it is not a valid schema."""
    from jsonschema import exceptions, validators

    schema = json.loads(schema_text)
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        log.info("not a usable JSON schema (%s); values are not checked against it", exc.message)
        return None
    return cls(schema)


def _check(schema_text: str, instance: Any) -> str | None:
    validator = _validator(schema_text)
    if validator is None:
        return None
    error = next(iter(validator.iter_errors(instance)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "the value"
    return f"{where}: {error.message}"


async def violation(schema: Any, instance: Any) -> str | None:
    """The first way `instance` breaks `schema` ("<path>: <why>"), or None when it follows it or
    the schema cannot be used (see the module docstring for when)."""
    if not isinstance(schema, dict | bool) or not _depth(schema, MAX_SCHEMA_DEPTH):
        return None
    try:
        schema_text = json.dumps(schema, sort_keys=True)
        instance_size = len(json.dumps(instance))
    except (TypeError, ValueError):
        return None
    if len(schema_text) > MAX_SCHEMA_BYTES or instance_size > MAX_INSTANCE_BYTES:
        return None
    return await anyio.to_thread.run_sync(_check, schema_text, instance)
