"""The mounts of a Landlock container's init: everything read-only but the writable roots, a
private /dev and /proc, read-only carve-outs and hidden paths (see `container` for the layout).

Run in init, pid 1 of the new namespaces, after it has left the keeper's mount namespace.
Only the standard library and the sandbox's own low-level modules are imported (the launcher
loads this before any sandbox is in place).
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Protocol

from codex_mcp.sandbox import procs


class MountPlan(Protocol):
    """The paths of a container's policy (`container.Policy`) that its mounts follow."""

    writable_roots: list[str]
    pinned_paths: list[str]
    read_only_paths: list[str]
    hidden_paths: list[str]


def _depth(path: str) -> tuple[int, str]:
    return (path.rstrip("/").count("/"), path)


# The device nodes a program may need; everything else of the host's /dev (disks, loop
# devices, /dev/kvm, consoles) stays out of sight, as under bwrap's `--dev`.
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
# The protected names of a writable root (`policy.PROTECTED_SUBPATHS`; this module imports
# only the standard library).  Missing ones are not carved out, since a command may create
# them; one that another process removed between the boundary and the mount is skipped the
# same way instead of failing the command.  Every other read-only path fails closed.
VANISHING_NAMES = (".git", ".codex", ".agents")
_DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
              ("stderr", "/proc/self/fd/2"))  # fmt: skip


def own_mount_namespace() -> None:
    """init leaves the keeper's mount namespace before changing any mount (see `container`)."""
    procs.unshare(procs.CLONE_NEWNS)


def setup_mounts(policy: MountPlan) -> bool:
    """Read-only everything but the writable roots (and the pinned directories inside them,
    which become mount points that cannot be renamed), a private /dev with only the usual
    nodes, an own /proc and shm, read-only carve-outs, and an empty read-only tmpfs over
    every hidden path.  Returns whether /dev/shm is a private tmpfs (then writable)."""
    private_shm = False
    procs.mount(None, "/", None, procs.MS_REC | procs.MS_PRIVATE)
    nodes = []
    for name in DEV_NODES:
        with contextlib.suppress(procs.ProcError, OSError):
            nodes.append((name, procs.open_tree_clone("/dev/" + name)))
    binds = sorted(dict.fromkeys([*policy.writable_roots, *policy.pinned_paths]), key=_depth)
    try:
        if "/" not in policy.writable_roots:
            clones = [(root, procs.open_tree_clone(root)) for root in binds]
            procs.set_tree_readonly(None, "/")
        else:
            clones = [(path, procs.open_tree_clone(path)) for path in binds if path != "/"]
        for root, fd in clones:
            procs.attach_tree(fd, root)
            os.close(fd)
        _private_dev(nodes)
    finally:
        for _name, fd in nodes:
            with contextlib.suppress(OSError):
                os.close(fd)
    flags = procs.MS_NOSUID | procs.MS_NODEV | procs.MS_NOEXEC
    try:
        # Read-only as well as outside Landlock's writable roots: root-owned /proc files
        # (sysctls, sysrq-trigger) need no capability, only uid 0.
        procs.mount("proc", "/proc", "proc", flags | procs.MS_RDONLY)
    except procs.ProcError:
        # Restricted hosts forbid a new proc mount; an empty /proc still hides the host's.
        procs.mount("tmpfs", "/proc", "tmpfs", flags | procs.MS_RDONLY, "size=0,mode=555")
    try:
        procs.mount("tmpfs", "/dev/shm", "tmpfs", procs.MS_NOSUID | procs.MS_NODEV, "mode=1777")
        private_shm = True
    except procs.ProcError:
        pass
    for path in sorted(policy.read_only_paths, key=_depth):
        if path in policy.hidden_paths:
            continue
        try:
            fd = procs.open_tree_clone(path)
        except procs.ProcError as exc:
            if exc.errno == errno.ENOENT and os.path.basename(path) in VANISHING_NAMES:
                continue  # removed since the boundary was computed: as if it never existed
            raise
        try:
            procs.set_tree_readonly(fd)
            procs.attach_tree(fd, path)
        finally:
            os.close(fd)
    for path in sorted(policy.hidden_paths, key=_depth):
        procs.mount("tmpfs", path, "tmpfs", flags | procs.MS_RDONLY, "size=0,mode=555")
    return private_shm


def _private_dev(nodes: list[tuple[str, int]]) -> None:
    """A fresh, read-only tmpfs on /dev holding the host's `DEV_NODES` (bind mounts of the
    same nodes), the /proc/self/fd links and an empty `shm` directory.  The host's /dev
    would show its disks: uid 0 without capabilities may still read a root-owned block
    device, and with it every file of the filesystem."""
    procs.mount("tmpfs", "/dev", "tmpfs", procs.MS_NOSUID | procs.MS_NOEXEC, "mode=755,size=64k")
    for name, fd in nodes:
        path = "/dev/" + name
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
        procs.attach_tree(fd, path)
    for name, target in _DEV_LINKS:
        os.symlink(target, "/dev/" + name)
    os.mkdir("/dev/shm", 0o1777)
    procs.set_tree_readonly(None, "/dev")
