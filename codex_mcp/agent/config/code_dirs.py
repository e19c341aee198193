"""Where the code the server runs outside any sandbox comes from, and directory identity.

A call may choose its working directory, which becomes writable under workspace-write; the
cwd rule (`ceiling.sensitive_root_reason`) refuses, among others, every directory that
holds code the server itself runs unsandboxed: its own package and interpreter, its import
path, the directories on its PATH (where it finds bwrap) and the programs the person's
`notify` and `[mcp_servers]` name.  Directories are compared by name and by identity
(`inside`), so a bind mount or any other alias that the name does not show counts as the
directory it is.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Any


def _within(path: str, root: str) -> bool:
    if root == "/":
        return True
    return path == root or path.startswith(root.rstrip("/") + "/")


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def inside(path: str, root: str) -> bool:
    """`path` lies in `root`, by name or by identity: a bind mount (or any other alias the
    name does not show) of `root` or of one of its directories is inside it too.  Both
    resolved by the caller; walks `path`'s ancestors comparing them with `root`'s inode."""
    if _within(path, root):
        return True
    target = _identity(root)
    if target is None:
        return False
    current = path
    while True:
        if _identity(current) == target:
            return True
        parent = os.path.dirname(current)
        if parent == current:
            return False
        current = parent


def installation_dirs(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Where the code this server runs comes from: the `codex_mcp` package, the interpreter's
    prefixes, its standard library, site-packages and scripts directories, every absolute
    directory on the import path, and every absolute directory on `env`'s PATH (where the
    programs the server starts by name are found: bwrap, `notify`, MCP servers).  A command
    that could write there would run its code outside any sandbox (at the server's next
    import, start, sandbox probe or notification)."""
    import sys
    import sysconfig

    candidates = [
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
        os.path.dirname(sys.executable),
    ]  # fmt: skip
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "scripts"):
        with contextlib.suppress(KeyError, ValueError):
            candidates.append(sysconfig.get_path(key))
    candidates += [p for p in sys.path if p and os.path.isabs(p) and os.path.isdir(p)]
    path_var = (env or {}).get("PATH", "")
    candidates += [p for p in path_var.split(os.pathsep) if p and os.path.isabs(p) and os.path.isdir(p)]
    out: list[str] = []
    for raw in candidates:
        if raw:
            real = os.path.realpath(raw)
            if real != "/" and real not in out:
                out.append(real)
    return tuple(out)


def first_component_below(path: str, root: str) -> str:
    """The name of the directory directly below `root` on the way to `path` (which lies in
    `root`, by name or by identity)."""
    if _within(path, root):
        return os.path.relpath(path, root).split(os.sep, 1)[0]
    target = _identity(root)
    current = path
    while os.path.dirname(current) != current:
        parent = os.path.dirname(current)
        if _identity(parent) == target:
            return os.path.basename(current)
        current = parent
    return ""


def unsandboxed_program_dirs(
    notify: Sequence[str] | None, mcp_servers: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[str, ...]:
    """The directories of the programs (and of the absolute paths among their arguments: a
    script given to an interpreter) that the person's `notify` and `[mcp_servers]` make the
    server run outside any sandbox, both as named and with symlinks resolved."""
    import shutil

    words: list[str] = list(notify or [])[:1] + [a for a in list(notify or [])[1:] if os.path.isabs(a)]
    for entry in mcp_servers.values():
        if not isinstance(entry, Mapping):
            continue
        command = entry.get("command")
        if isinstance(command, str):
            words.append(command)
        args = entry.get("args")
        if isinstance(args, list):
            words += [a for a in args if isinstance(a, str) and os.path.isabs(a)]
        cwd = entry.get("cwd")
        if isinstance(cwd, str) and os.path.isabs(cwd):
            words.append(os.path.join(cwd, "."))
    out: list[str] = []
    for word in words:
        found = word if os.path.isabs(word) else shutil.which(word, path=env.get("PATH"))
        if not found or not os.path.exists(found):
            continue
        for directory in (os.path.dirname(os.path.abspath(found)), os.path.dirname(os.path.realpath(found))):
            if directory != "/" and directory not in out:
                out.append(directory)
    return tuple(out)
