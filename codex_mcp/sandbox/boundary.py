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

Two more things keep those promises against a command that renames and hides:

* **Pins.**  A read-only bind keeps a protected directory's *contents*, not its *name*: a
  command that may write the directory's parent (or any ancestor below a writable root) could
  rename that ancestor away and build a look-alike in its place, e.g. a CODEX_HOME with a
  config.toml of its own that the server then reads.  `pinned_paths` are those ancestors (of
  every carve-out, hidden path and nested writable root, below the writable root that holds
  them); the Linux backends bind each onto itself, and a mount point cannot be renamed,
  replaced or removed from inside the sandbox (EBUSY).
* **Hidden paths.**  CODEX_HOME holds the server's credentials (`auth.json`, tokens in
  config.toml), the server's log and every other session's rollout.  The environment scrub
  keeps the API key out of a command's environment; `hidden_paths` keeps the same secrets out
  of its reach on disk: the backends show an empty, read-only directory in its place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from codex_mcp.sandbox.policy import PROTECTED_SUBPATHS, SandboxMode, SandboxPolicy, writable_roots_for


class BoundaryError(ValueError):
    """The policy cannot be turned into a boundary that keeps its promises (fail closed)."""


class NetworkChannel(Protocol):
    """One command's way to the server's network proxy (see `netproxy`)."""

    @property
    def sandbox_fd(self) -> int:
        """The sandbox's end, inheritable, passed to the command's bridge at this number."""
        ...

    def started(self) -> None:
        """The sandbox has its end: the server closes its own copy."""

    def close(self) -> None:
        """The command is over: no more connections, the open ones end."""

    def take_notes(self) -> list[str]:
        """What the model should be told about its network requests (denials), once."""
        ...


class NetworkAttacher(Protocol):
    """A session's network proxy, as the backends see it: one channel per command."""

    def attach(self, command: Sequence[str], cwd: str) -> NetworkChannel: ...


@dataclass(frozen=True)
class Boundary:
    """Concrete, resolved paths of one session's containment.

    * `writable_roots`: absolute, symlink-free, existing directories (or files) the sandbox may
      write; empty for read-only; `("/",)` for danger-full-access.
    * `read_only_paths`: absolute, symlink-free, existing paths inside a writable root that
      must stay read-only (protected names, git dirs, CODEX_HOME).
    * `readable_roots`: None when the whole filesystem is readable, else the only readable
      trees (restricted read access; backends enforce it or refuse the policy).
    * `pinned_paths`: directories inside a writable root that the backends bind onto
      themselves so that no command can rename or replace them (see the module docstring).
    * `hidden_paths`: existing directories a sandboxed command must neither read nor write
      (CODEX_HOME); the backends show an empty read-only directory there, or refuse.
    * `network_proxy`: with the network off, the session's proxy: commands then reach the
      network only through it (`prepare_command` gives each its own channel).  Not part of
      the boundary's value (not compared): it is the session's live proxy.
    """

    mode: SandboxMode
    writable_roots: tuple[str, ...]
    read_only_paths: tuple[str, ...]
    readable_roots: tuple[str, ...] | None
    network: bool
    pinned_paths: tuple[str, ...] = ()
    hidden_paths: tuple[str, ...] = ()
    network_proxy: NetworkAttacher | None = field(default=None, compare=False, repr=False)

    @property
    def proxied(self) -> bool:
        """Whether commands get the network through the session's proxy."""
        return self.network_proxy is not None and not self.network and not self.is_full_access

    @property
    def is_full_access(self) -> bool:
        return self.mode == "danger-full-access"

    def allows_read(self, path: str) -> bool:
        """Whether a sandboxed command of this boundary could read `path` (absolute,
        symlink-resolved by the caller): not in a hidden path, and, under restricted read
        access, inside a readable root, a writable root or the platform defaults.  For reads
        the server makes on the model's behalf (images), which must not see more than the
        model's own commands could."""
        path = os.path.normpath(path)
        if any(is_within(path, hidden) for hidden in self.hidden_paths):
            return False
        if self.readable_roots is None or self.is_full_access:
            return True
        from codex_mcp.sandbox.landlock import PLATFORM_READ_PATHS

        roots = (*self.readable_roots, *self.writable_roots, *PLATFORM_READ_PATHS)
        return any(is_within(path, root) for root in roots)

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


def pinned_paths(writable_roots: Sequence[str], targets: Sequence[str]) -> list[str]:
    """The directories to pin so that no target can be renamed away from under its path:
    every directory strictly between a writable root and a target that lies below it (the
    target itself and the roots are mount points in the sandbox already).  Shallow first."""
    out: list[str] = []
    for target in targets:
        for root in writable_roots:
            if target == root or not is_within(target, root):
                continue
            current = root
            for part in os.path.relpath(target, root).split(os.sep)[:-1]:
                current = os.path.join(current, part)
                if current not in out and current not in writable_roots:
                    out.append(current)
    return sorted(out, key=lambda p: (p.count("/"), p))


