"""Lazy re-exports for package roots.

A package root that re-exports names from its submodules would import all of them on
first touch; the server's start path touches several package roots and must not pay for
their heavy parts (httpx, pydantic, the sandbox backends).  `lazy_exports` gives a package
a module `__getattr__` that imports the defining submodule on first use of a name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """`names` maps an exported name to the submodule (absolute) that defines it."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
