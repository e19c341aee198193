"""Render a translated `Module` as the source of one `codex_mcp/_generated/mcp_<revision>.py`.

Output is deterministic: declarations follow a depth-first walk of the sorted definition names, each
one preceded by what it refers to (so no forward references, no `model_rebuild`); synthesized inline
models therefore sit just before their parent. Every declaration, field and alias is one line however
long: the generated package is excluded from `ruff format`, so the layout is ours and stays simple.
"""

from __future__ import annotations

import re

from mcp_types_gen import JSONRPC_VERSION
from mcp_types_gen.naming import constant_case
from mcp_types_gen.schema import SchemaError
from mcp_types_gen.templates import BASE_MODEL, header, module_doc
from mcp_types_gen.translate import AliasDecl, Decl, FieldDecl, MethodEntry, ModelDecl, Module

_TYPING = ("Annotated", "Any", "ClassVar", "Final", "Literal", "TypeAlias")
_PYDANTIC = (
    "BaseModel",
    "ConfigDict",
    "Field",
    "SerializerFunctionWrapHandler",
    "StrictBool",
    "StrictInt",
    "StrictStr",
    "model_serializer",
)


def _split_top_level(text: str, sep: str) -> list[str]:
    """Parts of `text` separated by `sep` outside brackets (string literals here contain neither)."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _alias_lines(decl: AliasDecl) -> list[str]:
    lines: list[str] = []
    members = _split_top_level(decl.annotation, "|")
    if "Result" in members and len(members) > 1:
        lines.append(
            "# Ambiguous (bare `Result` accepts any object): pick the model by method, see REQUEST_TYPES."
        )
    return [*lines, f"{decl.name}: TypeAlias = {decl.annotation}"]


def _field_lines(f: FieldDecl) -> list[str]:
    head = f"    {f.py_name}: {f.annotation}"
    kwargs: list[str] = []
    if f.py_name != f.wire_name:
        kwargs += [f'validation_alias="{f.wire_name}"', f'serialization_alias="{f.wire_name}"']
    kwargs += [f"{kw}={value}" for kw, value in f.constraints]
    if not kwargs:
        return [head] if f.default is None else [f"{head} = {f.default}"]
    args = kwargs if f.default is None else [f"default={f.default}", *kwargs]
    return [f"{head} = Field({', '.join(args)})"]


def _model_lines(decl: ModelDecl, constants: dict[str, str]) -> list[str]:
    if "." in decl.origin:
        doc = f'    """The inline object at ``{decl.origin}``."""'
    else:
        doc = f'    """Schema definition ``{decl.origin}``."""'
    lines = [f"class {decl.name}(WireModel):", doc, ""]
    if decl.method is not None and decl.method in constants:
        lines += [f"    METHOD: ClassVar[str] = {constants[decl.method]}", ""]
    for f in decl.fields:
        lines += _field_lines(f)
    if not decl.fields:
        lines.pop()
    return lines


def _order(module: Module) -> list[Decl]:
    """Depth-first post-order over sorted definitions: every declaration after its dependencies."""
    done: dict[str, bool] = {}  # False while on the stack
    out: list[Decl] = []

    def visit(name: str) -> None:
        state = done.get(name)
        if state is True:
            return
        if state is False:
            raise SchemaError(f"reference cycle through {name}; the generator does not support cycles")
        done[name] = False
        decl = module.decls[name]
        deps = decl.deps
        if isinstance(decl, ModelDecl):
            # Visit in field order so inline models appear in the order their fields do.
            ordered = [d for f in decl.fields for d in sorted(deps) if re.search(rf"\b{d}\b", f.annotation)]
            for d in dict.fromkeys(ordered):
                visit(d)
        for d in sorted(deps):
            visit(d)
        done[name] = True
        out.append(decl)

    for name in module.definitions:
        visit(name)
    return out


def _table(name: str, annotation: str, rows: list[str]) -> list[str]:
    return [f"{name}: {annotation} = {{", *(f"    {r}," for r in rows), "}"]


def _tables(module: Module) -> list[str]:
    lines: list[str] = []
    lines += ["", "", "# method -> (params model, result model), client and server requests"]
    lines += _table(
        "REQUEST_TYPES",
        "Final[dict[str, tuple[type[WireModel] | None, type[WireModel]]]]",
        [f"{e.constant}: ({e.params}, {e.result})" for e in module.requests],
    )
    lines += ["", "# method -> params model, client and server notifications"]
    lines += _table(
        "NOTIFICATION_TYPES",
        "Final[dict[str, type[WireModel] | None]]",
        [f"{e.constant}: {e.params}" for e in module.notifications],
    )
    lines += ["", "# method -> the whole message model"]
    lines += _table(
        "REQUEST_MODELS",
        "Final[dict[str, type[WireModel]]]",
        [f"{e.constant}: {e.message}" for e in module.requests],
    )
    lines += _table(
        "NOTIFICATION_MODELS",
        "Final[dict[str, type[WireModel]]]",
        [f"{e.constant}: {e.message}" for e in module.notifications],
    )
    constants = {e.method: e.constant for e in (*module.requests, *module.notifications)}
    for union, methods in module.method_sets.items():
        lines += ["", f"# methods of the `{union}` union"]
        rows = [f"    {constants[m]}," for m in methods]
        lines += [
            f"{constant_case(union)}_METHODS: Final[frozenset[str]] = frozenset(",
            "    {",
            *["    " + r for r in rows],
            "    }",
            ")",
        ]
    return lines


def _imports(body: str) -> list[str]:
    typing = [n for n in _TYPING if re.search(rf"\b{n}\b", body)]
    pydantic = [n for n in _PYDANTIC if re.search(rf"\b{n}\b", body)]
    return [
        "import functools",
        f"from typing import {', '.join(typing)}",
        "",
        f"from pydantic import {', '.join(pydantic)}",
    ]


def _public_names(module: Module, entries: list[MethodEntry]) -> list[str]:
    """Everything the module offers, in the order `ruff`'s `__all__` rule sorts (constants, classes, rest)."""
    names = {"JSONRPC_VERSION", "MCP_SCHEMA_VERSION", "SCHEMA_DEFINITIONS", "WireModel", *module.decls}
    names |= {e.constant for e in entries}
    names |= {"REQUEST_TYPES", "NOTIFICATION_TYPES", "REQUEST_MODELS", "NOTIFICATION_MODELS"}
    names |= {f"{constant_case(union)}_METHODS" for union in module.method_sets}

    def key(name: str) -> tuple[int, str]:
        if name.isupper() or (name.upper() == name and "_" in name):
            return (0, name)
        return (1, name) if name[:1].isupper() else (2, name)

    return sorted(names, key=key)


