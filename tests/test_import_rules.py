"""The package's layering, checked from the source: dependencies point down, and no cycles.

Every `import` in `codex_mcp` is read with `ast` (module level, inside functions, and under
`TYPE_CHECKING` alike: a lazy import is still a dependency, and a type-only one still ties the
modules' meanings together), resolved to the module it names, and held against the layers
below, top first.  A module may import its own layer or any layer below it, never one above;
and the graph of imports between modules has no cycle.

    entry       __main__, cli, the package root (which re-exports the embedding API lazily)
    http        the Streamable HTTP transport: one server per session
    server      JSON-RPC dispatch, one task per call; how a stop signal ends it
    start       the handshake before the event loop (in a forked child), the warm-up of
                the call path
    tools       the MCP face of the agent: `codex` / `codex-reply`
    connection  what the client told us (read by the layers above)
    agent       the agent, usable without MCP
    sandbox     policies, safety, the boundary and its backends
    bottom      JSON-RPC framing, the outgoing queue, stdio, pending questions, errors,
                bounded JSON, bounded reads of untrusted files, the TLS context, thread
                priorities, UUIDs, the allocator policy, the generated MCP models, lazy
                exports, the version

`http` sits above `server` because a session holds a server (the transport is another feed of
the same dispatch), and the handshake below `server`, which answers the same requests with
it once the event loop runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "codex_mcp"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("entry", ("codex_mcp", "codex_mcp.__main__", "codex_mcp.cli")),
    ("http", ("codex_mcp.http",)),
    ("server", ("codex_mcp.server", "codex_mcp.server_tasks", "codex_mcp.signals")),
    ("start", ("codex_mcp.handshake", "codex_mcp.prewarm", "codex_mcp.split_start")),
    ("tools", ("codex_mcp.tools",)),
    ("connection", ("codex_mcp.connection",)),
    ("agent", ("codex_mcp.agent",)),
    ("sandbox", ("codex_mcp.sandbox",)),
    (
        "bottom",
        (
            "codex_mcp.jsonrpc",
            "codex_mcp.outgoing",
            "codex_mcp.stdio",
            "codex_mcp.pending",
            "codex_mcp.errors",
            "codex_mcp.json_bounds",
            "codex_mcp.bounded_read",
            "codex_mcp.tls",
            "codex_mcp.priority",
            "codex_mcp.dataclass_cache",
            "codex_mcp.uuids",
            "codex_mcp.heap",
            "codex_mcp._generated",
            "codex_mcp.mcp_types",
            "codex_mcp._lazy",
            "codex_mcp._version",
        ),
    ),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    """The index of the layer `module` belongs to (the longest matching prefix decides)."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != "codex_mcp" and module.startswith(prefix + "."))
            if inside and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS"
    return best[0]


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """(imported codex_mcp module, line) for every import statement of `module`."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "codex_mcp":
                    yield resolve(alias.name), node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "codex_mcp":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield (candidate if candidate in MODULES else resolve(base)), node.lineno


def resolve(name: str) -> str:
    """The longest prefix of `name` that is a module of the package."""
    parts = name.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    assert parts, f"{name} is not a module of codex_mcp"
    return ".".join(parts)


GRAPH = {module: {target for target, _ in imports_of(module) if target != module} for module in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for module in sorted(MODULES):
        own = layer_of(module)
        for target, line in imports_of(module):
            if layer_of(target) < own:
                upward.append(
                    f"{module}:{line} imports {target} ({LAYERS[own][0]} -> {LAYERS[layer_of(target)][0]})"
                )
    assert upward == [], "imports against the layering:\n" + "\n".join(upward)


def test_the_imports_between_modules_have_no_cycle() -> None:
    """Depth-first search with colours; a grey node reached again closes a cycle."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(GRAPH, white)
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        colour[node] = grey
        stack.append(node)
        for target in sorted(GRAPH[node]):
            if colour[target] == grey:
                cycles.append([*stack[stack.index(target) :], target])
            elif colour[target] == white:
                visit(target, stack)
        stack.pop()
        colour[node] = black

    for node in sorted(GRAPH):
        if colour[node] == white:
            visit(node, [])
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_check_sees_a_violation_when_there_is_one() -> None:
    """The rules are not vacuous: the server depends on the tools, never the reverse."""
    assert "codex_mcp.tools.calls" in {t for t, _ in imports_of("codex_mcp.server")}
    assert layer_of("codex_mcp.server") < layer_of("codex_mcp.tools.calls")
    assert layer_of("codex_mcp.agent.thread") < layer_of("codex_mcp.sandbox.boundary")


TYPE_ONLY = ("codex_mcp.agent.events.payloads",)
"""Modules of types alone, imported under `TYPE_CHECKING` only: building their classes at
run time would cost every first call and serve nothing (the event payloads are plain dicts)."""


def _type_checking_lines(module: str) -> set[int]:
    """The lines of the import statements inside an `if TYPE_CHECKING:` block of `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for inner in node.body:
                for child in ast.walk(inner):
                    if isinstance(child, ast.Import | ast.ImportFrom):
                        lines.add(child.lineno)
    return lines


def test_type_only_modules_are_imported_for_type_checking_only() -> None:
    found = []
    for module in sorted(MODULES):
        guarded = _type_checking_lines(module)
        for target, line in imports_of(module):
            if target in TYPE_ONLY and line not in guarded:
                found.append(f"{module}:{line} imports {target} at run time")
    assert found == [], "\n".join(found)
    assert any(target in TYPE_ONLY for target, _ in imports_of("codex_mcp.agent.turn"))
