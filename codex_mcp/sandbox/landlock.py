"""Landlock filesystem rules through ctypes (no packages).

Rules built by `restrict_self()`: every filesystem right the running
ABI knows is handled; reading and executing is granted beneath `/` (or, for restricted read
access, beneath the readable roots plus `PLATFORM_READ_PATHS`); `/dev/null` gets the file
rights, `/dev/tty` (the caller's own controlling terminal) read, write and ioctl; each
writable root gets every handled right.  On ABI >= 6 signals and abstract UNIX
sockets are also scoped to the sandbox, so a command cannot signal the server.

Limits: rules are additive, so a read-only `.git` *inside* a writable root cannot be
protected by Landlock alone (the launcher adds read-only bind mounts for that); Landlock does
not govern chmod/chown/utimes/xattrs (the launcher's read-only mounts do); ABI < 3 cannot
control truncate(2); already-open fds are not restricted.  Only call `restrict_self()` in the
exec'd launcher or a forked helper, never in the server.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13
TRUNCATE = 1 << 14
IOCTL_DEV = 1 << 15

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

READ_ACCESS = EXECUTE | READ_FILE | READ_DIR
# Rights a rule on a non-directory may carry (anything else is EINVAL).
FILE_ONLY_ACCESS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


# What a program needs to start and run when reads are restricted to a few roots ("platform
# defaults"): executables and libraries, the device nodes, this sandbox's own /proc, and the
# parts of /etc that the dynamic loader, libc (users, groups, name service, time zone), the
# shells, TLS and git read.  Secrets under /etc (shadow, ssh host keys, sudoers) are not
# included.  Paths that do not exist are skipped.
PLATFORM_READ_PATHS: tuple[str, ...] = (
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/nix/store",
    "/run/current-system/sw", "/dev", "/proc",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group",
    "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf", "/etc/localtime",
    "/etc/timezone", "/etc/alternatives", "/etc/environment", "/etc/profile", "/etc/profile.d",
    "/etc/bash.bashrc", "/etc/bashrc", "/etc/inputrc", "/etc/locale.alias", "/etc/locale.conf",
    "/etc/mime.types", "/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/etc/gitconfig",
    "/etc/terminfo", "/etc/magic", "/etc/os-release", "/etc/debian_version", "/etc/login.defs",
)  # fmt: skip


class LandlockError(OSError):
    """A Landlock step failed; the launcher refuses to run the command."""


def handled_access_fs(abi: int) -> int:
    """Every filesystem right known to `abi`."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _fail(step: str) -> LandlockError:
    err = ctypes.get_errno()
    name = errno.errorcode.get(err, str(err))
    return LandlockError(err, f"landlock {step} failed: {name} ({os.strerror(err)})")


def abi_version() -> int:
    """The running Landlock ABI (>= 1), or raise LandlockError (ENOSYS: not built in or
    filtered; EOPNOTSUPP: disabled at boot)."""
    libc = _libc()
    abi = int(libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION))
    if abi < 0:
        raise _fail("ABI probe")
    return abi


def probe() -> tuple[int, str]:
    """(abi, detail) with abi 0 when Landlock is unusable; no side effects."""
    try:
        abi = abi_version()
    except LandlockError as exc:
        return 0, str(exc)
    note = "" if abi >= 3 else " (truncate(2) not controlled below ABI 3)"
    return abi, f"landlock: ABI {abi}{note}"


