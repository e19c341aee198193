"""Process control through ctypes: prctl, capabilities, namespaces, mounts, process trees.

Used by the sandbox launcher, the fork server and (for `set_dumpable`) the server's own
start-up.  Everything except `set_dumpable` is only ever called in a forked or exec'd helper
process, never in the server: these calls are irreversible.

This module imports only the standard library, so the launcher and the fork server can load
it without importing the `codex_mcp` package.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# securebits: uid 0 gets no capabilities from exec or setuid, and nothing can undo that.
SECBIT_NOROOT = 1 << 0
SECBIT_NOROOT_LOCKED = 1 << 1
SECBIT_NO_SETUID_FIXUP = 1 << 2
SECBIT_NO_SETUID_FIXUP_LOCKED = 1 << 3
SECBIT_KEEP_CAPS_LOCKED = 1 << 5
SECBIT_NO_CAP_AMBIENT_RAISE = 1 << 6
SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = 1 << 7
LOCKED_SECUREBITS = (
    SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED
    | SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED
)  # fmt: skip
CAP_SETPCAP = 8
_CAP_VERSION_3 = 0x20080522

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REC = 1 << 14
MS_PRIVATE = 1 << 18

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY = 0x1
# The "new mount API" syscalls share their numbers on every architecture (>= 424).
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442


class ProcError(OSError):
    """A process-control step failed (the helper refuses to run the command)."""


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_LIBC: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    global _LIBC
    if _LIBC is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.syscall.restype = ctypes.c_long
        lib.prctl.restype = ctypes.c_int
        _LIBC = lib
    return _LIBC


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise ProcError(err, f"{what} failed: {errno.errorcode.get(err, str(err))} ({os.strerror(err)})")
    return result


def prctl(option: int, arg2: int = 0, arg3: int = 0, what: str = "prctl") -> int:
    lib = libc()
    return _check(
        lib.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0), ctypes.c_ulong(0)),
        what,
    )


def set_dumpable(flag: bool) -> None:
    """Non-dumpable: same-uid processes cannot ptrace us or read /proc/<pid>/environ, mem, fd."""
    prctl(PR_SET_DUMPABLE, int(flag), what="prctl(PR_SET_DUMPABLE)")


def set_pdeathsig(sig: int) -> None:
    """Receive `sig` when the thread that forked us exits (cleared by a setuid exec)."""
    prctl(PR_SET_PDEATHSIG, sig, what="prctl(PR_SET_PDEATHSIG)")


def set_child_subreaper() -> None:
    """Orphaned descendants are reparented to us instead of to init (setsid cannot escape)."""
    prctl(PR_SET_CHILD_SUBREAPER, 1, what="prctl(PR_SET_CHILD_SUBREAPER)")


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1, what="prctl(PR_SET_NO_NEW_PRIVS)")


def _status_caps() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/self/status", "rb") as fh:
        for line in fh:
            if line.startswith(b"Cap"):
                key, _, value = line.partition(b":")
                out[key.decode()] = int(value.strip(), 16)
    return out


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return 63


def drop_all_capabilities() -> None:
    """Leave this process (and whatever it execs) with no capability in any set.

    Securebits first (locked: uid 0 regains nothing on exec or setuid), then the bounding and
    ambient sets, then effective/permitted/inheritable.  Without CAP_SETPCAP (an ordinary
    user outside a user namespace) the securebits and the bounding set cannot be changed;
    such a process has nothing to drop and no_new_privs stops it from gaining anything.
    """
    caps = _status_caps()
    if caps.get("CapEff", 0) & (1 << CAP_SETPCAP):
        prctl(PR_SET_SECUREBITS, LOCKED_SECUREBITS, what="prctl(PR_SET_SECUREBITS)")
        for cap in range(_last_cap() + 1):
            try:
                prctl(PR_CAPBSET_DROP, cap, what="prctl(PR_CAPBSET_DROP)")
            except ProcError as exc:
                if exc.errno != errno.EINVAL:  # EINVAL: the kernel does not know this cap
                    raise
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
    except ProcError as exc:
        if exc.errno != errno.EINVAL:  # kernels before 4.3 have no ambient set
            raise
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc().capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    left = _status_caps()
    for key in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        if left.get(key, 0):
            raise ProcError(errno.EPERM, f"capabilities remain after dropping them: {key}={left[key]:x}")


def unshare(flags: int) -> None:
    _check(libc().unshare(flags), f"unshare({flags:#x})")


def write_id_maps(uid: int, gid: int) -> None:
    """Map our own uid/gid into a user namespace we just created (setgroups denied first).

    A non-dumpable process's /proc/self files belong to root, so the helper is dumpable for
    the few writes (it holds nothing secret: only the command's own request).
    """
    set_dumpable(True)
    try:
        _write_id_maps(uid, gid)
    finally:
        set_dumpable(False)


def _write_id_maps(uid: int, gid: int) -> None:
    for path, text in (
        ("/proc/self/setgroups", "deny"),
        ("/proc/self/uid_map", f"{uid} {uid} 1"),
        ("/proc/self/gid_map", f"{gid} {gid} 1"),
    ):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if path.endswith("setgroups"):
                continue  # kernels before 3.19
            raise
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(libc().mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount({target})")


def open_tree_clone(path: str) -> int:
    """A detached recursive copy of the mount tree at `path` (keeps each mount's flags)."""
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_SYMLINK_NOFOLLOW
    return int(_check(libc().syscall(SYS_OPEN_TREE, AT_FDCWD, path.encode(), flags), f"open_tree({path})"))


def set_tree_readonly(fd: int | None, path: str = "") -> None:
    """Make every mount of a tree read-only: an attached path, or a detached tree's fd."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY, 0, 0, 0)
    dfd, flags = (AT_FDCWD, AT_RECURSIVE) if fd is None else (fd, AT_RECURSIVE | AT_EMPTY_PATH)
    res = libc().syscall(
        SYS_MOUNT_SETATTR, dfd, path.encode(), flags, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))
    )
    _check(res, f"mount_setattr({path or 'tree'}, ro)")


def attach_tree(fd: int, target: str) -> None:
    res = libc().syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, target.encode(), MOVE_MOUNT_F_EMPTY_PATH)
    _check(res, f"move_mount({target})")


# ---- process trees ------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (every thread's), from /proc/<pid>/task/<tid>/children."""
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out.extend(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            continue
    return out


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, parents before children."""
    out: list[int] = []
    todo = [pid]
    while todo and len(out) < 100_000:
        for child in children_of(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def reap_children() -> list[tuple[int, int]]:
    """waitpid(-1, WNOHANG) until nothing more has exited: [(pid, raw status)]."""
    out: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return out
        if pid == 0:
            return out
        out.append((pid, status))


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def kill_descendants(limit_s: float = 5.0) -> list[tuple[int, int]]:
    """SIGKILL everything below us and reap it; returns what was reaped.

    We are a child subreaper, so every orphan of the tree comes back to us.  Each round
    kills the whole tree seen at once, so a process forking while we walk is caught in the
    next round.  Between rounds we wait (SIGCHLD, bounded) instead of spinning.  Processes
    we may not signal (a setuid program under an unsandboxed command) are left alone, and
    after `limit_s` we give up rather than hang.
    """
    import time

    reaped: list[tuple[int, int]] = []
    me = os.getpid()
    unkillable: set[int] = set()
    signalled: set[int] = set()
    deadline = time.monotonic() + limit_s
    old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
    try:
        while True:
            reaped += reap_children()
            pids = [p for p in descendants(me) if p not in unkillable]
            # A zombie whose (unkillable) parent does not reap it is dead already.
            pids = [p for p in pids if p not in signalled or not _is_zombie(p)]
            if not pids:
                return reaped
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    signalled.add(pid)
                except ProcessLookupError:
                    pass
                except PermissionError:
                    unkillable.add(pid)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return reaped
            signal.sigtimedwait([signal.SIGCHLD], min(remaining, 0.05))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
