"""The bubblewrap backend: argv building (pure) and a cached functional probe.

Layout: the whole filesystem read-only (or, for restricted read access, an empty read-only
root with only the readable roots and the platform defaults bound in), a private /dev (with
the real /dev/null), each writable root bound read-write, then the boundary's read-only
carve-outs (protected names, git dirs, CODEX_HOME) re-bound read-only, the boundary's pinned
directories bound onto themselves (a mount point cannot be renamed), an empty read-only
tmpfs over each hidden path (CODEX_HOME), new PID and IPC namespaces (no SysV IPC object or
POSIX message queue of the host is reachable) with its own /proc, no network namespace
access when the network is off, the seccomp filter passed by fd, and no capabilities at all.

/proc is mounted read-only: without capabilities, uid 0 can still write the root-owned files
of /proc (sysctls such as kernel/core_pattern, sysrq-trigger), and bwrap covers only a few.

Capabilities: bwrap keeps root's capabilities unless told otherwise, so the argv always has
`--cap-drop ALL`.  That still leaves root's *bounding* set full; as root we therefore prefer
a user namespace (`--unshare-user`, which empties the bounding set), and without one we run
`setpriv` inside with CAP_SETPCAP only, to empty the bounding set before the command starts.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from codex_mcp.sandbox.landlock import PLATFORM_READ_PATHS
from codex_mcp.sandbox.policy import PROTECTED_SUBPATHS
from codex_mcp.sandbox.seccomp import build_filter, filter_memfd

DEFAULT_BWRAP = "bwrap"
_PROC_FAILURE = "Can't mount proc"


@dataclass(frozen=True)
class BwrapVariant:
    """Which optional flags this host needs (found by the probe)."""

    unshare_user: bool = False
    mount_proc: bool = True
    # Root without a user namespace: `setpriv` (absolute path) empties the bounding set.
    setpriv: str | None = None


@dataclass(frozen=True)
class BwrapProbe:
    """Which bubblewrap this machine has, if any, and what it can do."""

    path: str | None
    variant: BwrapVariant | None
    detail: str

    @property
    def available(self) -> bool:
        return self.path is not None and self.variant is not None


def build_bwrap_argv(
    command: Sequence[str],
    *,
    cwd: str,
    writable_roots: Sequence[str],
    network_access: bool,
    read_only_paths: Sequence[str] = (),
    readable_roots: Sequence[str] | None = None,
    seccomp_fd: int | None = None,
    status_fd: int | None = None,
    variant: BwrapVariant = BwrapVariant(),
    bwrap_path: str = DEFAULT_BWRAP,
    pinned_paths: Sequence[str] = (),
    hidden_paths: Sequence[str] = (),
) -> list[str]:
    """The bwrap argv for `command`.  `writable_roots`, `read_only_paths` and `readable_roots`
    come from a `boundary.Boundary` (absolute, resolved); no roots gives a read-only sandbox;
    `readable_roots=None` means the whole filesystem is readable."""
    argv = [bwrap_path, "--new-session", "--die-with-parent"]
    if variant.unshare_user:
        argv.append("--unshare-user")
    argv += ["--cap-drop", "ALL"]
    if variant.setpriv:
        argv += ["--cap-add", "CAP_SETPCAP"]
    roots = sorted(dict.fromkeys(writable_roots), key=lambda p: (p.count("/"), p))
    # Pinned directories lie inside writable roots: bound read-write like a root, in depth order.
    binds = sorted(dict.fromkeys([*roots, *pinned_paths]), key=lambda p: (p.count("/"), p))
    restricted = readable_roots is not None and "/" not in readable_roots and "/" not in roots
    if restricted:
        assert readable_roots is not None
        # An empty root: only the platform defaults and the readable roots appear in it.
        for path in sorted(dict.fromkeys([*PLATFORM_READ_PATHS, *readable_roots]), key=_depth):
            if path in ("/dev", "/proc") or path.startswith(("/dev/", "/proc/")):
                continue
            argv += ["--ro-bind-try", path, path]
    else:
        # A writable "/" (a profile granting writes everywhere but no network) replaces the
        # read-only base mount instead of being bound over /dev afterwards.
        argv += ["--bind" if "/" in roots else "--ro-bind", "/", "/"]
    argv += ["--dev", "/dev", "--dev-bind", "/dev/null", "/dev/null"]
    for root in binds:
        if root != "/":
            argv += ["--bind", root, root]
    for path in read_only_paths:
        if path not in hidden_paths:
            # A protected name removed by another process since the boundary was computed is
            # skipped, as if it had been missing then (a command may create a missing one);
            # every other carve-out fails closed.
            vanishing = os.path.basename(path) in PROTECTED_SUBPATHS
            argv += ["--ro-bind-try" if vanishing else "--ro-bind", path, path]
    for path in hidden_paths:
        argv += ["--perms", "0555", "--tmpfs", path, "--remount-ro", path]
    argv += ["--unshare-pid", "--unshare-ipc"]
    if variant.mount_proc:
        # Read-only: uid 0 (root, also mapped in a user namespace) needs no capability to
        # write root-owned /proc files such as sys/kernel/core_pattern or sysrq-trigger, and
        # bwrap itself covers only /proc/irq and /proc/bus.
        argv += ["--proc", "/proc", "--remount-ro", "/proc"]
    if restricted:
        argv += ["--remount-ro", "/"]  # last: the mounts above need their mount points made
    if not network_access:
        argv.append("--unshare-net")
        argv += ["--setenv", "CODEX_SANDBOX_NETWORK_DISABLED", "1"]
    if seccomp_fd is not None:
        argv += ["--add-seccomp-fd", str(seccomp_fd)]
    if status_fd is not None:
        argv += ["--json-status-fd", str(status_fd)]
    argv += ["--chdir", cwd, "--"]
    if variant.setpriv:
        argv += [variant.setpriv, "--bounding-set", "-all", "--inh-caps", "-all", "--"]
    argv += list(command)
    return argv


def _depth(path: str) -> tuple[int, str]:
    return (path.rstrip("/").count("/"), path)


def _true_binary() -> str:
    return shutil.which("true", path=trusted_search_path()) or "/bin/true"


def _try_variant(path: str, variant: BwrapVariant) -> tuple[bool, str]:
    fd = filter_memfd(build_filter())
    try:
        argv = build_bwrap_argv(
            [_true_binary()], cwd="/", writable_roots=[], network_access=False,
            seccomp_fd=fd, variant=variant, bwrap_path=path,
        )  # fmt: skip
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            pass_fds=(fd,), timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        os.close(fd)
    err = proc.stderr.decode("utf-8", "replace").strip()
    return proc.returncode == 0, err or f"exit {proc.returncode}"


def _variants(is_root: bool, setpriv: str | None) -> list[BwrapVariant]:
    """Invocations to try, best first.  As root a user namespace is what empties the
    capability bounding set; without one, only a variant that runs `setpriv` qualifies."""
    if is_root:
        out = [BwrapVariant(unshare_user=True), BwrapVariant(unshare_user=True, mount_proc=False)]
        if setpriv:
            out += [BwrapVariant(setpriv=setpriv), BwrapVariant(mount_proc=False, setpriv=setpriv)]
        return out
    return [
        BwrapVariant(),
        BwrapVariant(unshare_user=True),
        BwrapVariant(mount_proc=False),
        BwrapVariant(unshare_user=True, mount_proc=False),
    ]


def trusted_search_path(path_var: str | None = None) -> str:
    """The server's PATH without the entries a sandboxed command might write: relative and
    empty ones (they mean the working directory, usually the workspace) and those in the
    temp directories every workspace-write sandbox may write.  bwrap is the sandbox: the
    program started under that name must not be one a command could have planted."""
    raw = os.environ.get("PATH", os.defpath) if path_var is None else path_var
    temp = [os.path.realpath(p) for p in ("/tmp", os.environ.get("TMPDIR") or "/tmp")]
    kept = []
    for entry in raw.split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        real = os.path.realpath(entry)
        if any(real == t or real.startswith(t.rstrip("/") + "/") for t in temp):
            continue
        kept.append(entry)
    return os.pathsep.join(kept)


@functools.lru_cache(maxsize=8)
def probe_bwrap(bwrap_path: str | None = None) -> BwrapProbe:
    """Find a working bwrap invocation (see `_variants`); the no-`--proc` variants only if
    /proc mounting was what failed.  Cached per path.  A bare name is looked up in
    `trusted_search_path()` only."""
    name = bwrap_path or DEFAULT_BWRAP
    path = shutil.which(name) if os.sep in name else shutil.which(name, path=trusted_search_path())
    if path is None:
        return BwrapProbe(None, None, f"bwrap: {bwrap_path or DEFAULT_BWRAP} not found")
    failures: list[str] = []
    proc_failed = False
    setpriv = next((p for p in ("/usr/bin/setpriv", "/bin/setpriv") if os.access(p, os.X_OK)), None)
    for variant in _variants(os.geteuid() == 0, setpriv):
        if not variant.mount_proc and not proc_failed:
            continue
        ok, detail = _try_variant(path, variant)
        if ok:
            flags = [f for f, on in (("--unshare-user", variant.unshare_user),
                                     ("no --proc", not variant.mount_proc),
                                     ("setpriv", bool(variant.setpriv))) if on]  # fmt: skip
            return BwrapProbe(path, variant, f"bwrap: ok ({path}{'; ' + ', '.join(flags) if flags else ''})")
        proc_failed = proc_failed or _PROC_FAILURE in detail
        if detail not in failures:
            failures.append(detail)
    return BwrapProbe(path, None, "bwrap: " + "; ".join(failures))
