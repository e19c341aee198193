"""From a server's `tools/list` to the function tools the model is offered.

Two problems are solved here.  Names: the model API wants `[a-zA-Z0-9_-]{1,64}`, unique,
while MCP tool names are free-form, so each tool gets `mcp__<server>__<tool>` with other
characters replaced, cut to 64 characters with a hash of the raw name when too long (the
hash keeps two long names that share a prefix apart).  Schemas: servers write JSON Schema
the model API rejects (no `type`, boolean schemas, `$ref`s, draft keywords), so each input
schema is rewritten into the plain subset the API accepts; a schema that cannot describe a
JSON object of arguments drops the tool, not the server.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "mcp__"
DELIMITER = "__"
MAX_NAME_LEN = 64
HASH_LEN = 10
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_MAX_DEPTH = 32

# Keywords that carry no meaning for the model API or that it rejects; everything else
# passes through (after its subschemas are cleaned).
_DROPPED = frozenset({"$schema", "$id", "$comment", "$anchor", "$dynamicAnchor", "$vocabulary", "examples"})
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "patternProperties")
_NUMBER_HINTS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")


@dataclass(frozen=True)
class QualifiedTool:
    """One offered tool: the model-facing name and where it really lives."""

    qualified_name: str
    server: str
    tool: str
    spec: dict[str, Any]
    output_schema: Any = None
    """The tool's `outputSchema` (its `structuredContent` is checked against it), or None."""


class SchemaError(ValueError):
    pass


def qualified_name(server: str, tool: str) -> str:
    raw = f"{PREFIX}{server}{DELIMITER}{tool}"
    safe = _UNSAFE.sub("_", raw)
    if len(safe) <= MAX_NAME_LEN:
        return safe
    digest = hashlib.sha1(raw.encode("utf-8")).hexdigest()[:HASH_LEN]
    return f"{safe[: MAX_NAME_LEN - HASH_LEN - 1]}_{digest}"


# --- schemas -----------------------------------------------------------------------------


def _infer_type(schema: dict[str, Any]) -> str | None:
    if any(k in schema for k in ("properties", "required", "additionalProperties")):
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("enum", "const", "format", "minLength", "maxLength", "pattern")):
        return "string"
    if any(k in schema for k in _NUMBER_HINTS):
        return "number"
    return None


def _resolve_ref(ref: str, root: dict[str, Any]) -> dict[str, Any] | None:
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def clean_schema(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """One (sub)schema in the model API's subset: a dict with a `type` where one is implied."""
    if isinstance(schema, bool) or not isinstance(schema, dict):
        return {"type": "string"}
    root = schema if root is None else root
    if depth > _MAX_DEPTH:
        return {"type": "object"}  # a recursive $ref: stop describing, keep it valid
    if isinstance(schema.get("$ref"), str):
        target = _resolve_ref(schema["$ref"], root)
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        if target is not None:
            merged = {**target, **merged}
        else:
            merged.setdefault("type", "object")
        return clean_schema(merged, root, depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED or key in ("$defs", "definitions"):
            continue
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {str(k): clean_schema(v, root, depth + 1) for k, v in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [clean_schema(v, root, depth + 1) for v in value]
        elif (key in ("items", "not", "contains") and isinstance(value, dict | bool)) or (
            key == "additionalProperties" and isinstance(value, dict)
        ):
            out[key] = clean_schema(value, root, depth + 1)
        elif key == "required":
            if isinstance(value, list):
                out[key] = [str(v) for v in value if isinstance(v, str)]
        else:
            out[key] = value
    if "type" not in out and not any(k in out for k in ("anyOf", "oneOf", "allOf")):
        inferred = _infer_type(out)
        out["type"] = inferred or "string"
    kind = out.get("type")
    if kind == "object" or (isinstance(kind, list) and "object" in kind):
        out.setdefault("properties", {})
    if kind == "array" or (isinstance(kind, list) and "array" in kind):
        out.setdefault("items", {"type": "string"})
    return out


def clean_input_schema(schema: Any) -> dict[str, Any]:
    """A tool's whole input schema; raises `SchemaError` when it cannot be an arguments object."""
    if schema is None:
        return {"type": "object", "properties": {}}
    if not isinstance(schema, dict):
        raise SchemaError(f"inputSchema must be a JSON object, got {type(schema).__name__}")
    kind = schema.get("type", "object")
    if kind != "object":
        raise SchemaError(f"inputSchema must describe an object, got type {kind!r}")
    cleaned = clean_schema({**schema, "type": "object"})
    for combinator in ("anyOf", "oneOf", "allOf", "not", "enum"):
        cleaned.pop(combinator, None)  # rejected at the top level of function parameters
    return cleaned


def function_spec(name: str, tool: dict[str, Any]) -> dict[str, Any]:
    description = tool.get("description")
    if not isinstance(description, str):
        description = str(tool.get("title") or "")
    return {
        "type": "function",
        "name": name,
        "description": description,
        "strict": False,
        "parameters": clean_input_schema(tool.get("inputSchema")),
    }


def qualify_tools(
    listed: dict[str, list[dict[str, Any]]],
) -> tuple[list[QualifiedTool], list[str]]:
    """All servers' tools as model tools, sorted by name; plus warnings for what was dropped."""
    warnings: list[str] = []
    candidates: list[tuple[str, str, str, dict[str, Any]]] = []
    for server in sorted(listed):
        for tool in listed[server]:
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                warnings.append(f"MCP server '{server}' listed a tool without a name; skipped")
                continue
            candidates.append((qualified_name(server, name), server, name, tool))
    out: dict[str, QualifiedTool] = {}
    for qname, server, name, tool in candidates:
        if qname in out:
            warnings.append(
                f"MCP tool '{name}' of server '{server}' has the same name as another tool "
                f"('{qname}'); skipped"
            )
            continue
        try:
            spec = function_spec(qname, tool)
        except SchemaError as exc:
            warnings.append(f"MCP tool '{name}' of server '{server}' skipped: {exc}")
            continue
        out[qname] = QualifiedTool(qname, server, name, spec, tool.get("outputSchema"))
    return [out[k] for k in sorted(out)], warnings