def _add_path_rule(libc: ctypes.CDLL, ruleset_fd: int, path: str, access: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        attr = _PathBeneathAttr(access, fd)
        res = libc.syscall(SYS_ADD_RULE, ruleset_fd, RULE_PATH_BENEATH, ctypes.byref(attr), 0)
        if res != 0:
            raise _fail(f"add_rule({path})")
    finally:
        os.close(fd)


def _read_rules(
    readable_roots: list[str] | None, hide_proc: bool, hidden: list[str] | None = None
) -> list[str]:
    """The paths that get read + execute rights.

    Full read is `/`, or, when /proc must stay hidden (a sandbox without its own PID
    namespace, whose /proc would show the host's processes), every top-level entry but
    /proc.  Restricted read is the readable roots plus the platform defaults.  A hidden
    path (CODEX_HOME) is cut out of whichever of those contains it (`_beside`).
    """
    if readable_roots is not None and "/" not in readable_roots:
        paths = [*readable_roots, *PLATFORM_READ_PATHS]
    elif not hide_proc and not hidden:
        return ["/"]
    elif not hide_proc:
        paths = ["/"]
    else:
        paths = ["/" + name for name in sorted(os.listdir("/"))]
    if hide_proc:
        paths = [p for p in paths if p != "/proc" and not p.startswith("/proc/")]
    if hidden:
        paths = _beside(paths, hidden)
    return list(dict.fromkeys(paths))


def _within(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root.rstrip("/") + "/")


def _beside(paths: list[str], hidden: list[str]) -> list[str]:
    """`paths` with every `hidden` tree taken out.  Landlock rules only add rights, so a
    granted directory that contains a hidden path is replaced by its entries, recursively
    along the way to the hidden path; a directory that cannot be listed is left out (less is
    granted, never more).  Entries created later in such a directory are not readable."""
    out: list[str] = []
    pending = [(p, False) for p in paths]
    while pending:
        path, listed = pending.pop()
        if any(_within(path, h) for h in hidden):
            continue  # the hidden tree itself, or something inside it
        if listed and os.path.islink(path):
            continue  # a rule would follow it: its target is granted (or not) where it lies
        if not any(_within(h, path) for h in hidden):
            out.append(path)
            continue
        try:
            names = os.listdir(path)
        except OSError:
            continue
        pending.extend((os.path.join(path, name), True) for name in names)
    return out


def restrict_self(
    writable_roots: list[str],
    *,
    readable_roots: list[str] | None = None,
    hide_proc: bool = False,
    hidden: list[str] | None = None,
) -> int:
    """Apply the ruleset to the calling thread (and its future execs).  Returns the ABI.

    Sets no_new_privs first (required for unprivileged callers).  Paths that do not exist
    are skipped; any other failure raises LandlockError.  With `hide_proc`, only this
    process's own /proc/<pid> stays readable (its descendants see no /proc at all).
    `hidden` paths get no rights at all (they must not lie inside a writable root).
    """
    libc = _libc()
    abi = abi_version()
    handled = handled_access_fs(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        size = ctypes.sizeof(_RulesetAttr)
    ruleset_fd = int(libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0))
    if ruleset_fd < 0:
        raise _fail("create_ruleset")
    try:
        reads = _read_rules(readable_roots, hide_proc, hidden)
        if hide_proc:
            reads.append(f"/proc/{os.getpid()}")
        for path in reads:
            _add_existing(libc, ruleset_fd, path, READ_ACCESS & handled)
        _add_existing(
            libc, ruleset_fd, "/dev/null", (READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV) & handled
        )
        # /dev/tty is the opener's own controlling terminal and nothing else: a process
        # session's private terminal (programs such as `ssh` or `python -i` open it), and for
        # a command without one (every one-shot command) opening it fails with ENXIO.
        _add_existing(libc, ruleset_fd, "/dev/tty", (READ_FILE | WRITE_FILE | IOCTL_DEV) & handled)
        for root in writable_roots:
            _add_existing(libc, ruleset_fd, root, handled)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(SYS_RESTRICT_SELF, ruleset_fd, 0) != 0:
            raise _fail("restrict_self")
    finally:
        os.close(ruleset_fd)
    return abi


def _add_existing(libc: ctypes.CDLL, ruleset_fd: int, path: str, access: int) -> None:
    """A rule for `path` (directory rights narrowed to file rights for a file); skipped when
    the path does not exist."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return  # nothing there, or nothing we could read anyway
    if not stat.S_ISDIR(st.st_mode):
        access &= FILE_ONLY_ACCESS
    _add_path_rule(libc, ruleset_fd, path, access)