def render(module: Module, schema_sha256: str, version: str) -> str:
    """The module text for `module`, translated from the `version` schema with that sha256."""
    entries: list[MethodEntry] = sorted((*module.requests, *module.notifications), key=lambda e: e.constant)
    constants = {e.method: e.constant for e in entries}
    body: list[str] = [
        f'MCP_SCHEMA_VERSION: Final = "{version}"',
        f'JSONRPC_VERSION: Final = "{JSONRPC_VERSION}"',
        "",
        "# Method names (requests and notifications, both directions)",
        *(f'{e.constant}: Final = "{e.method}"' for e in entries),
        "",
        "",
        *BASE_MODEL.strip("\n").splitlines(),
    ]
    for decl in _order(module):
        body += ["", ""]
        body += _model_lines(decl, constants) if isinstance(decl, ModelDecl) else _alias_lines(decl)
    body += _tables(module)
    body += ["", "# every definition of the schema, each a name in this module"]
    body += [
        "SCHEMA_DEFINITIONS: Final[tuple[str, ...]] = (",
        *(f'    "{name}",' for name in module.definitions),
        ")",
        "",
        "__all__ = [",
        *(f'    "{name}",' for name in _public_names(module, entries)),
        "]",
    ]
    text = "\n".join(body)
    imports = _imports(text)
    out = [*header(schema_sha256, version), module_doc(version), "", *imports, "", text, ""]
    return "\n".join(out)
