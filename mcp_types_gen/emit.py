"""Render a translated `Module` as the source of `codex_mcp/mcp_types.py`.

Output is deterministic: declarations follow a depth-first walk of the sorted definition names, each
one preceded by what it refers to (so no forward references, no `model_rebuild`); synthesized inline
models therefore sit just before their parent. Layout follows `ruff format` (line length 110).
"""

from __future__ import annotations

import re

from mcp_types_gen import JSONRPC_VERSION, SCHEMA_VERSION
from mcp_types_gen.naming import constant_case
from mcp_types_gen.schema import SchemaError
from mcp_types_gen.templates import BASE_MODEL, MODULE_DOC, header
from mcp_types_gen.translate import AliasDecl, Decl, FieldDecl, MethodEntry, ModelDecl, Module

LINE = 110
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


def _call(prefix: str, func: str, args: list[str], indent: str, brackets: str = "()") -> list[str]:
    """`prefix + func(args)`, split like ruff format when it does not fit on one line."""
    op, close = brackets[0], brackets[1]
    flat = f"{prefix}{func}{op}{', '.join(args)}{close}"
    if len(flat) <= LINE:
        return [flat]
    inner = indent + "    " + ", ".join(args)
    if len(inner) <= LINE:
        return [f"{prefix}{func}{op}", inner, f"{indent}{close}"]
    return [f"{prefix}{func}{op}", *(f"{indent}    {a}," for a in args), f"{indent}{close}"]


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


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated parts of `text`."""
    return _split_top_level(text, ",")


def _union_lines(prefix: str, members: list[str], indent: str) -> list[str]:
    """`prefix + A | B | C`, wrapped in parentheses one member per line when too long."""
    flat = prefix + " | ".join(members)
    if len(flat) <= LINE:
        return [flat]
    body = [f"{indent}    {members[0]}", *(f"{indent}    | {m}" for m in members[1:])]
    return [prefix + "(", *body, indent + ")"]


def _split_union(text: str) -> list[str]:
    """Top-level members of `A | B[C | D] | E`."""
    return _split_top_level(text, "|")


_ANNOTATED = re.compile(r"^Annotated\[(?P<union>.*), (?P<meta>Field\(discriminator=\"\w+\"\))\]$")


def _alias_lines(decl: AliasDecl) -> list[str]:
    prefix = f"{decl.name}: TypeAlias = "
    lines: list[str] = []
    members = _split_union(decl.annotation)
    if "Result" in members and len(members) > 1:
        lines.append(
            "# Ambiguous (bare `Result` accepts any object): pick the model by method, see REQUEST_TYPES."
        )
    match = _ANNOTATED.match(decl.annotation)
    flat = prefix + decl.annotation
    if match is None and len(members) == 1 and len(flat) > LINE and flat.endswith("]"):
        name, _, inner = decl.annotation[:-1].partition("[")
        return lines + _call(prefix, name, _split_args(inner), "", brackets="[]")
    if match is None:
        return lines + _union_lines(prefix, members, "")
    if len(flat) <= LINE:
        return [*lines, flat]
    union = _split_union(match["union"])
    if len(f"    {match['union']},") <= LINE:
        body = [f"    {match['union']},"]
    else:
        body = [f"    {union[0]}", *(f"    | {m}" for m in union[1:])]
        body[-1] += ","
    return [*lines, prefix + "Annotated[", *body, f"    {match['meta']},", "]"]


def _field_lines(f: FieldDecl) -> list[str]:
    head = f"    {f.py_name}: {f.annotation}"
    kwargs: list[str] = []
    if f.py_name != f.wire_name:
        kwargs += [f'validation_alias="{f.wire_name}"', f'serialization_alias="{f.wire_name}"']
    kwargs += [f"{kw}={value}" for kw, value in f.constraints]
    if not kwargs:
        return [head] if f.default is None else [f"{head} = {f.default}"]
    args = kwargs if f.default is None else [f"default={f.default}", *kwargs]
    return _call(head + " = ", "Field", args, "    ")


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
    lines = ["import functools", f"from typing import {', '.join(typing)}", ""]
    return lines + _call("from pydantic import ", "", pydantic, "")


def render(module: Module, schema_sha256: str) -> str:
    entries: list[MethodEntry] = sorted((*module.requests, *module.notifications), key=lambda e: e.constant)
    constants = {e.method: e.constant for e in entries}
    body: list[str] = [
        f'MCP_SCHEMA_VERSION: Final = "{SCHEMA_VERSION}"',
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
    ]
    text = "\n".join(body)
    imports = _imports(text)
    out = [*header(schema_sha256), MODULE_DOC.strip("\n"), "", *imports, "", text, ""]
    return "\n".join(out)
