"""A raw seccomp-BPF filter, built with `struct` and installed with ctypes.

No libseccomp.  The filter:

1. kills the process if the syscall's architecture is not the host's (blocks the i386
   `int 0x80` and, on x86_64, the x32 ABI gets EPERM);
2. with `network=True` (the network is off): `socket`/`socketpair` fail with EPERM unless the
   domain is AF_UNIX *and* the type is not SOCK_DGRAM.  A datagram socket can `sendmsg` to
   any path socket (/dev/log, the journal, a daemon's socket) without `connect`, and the
   address lives in user memory where seccomp cannot look, so the type itself is refused;
   stream and seqpacket sockets ignore or reject a destination address, and socketpair
   IPC, pipes and fd passing keep working.  In "codex" mode every other socket operation
   that reaches a peer (connect, bind, sendto, ...) is denied too; `recvfrom` and plain
   read/write on a socketpair stay allowed.  "gate" mode only applies the family/type gate.
3. always denies ptrace, process_vm_*, io_uring_* (io_uring would bypass the socket gate),
   and the kernel keyring calls (`add_key`, `request_key`, `keyctl`): keyrings are not
   namespaced by mounts or PIDs, so a command running as the server's user could read the
   keys the person keeps there (Kerberos tickets, tokens) and the session keyring it
   inherits;
4. with `cross_process=True` (a sandbox without its own PID namespace): denies the calls that
   act on another process by pid (`prlimit64`, `setpriority`, `ioprio_set`, `sched_set*`,
   `move_pages`, `migrate_pages` with a pid other than 0 = self; `setpriority`/`ioprio_set`
   on a whole user; `process_madvise`, `pidfd_getfd`, `kcmp`), and System V IPC and POSIX
   message queues, which without an IPC namespace of its own would reach the host's
   queues, semaphores and shared memory (`msgsnd` to another program's queue);
5. always denies the terminal ioctls that push input into a terminal or drive the console
   (`TIOCSTI`, `TIOCLINUX`): a command on a terminal (a process session's) could otherwise
   type into its input queue whatever the next reader of that terminal runs;
6. allows everything else.

`build_filter()` returns the packed `struct sock_filter[]` bytes, usable both by
`install_filter()` (in the exec'd launcher) and by `bwrap --add-seccomp-fd`.
Never call `install_filter()` in the server process: it is irreversible.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

TYPE_CHECKING = False  # keep the launcher's start-up free of `typing` (mypy still sees it)
if TYPE_CHECKING:
    from typing import Literal

    FilterMode = Literal["codex", "gate"]

# BPF opcodes (linux/filter.h, linux/bpf_common.h)
_BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
_BPF_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K
_BPF_ALU_AND_K = 0x04 | 0x50 | 0x00  # BPF_ALU | BPF_AND | BPF_K

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
AF_UNIX = 1
SOCK_DGRAM = 2
SOCK_TYPE_MASK = 0xF
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
PRIO_USER = 2
IOPRIO_WHO_USER = 3
X32_SYSCALL_BIT = 0x40000000

# seccomp_data offsets
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LO = 16  # little-endian low half of args[0] (both supported arches are LE)
_OFF_ARG1_LO = 24  # pid_t / int arguments: the kernel only looks at the low 32 bits
# (an ioctl request number is an `unsigned int` too: the high half is ignored by the kernel)

_NETWORK_CALLS = (
    "connect", "accept", "accept4", "bind", "listen", "getpeername", "getsockname", "shutdown",
    "sendto", "sendmmsg", "recvmmsg", "getsockopt", "setsockopt",
)  # fmt: skip
_HARDENING_CALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "add_key", "request_key", "keyctl",
)  # fmt: skip
# Allowed only on the calling process (first argument 0).
_SELF_ONLY_CALLS = (
    "prlimit64", "sched_setparam", "sched_setscheduler", "sched_setaffinity", "sched_setattr",
    "move_pages", "migrate_pages",
)  # fmt: skip
_CROSS_PROCESS_CALLS = ("process_madvise", "pidfd_getfd", "kcmp")
# System V IPC and POSIX message queues live in the IPC namespace, not the filesystem:
# without a namespace of its own the sandbox would share the host's objects.
_IPC_CALLS = (
    "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl", "shmget",
    "shmat", "shmctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
    "mq_getsetattr",
)  # fmt: skip

SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "socket": 41, "connect": 42, "accept": 43, "sendto": 44, "shutdown": 48, "bind": 49,
        "listen": 50, "getsockname": 51, "getpeername": 52, "socketpair": 53, "setsockopt": 54,
        "getsockopt": 55, "ptrace": 101, "accept4": 288, "recvmmsg": 299, "sendmmsg": 307,
        "process_vm_readv": 310, "process_vm_writev": 311, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "prlimit64": 302, "setpriority": 141,
        "ioprio_set": 251, "sched_setparam": 142, "sched_setscheduler": 144,
        "sched_setaffinity": 203, "sched_setattr": 314, "move_pages": 279, "migrate_pages": 256,
        "process_madvise": 440, "pidfd_getfd": 438, "kcmp": 312,
        "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66,
        "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "semtimedop": 220, "mq_open": 240,
        "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
        "mq_getsetattr": 245, "add_key": 248, "request_key": 249, "keyctl": 250, "ioctl": 16,
    },
    "aarch64": {
        "socket": 198, "socketpair": 199, "bind": 200, "listen": 201, "accept": 202,
        "connect": 203, "getsockname": 204, "getpeername": 205, "sendto": 206,
        "setsockopt": 208, "getsockopt": 209, "shutdown": 210, "ptrace": 117, "accept4": 242,
        "recvmmsg": 243, "sendmmsg": 269, "process_vm_readv": 270, "process_vm_writev": 271,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "prlimit64": 261, "setpriority": 140, "ioprio_set": 30, "sched_setparam": 118,
        "sched_setscheduler": 119, "sched_setaffinity": 122, "sched_setattr": 274,
        "move_pages": 239, "migrate_pages": 238, "process_madvise": 440, "pidfd_getfd": 438,
        "kcmp": 272, "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183,
        "mq_notify": 184, "mq_getsetattr": 185, "msgget": 186, "msgctl": 187, "msgrcv": 188,
        "msgsnd": 189, "semget": 190, "semctl": 191, "semtimedop": 192, "semop": 193, "shmget": 194,
        "shmctl": 195, "shmat": 196, "add_key": 217, "request_key": 218, "keyctl": 219, "ioctl": 29,
    },
}  # fmt: skip
AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}


class SeccompError(OSError):
    """Building or installing the filter failed."""


def host_arch() -> str:
    machine = os.uname().machine.lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def build_filter(
    arch: str | None = None, mode: FilterMode = "codex", *, network: bool = True, cross_process: bool = False
) -> bytes:
    """The packed BPF program (8 bytes per instruction) for `arch` (default: the host).

    `network`: deny the network (the socket gate, plus the deny list in "codex" mode).
    `cross_process`: deny acting on other processes by pid, and System V / POSIX message
    queue IPC (see the module docstring).
    """
    arch = arch or host_arch()
    if arch not in SYSCALLS:
        raise SeccompError(errno.ENOSYS, f"seccomp filter: unsupported architecture {arch!r}")
    table = SYSCALLS[arch]
    denied = list(_HARDENING_CALLS)
    if network and mode == "codex":
        denied += _NETWORK_CALLS
    if cross_process:
        denied += _CROSS_PROCESS_CALLS + _IPC_CALLS
    deny_nrs = sorted({table[name] for name in denied})

    # Instructions are collected as (code, jt-label|int, jf-label|int, k) and resolved after.
    prog: list[tuple[int, int | str, int | str, int]] = []
    labels: dict[str, int] = {}

    def emit(code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        prog.append((code, jt, jf, k))

    emit(_BPF_LD_W_ABS, _OFF_ARCH)
    emit(_BPF_JEQ_K, AUDIT_ARCH[arch], jt=1, jf=0)
    emit(_BPF_RET_K, SECCOMP_RET_KILL_PROCESS)
    emit(_BPF_LD_W_ABS, _OFF_NR)
    if arch == "x86_64":
        emit(_BPF_JGE_K, X32_SYSCALL_BIT, jt="deny", jf=0)
    if network:
        for nr in (table["socket"], table["socketpair"]):
            emit(_BPF_JEQ_K, nr, jt="gate", jf=0)
    for nr in deny_nrs:
        emit(_BPF_JEQ_K, nr, jt="deny", jf=0)
    emit(_BPF_JEQ_K, table["ioctl"], jt="ioctl", jf=0)
    if cross_process:
        for name in _SELF_ONLY_CALLS:
            emit(_BPF_JEQ_K, table[name], jt="self0", jf=0)
        emit(_BPF_JEQ_K, table["setpriority"], jt="prio", jf=0)
        emit(_BPF_JEQ_K, table["ioprio_set"], jt="ioprio", jf=0)
    emit(_BPF_RET_K, SECCOMP_RET_ALLOW)
    if network:
        labels["gate"] = len(prog)
        emit(_BPF_LD_W_ABS, _OFF_ARG0_LO)
        emit(_BPF_JEQ_K, AF_UNIX, jt=0, jf="deny")
        emit(_BPF_LD_W_ABS, _OFF_ARG1_LO)
        emit(_BPF_ALU_AND_K, SOCK_TYPE_MASK)
        emit(_BPF_JEQ_K, SOCK_DGRAM, jt="deny", jf="allow")
    if cross_process:
        labels["self0"] = len(prog)
        emit(_BPF_LD_W_ABS, _OFF_ARG0_LO)
        emit(_BPF_JEQ_K, 0, jt="allow", jf="deny")
        for label, user_which in (("prio", PRIO_USER), ("ioprio", IOPRIO_WHO_USER)):
            labels[label] = len(prog)
            emit(_BPF_LD_W_ABS, _OFF_ARG1_LO)
            emit(_BPF_JEQ_K, 0, jt=0, jf="deny")
            emit(_BPF_LD_W_ABS, _OFF_ARG0_LO)
            emit(_BPF_JEQ_K, user_which, jt="deny", jf="allow")
    labels["ioctl"] = len(prog)
    emit(_BPF_LD_W_ABS, _OFF_ARG1_LO)
    emit(_BPF_JEQ_K, TIOCSTI, jt="deny", jf=0)
    emit(_BPF_JEQ_K, TIOCLINUX, jt="deny", jf="allow")
    labels["deny"] = len(prog)
    emit(_BPF_RET_K, SECCOMP_RET_ERRNO | errno.EPERM)
    labels["allow"] = len(prog)
    emit(_BPF_RET_K, SECCOMP_RET_ALLOW)

    out = bytearray()
    for index, (code, jt, jf, k) in enumerate(prog):
        offsets = []
        for target in (jt, jf):
            rel = labels[target] - index - 1 if isinstance(target, str) else target
            if not 0 <= rel <= 255:
                raise SeccompError(errno.E2BIG, "seccomp filter: jump out of range")
            offsets.append(rel)
        out += _insn(code, offsets[0], offsets[1], k)
    return bytes(out)


def build_errno_filter(errnos: dict[int, int], arch: str | None = None) -> bytes:
    """A filter failing each syscall number in `errnos` with its errno and allowing the rest.

    Used to simulate restricted hosts (e.g. Landlock hidden behind ENOSYS, as under Docker's
    default profile) when testing that the launcher refuses to run.
    """
    arch = arch or host_arch()
    if arch not in AUDIT_ARCH:
        raise SeccompError(errno.ENOSYS, f"seccomp filter: unsupported architecture {arch!r}")
    out = bytearray()
    out += _insn(_BPF_LD_W_ABS, 0, 0, _OFF_ARCH)
    out += _insn(_BPF_JEQ_K, 1, 0, AUDIT_ARCH[arch])
    out += _insn(_BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS)
    out += _insn(_BPF_LD_W_ABS, 0, 0, _OFF_NR)
    for nr, err in sorted(errnos.items()):
        out += _insn(_BPF_JEQ_K, 0, 1, nr)
        out += _insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | (err & 0xFFFF))
    out += _insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW)
    return bytes(out)


# ---- installation (launcher only) -----------------------------------------------------------

PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def set_no_new_privs() -> None:
    libc = _libc()
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SeccompError(err, f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(err)}")


def install_filter(program: bytes) -> None:
    """Set no_new_privs and load `program` into the calling thread (inherited across exec)."""
    if len(program) % 8:
        raise SeccompError(errno.EINVAL, "seccomp filter length is not a multiple of 8")
    set_no_new_privs()
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = _libc()
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise SeccompError(err, f"prctl(PR_SET_SECCOMP) failed: {os.strerror(err)}")


def filter_memfd(program: bytes) -> int:
    """A sealed-size memfd holding `program`, positioned at 0, for `bwrap --add-seccomp-fd`.

    The fd is not inheritable; pass it through `pass_fds`.  The caller closes it.
    """
    fd = os.memfd_create("codex-mcp-seccomp", os.MFD_CLOEXEC)
    try:
        view = memoryview(program)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def seccomp_supported() -> tuple[bool, str]:
    """Whether this kernel supports seccomp filters with the ERRNO action (no side effects)."""
    if not hasattr(os, "memfd_create"):
        return False, "seccomp: not Linux"
    arch = host_arch()
    if arch not in SYSCALLS:
        return False, f"seccomp: unsupported architecture {arch}"
    libc = _libc()
    action = ctypes.c_uint32(SECCOMP_RET_ERRNO)
    seccomp_nr = {"x86_64": 317, "aarch64": 277}[arch]
    # seccomp(SECCOMP_GET_ACTION_AVAIL=2, 0, &action)
    if libc.syscall(seccomp_nr, 2, 0, ctypes.byref(action)) != 0:
        err = ctypes.get_errno()
        return False, f"seccomp: {errno.errorcode.get(err, str(err))} ({os.strerror(err)})"
    return True, "seccomp: ok"
