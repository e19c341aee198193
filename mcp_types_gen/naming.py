"""Name mapping: JSON property names to Python attributes, synthesized class names, constants."""

from __future__ import annotations

import keyword
import re

# Attribute names a pydantic model must not define as fields (they shadow BaseModel API).
_RESERVED = frozenset(
    {
        "construct",
        "copy",
        "dict",
        "fields",
        "from_orm",
        "json",
        "model_computed_fields",
        "model_config",
        "model_construct",
        "model_copy",
        "model_dump",
        "model_dump_json",
        "model_extra",
        "model_fields",
        "model_fields_set",
        "model_json_schema",
        "model_parametrized_name",
        "model_post_init",
        "model_rebuild",
        "model_validate",
        "model_validate_json",
        "model_validate_strings",
        "parse_file",
        "parse_obj",
        "parse_raw",
        "schema",
        "schema_json",
        "update_forward_refs",
        "validate",
    }
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z_]+")


def snake_case(wire_name: str) -> str:
    """`mimeType` -> `mime_type`, `_meta` -> `meta`, `isError` -> `is_error`.

    Keywords and names that would shadow the pydantic API get a trailing underscore.
    """
    base = _NON_WORD.sub("_", wire_name).strip("_")
    if not base:
        raise ValueError(f"cannot derive a Python name from {wire_name!r}")
    name = _CAMEL_BOUNDARY.sub("_", base).lower()
    if name[0].isdigit():
        name = "f_" + name
    if keyword.iskeyword(name) or name in _RESERVED:
        name += "_"
    return name


def pascal_case(wire_name: str) -> str:
    """`requestedSchema` -> `RequestedSchema`, `_meta` -> `Meta` (for synthesized class names)."""
    parts = [p for p in _NON_WORD.sub("_", wire_name).split("_") if p]
    if not parts:
        raise ValueError(f"cannot derive a class name from {wire_name!r}")
    return "".join(p[0].upper() + p[1:] for p in parts)


def constant_case(text: str) -> str:
    """`sampling/createMessage` -> `SAMPLING_CREATE_MESSAGE`, `ClientRequest` -> `CLIENT_REQUEST`."""
    words = _NON_WORD.sub("_", text)
    return _CAMEL_BOUNDARY.sub("_", words).strip("_").upper()


def method_constant(method: str) -> str:
    """The module-level constant holding a method name: `tools/call` -> `METHOD_TOOLS_CALL`."""
    return "METHOD_" + constant_case(method)
