"""Holding what we send to the generated models of the protocol revision it was negotiated for.

The generated models keep unknown keys (peers may add any), so validating alone would let a
2025-11-25 field slip into a 2025-06-18 answer; `undeclared` lists the keys a revision does not
define, so a test can require that list to be exactly our deliberate extras.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from pydantic import BaseModel

from codex_mcp._generated import mcp_2025_06_18, mcp_2025_11_25


def revision_module(version: str) -> ModuleType:
    """The generated models that govern an answer at `version` (older versions answer as 2025-06-18)."""
    return mcp_2025_11_25 if version >= "2025-11-25" else mcp_2025_06_18


def undeclared(value: Any, path: str = "$") -> set[str]:
    """Paths of the keys no model of the revision declares (kept by pydantic as extras)."""
    found: set[str] = set()
    if isinstance(value, BaseModel):
        found |= {f"{path}.{key}" for key in value.model_extra or {}}
        for name, info in type(value).model_fields.items():
            found |= undeclared(getattr(value, name), f"{path}.{info.serialization_alias or name}")
    elif isinstance(value, list):
        for item in value:
            found |= undeclared(item, f"{path}[]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found |= undeclared(item, f"{path}.{key}")
    return found
