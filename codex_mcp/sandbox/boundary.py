"""The containment boundary: what a sandboxed command of a session may touch.

One pure function, `compute_boundary`, turns the session's sandbox policy, the session's
configured working directory and CODEX_HOME into concrete paths.  Every backend (bwrap, the
Landlock launcher, Seatbelt) and the in-process patch writer enforce the same `Boundary`.

The security argument is in what is *not* an input: the working directory a model picks for
one command (`workdir`, `cd dir && ...`) is only that process's cwd.  It never widens the
writable roots, so a model cannot make `/outside` writable by running a command there.

Protected paths stay read-only whichever writable root contains them: `.git`, `.codex` and
`.agents` directly under *every* writable root (not only the session cwd), the directory a
`.git` file points to (worktrees, submodules), and CODEX_HOME itself (sessions, rules,
config, credentials), which a sandboxed command could otherwise rewrite to grant itself
more on the next resume or the next rules reload.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from codex_mcp.sandbox.policy import PROTECTED_SUBPATHS, SandboxMode, SandboxPolicy, writable_roots_for


class BoundaryError(ValueError):
    """The policy cannot be turned into a boundary that keeps its promises (fail closed)."""


@dataclass(frozen=True)
class Boundary:
    """Concrete, resolved paths of one session's containment.

    * `writable_roots`: absolute, symlink-free, existing directories (or files) the sandbox may
      write; empty for read-only; `("/",)` for danger-full-access.
    * `read_only_paths`: absolute, symlink-free, existing paths inside a writable root that
      must stay read-only (protected names, git dirs, CODEX_HOME).
    * `readable_roots`: None when the whole filesystem is readable, else the only readable
      trees (restricted read access; backends enforce it or refuse the policy).
    """

    mode: SandboxMode
    writable_roots: tuple[str, ...]
    read_only_paths: tuple[str, ...]
    readable_roots: tuple[str, ...] | None
    network: bool

    @property
    def is_full_access(self) -> bool:
        return self.mode == "danger-full-access"

    def allows_write(self, path: str) -> bool:
        """Whether `path` (absolute, already symlink-resolved by the caller) lies in a writable
        root and outside every read-only carve-out.  Purely lexical."""
        if self.is_full_access:
            return True
        path = os.path.normpath(path)
        if not any(is_within(path, root) for root in self.writable_roots):
            return False
        return not any(is_within(path, ro) for ro in self.read_only_paths)


def is_within(path: str, root: str) -> bool:
    """`path` equals `root` or lies below it (both absolute and normalised)."""
    if root == "/":
        return path.startswith("/")
    return path == root or path.startswith(root.rstrip("/") + "/")


def read_gitdir(dot_git_file: str) -> str | None:
    """The resolved target of a `gitdir: <path>` file (worktrees, submodules), if it exists."""
    try:
        with open(dot_git_file, encoding="utf-8", errors="replace") as fh:
            first = fh.readline(4096).strip()
    except OSError:
        return None
    if not first.startswith("gitdir:"):
        return None
    target = first[len("gitdir:") :].strip()
    if not target:
        return None
    target = os.path.realpath(os.path.join(os.path.dirname(dot_git_file), target))
    return target if os.path.exists(target) else None


def protected_paths(writable_roots: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """Existing paths that must stay read-only inside `writable_roots` (symlinks resolved).

    The protected names directly under every root, the gitdir a `.git` file points to, and
    each of `extra` (e.g. CODEX_HOME) that exists.  Missing protected names are skipped (a
    command may create `.git`), as Codex 0.147 does.  A symlinked name protects its target.
    """
    out: list[str] = []

    def add(path: str) -> None:
        if path != "/" and path not in out:
            out.append(path)

    for root in writable_roots:
        if root == "/":
            continue
        for name in PROTECTED_SUBPATHS:
            candidate = os.path.join(root, name)
            if not os.path.lexists(candidate):
                continue
            real = os.path.realpath(candidate)
            if not os.path.exists(real):
                continue
            add(real)
            if name == ".git" and os.path.isfile(real):
                gitdir = read_gitdir(real)
                if gitdir:
                    add(gitdir)
    for path in extra:
        real = os.path.realpath(path)
        if os.path.exists(real):
            add(real)
    return out


def compute_boundary(
    policy: SandboxPolicy,
    session_cwd: str | os.PathLike[str],
    *,
    codex_home: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Boundary:
    """The boundary of a session whose configured cwd is `session_cwd`.

    Raises `BoundaryError` when a writable root lies inside CODEX_HOME: CODEX_HOME cannot be
    both read-only and contain the place the sandbox must write.
    """
    cwd = os.path.abspath(os.fspath(session_cwd))
    if policy.is_full_access:
        return Boundary("danger-full-access", ("/",), (), None, True)
    roots = writable_roots_for(policy, cwd, env)
    extra: list[str] = []
    if codex_home is not None:
        home = os.path.realpath(os.fspath(codex_home))
        for root in roots:
            if root != "/" and is_within(root, home):
                raise BoundaryError(
                    f"the writable root {root} lies inside CODEX_HOME ({home}); a sandboxed command "
                    "must not be able to write the server's sessions, rules or credentials. "
                    "Use a workspace outside CODEX_HOME."
                )
        if any(is_within(home, root) for root in roots):
            extra.append(home)
    readable = policy.readable_roots
    readable_roots = None if readable is None else tuple(os.path.realpath(p) for p in readable)
    return Boundary(
        policy.mode,
        tuple(roots),
        tuple(protected_paths(roots, extra)),
        readable_roots,
        policy.has_network,
    )