RootIdentities = tuple[tuple[str, tuple[int, int] | None], ...]


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def root_identities(
    policy: SandboxPolicy, session_cwd: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> RootIdentities:
    """What every root of `policy` is now, to be compared with what it is when a command runs.

    The session's cwd (and every other root) is named by a path, and the directories on that
    path may lie where *another* session's sandbox can write (a workspace in /tmp): that
    sandbox could move the workspace away and leave a symlink to `/root` in its place, and
    the next boundary computed from the same path would make `/root` writable.  Recorded
    when a thread's config is made; `compute_boundary(identities=...)` refuses a root that
    is another directory since, and ignores one that did not exist then."""
    if policy.is_full_access:
        return ()
    cwd = os.path.abspath(os.fspath(session_cwd))
    remember_workspace(cwd)
    paths = writable_roots_for(policy, cwd, env, resolve=False)
    if policy.readable_roots is not None:
        paths += [os.path.normpath(os.path.join(cwd, p)) for p in policy.readable_roots]
    return tuple((p, _identity(p)) for p in dict.fromkeys(paths))


# The working directories of this server's sessions.  Another session's sandbox may write
# where one of them lies (both workspaces in /tmp): its `.git`, `.codex` and `.agents` are
# carved out of every session's boundary, not only its own.
_WORKSPACES: dict[str, None] = {}
_MAX_WORKSPACES = 1024


def remember_workspace(path: str | os.PathLike[str]) -> None:
    """Protect the protected names of workspace `path` in every later boundary (bounded:
    the oldest are forgotten first)."""
    real = os.path.realpath(os.fspath(path))
    _WORKSPACES.pop(real, None)
    _WORKSPACES[real] = None
    while len(_WORKSPACES) > _MAX_WORKSPACES:
        del _WORKSPACES[next(iter(_WORKSPACES))]


def _other_workspaces(roots: Sequence[str]) -> list[str]:
    return [
        w for w in list(_WORKSPACES) if w not in roots and any(is_within(w, r) for r in roots if r != "/")
    ]


def _check_identities(identities: RootIdentities, roots: list[str]) -> list[str]:
    """`roots` without those that did not exist when recorded; raise for a changed one."""
    absent_then: set[str] = set()
    for path, then in identities:
        now = _identity(path)
        if then is None:
            if now is not None:
                absent_then.add(os.path.realpath(path))
            continue
        if now != then:
            raise BoundaryError(
                f"the sandbox root {path} is not the directory it was when this session started (it was "
                "moved, replaced or re-pointed, possibly by another session's command); refusing to run. "
                "Start a new session."
            )
    present_then = {os.path.realpath(p) for p, then in identities if then is not None}
    return [r for r in roots if r not in absent_then or r in present_then]


def _depth_sorted(paths: list[str]) -> list[str]:
    return sorted(dict.fromkeys(paths), key=lambda p: (p.count("/"), p))


def compute_boundary(
    policy: SandboxPolicy,
    session_cwd: str | os.PathLike[str],
    *,
    codex_home: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    identities: RootIdentities | None = None,
) -> Boundary:
    """The boundary of a session whose configured cwd is `session_cwd`.

    `identities` (from `root_identities` when the session started) makes a root that is
    another directory now refused, and one that appeared since ignored.

    Raises `BoundaryError` when a writable root or the working directory lies inside
    CODEX_HOME (CODEX_HOME cannot be both hidden and hold the place the sandbox works in),
    and when CODEX_HOME lies in a writable root but does not exist yet (the sandbox could
    create it, config.toml included; the server creates it at start-up).
    """
    cwd = os.path.abspath(os.fspath(session_cwd))
    if policy.is_full_access:
        return Boundary("danger-full-access", ("/",), (), None, True)
    roots = writable_roots_for(policy, cwd, env)
    if identities:
        roots = _check_identities(identities, roots)
    extra: list[str] = []
    hidden: list[str] = []
    if codex_home is not None:
        home = os.path.realpath(os.fspath(codex_home))
        for root in roots:
            if root != "/" and is_within(root, home):
                raise BoundaryError(
                    f"the writable root {root} lies inside CODEX_HOME ({home}); a sandboxed command "
                    "must not be able to write the server's sessions, rules or credentials. "
                    "Use a workspace outside CODEX_HOME."
                )
        inside_root = any(is_within(home, root) for root in roots)
        if home != "/" and os.path.isdir(home):
            if is_within(os.path.realpath(cwd), home):
                raise BoundaryError(
                    f"the working directory {cwd} lies inside CODEX_HOME ({home}), which sandboxed "
                    "commands may not see (it holds the server's credentials). Use a directory "
                    "outside CODEX_HOME."
                )
            hidden.append(home)
        elif inside_root and not os.path.lexists(home):
            raise BoundaryError(
                f"CODEX_HOME ({home}) does not exist and lies where the sandbox may write, so a "
                "command could create it (and the configuration the server reads from it). "
                "Create the directory before running commands."
            )
        if inside_root:
            extra.append(home)
    readable = policy.readable_roots
    readable_roots = None if readable is None else tuple(os.path.realpath(p) for p in readable)
    others = _other_workspaces(roots)
    protected = protected_paths(roots, extra)
    protected += [p for p in protected_paths(others) if p not in protected]
    return Boundary(
        policy.mode,
        tuple(roots),
        tuple(protected),
        readable_roots,
        policy.has_network,
        tuple(_depth_sorted([*pinned_paths(roots, [*protected, *hidden, *roots, *others]), *others])),
        tuple(hidden),
    )
