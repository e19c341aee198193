"""The Landlock backend's container: namespaces, mounts, a pid 1, and the restricted command.

Layout of one sandboxed command (isolation "pid+mount" as root, "user+pid+mount" otherwise):

    keeper (outside)  --unshare(PID|IPC[|user])-->  init (pid 1, own mounts)  -->  command (pid 2)

* The keeper (the fork server's per-command process, or the exec'd launcher) creates the
  PID and IPC namespaces (and the user namespace), forks init and supervises it
  (`keeper.py`).  Killing init ends the namespace and every process in it; init dies with
  the keeper (parent-death signal).
* init creates the mount namespace itself: what the keeper opens after the fork (/dev/null,
  /proc) must never be init's half-built /dev (a failed open ended the keeper, so init and
  the command with it, by SIGKILL; an open interim /dev/null made init's remount fail).
* init makes every mount read-only except the writable roots (so chmod, utimes and xattrs
  outside them fail too, which Landlock does not govern), re-binds the boundary's read-only
  carve-outs (`.git`, `.codex`, CODEX_HOME, ...) read-only, mounts a /proc that shows only
  this namespace and a private /dev/shm, forks the command, forwards signals to it and
  reports its exit status on a pipe.
* The command starts a session, drops every capability (bounding set and securebits too,
  so uid 0 regains nothing), installs the seccomp filter and Landlock, then execs.
* With `network_proxy` (the network goes through the server's proxy: the channel's fd and
  the bridge's port) the keeper also creates a network namespace, init brings its loopback
  up, restricts itself with a seccomp filter that allows TCP sockets only
  (`seccomp.build_filter(proxy=True)`), forks the proxy's bridge (`netbridge.start_daemon`:
  no interpreter to start, init is one already) and closes the channel before the command
  starts: the only peer the command can reach is that bridge.  Isolation "none" cannot
  create the namespace, so a proxied policy is refused there.

Isolation "none" (no namespace can be created here) runs the command directly under the
keeper (a child subreaper that kills what is left when the command ends), hides /proc with
Landlock and adds the seccomp cross-process denials; it cannot carve out read-only paths,
and as root it cannot stop chmod of root-owned files, so `select` refuses those cases.

Only the standard library is imported here (the launcher loads this without the package).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import struct
import sys
import termios
from collections.abc import Callable

from codex_mcp.sandbox import landlock, netbridge, procs, seccomp
from codex_mcp.sandbox.mounts import own_mount_namespace, setup_mounts

LAUNCHER_EXIT_CODE = 121
LAUNCHER_MARKER = "codex-mcp-sandbox: failed to apply sandbox, refusing to run:"

ISOLATION_NS = "pid+mount"
ISOLATION_NS_USER = "user+pid+mount"
ISOLATION_NONE = "none"
ISOLATIONS = (ISOLATION_NS, ISOLATION_NS_USER, ISOLATION_NONE)
# The keeper's namespaces (init makes its own mount namespace: `mounts.own_mount_namespace`).
_NS_FLAGS = procs.CLONE_NEWPID | procs.CLONE_NEWIPC
_STATUS = struct.Struct("=i")
# Signals init passes on to the command's process group.
FORWARDED_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)


class Policy:
    """What the launcher enforces; built by `select.prepare_command` from a `Boundary`."""

    __slots__ = ("hidden_paths", "isolation", "network", "network_proxy", "pinned_paths",
                 "read_only_paths", "readable_roots", "writable_roots")  # fmt: skip

    def __init__(
        self,
        writable_roots: list[str],
        network: bool,
        read_only_paths: list[str],
        readable_roots: list[str] | None,
        isolation: str,
        pinned_paths: list[str] | None = None,
        hidden_paths: list[str] | None = None,
        network_proxy: tuple[int, int] | None = None,
    ) -> None:
        self.writable_roots = writable_roots
        self.network = network
        self.read_only_paths = read_only_paths
        self.readable_roots = readable_roots
        self.isolation = isolation
        self.pinned_paths = pinned_paths or []
        self.hidden_paths = hidden_paths or []
        self.network_proxy = None if network else network_proxy

    def to_json(self) -> str:
        return json.dumps(
            {
                "writable_roots": self.writable_roots,
                "network_access": self.network,
                "read_only_paths": self.read_only_paths,
                "readable_roots": self.readable_roots,
                "isolation": self.isolation,
                "pinned_paths": self.pinned_paths,
                "hidden_paths": self.hidden_paths,
                "network_proxy": None if self.network_proxy is None else list(self.network_proxy),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Policy:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("policy must be a JSON object")

        def paths(key: str, allow_none: bool = False) -> list[str] | None:
            value = doc.get(key, None if allow_none else [])
            if value is None and allow_none:
                return None
            if not isinstance(value, list) or not all(
                isinstance(p, str) and p.startswith("/") for p in value
            ):
                raise ValueError(f"{key} must be a list of absolute paths")
            return value

        network = doc.get("network_access", False)
        if not isinstance(network, bool):
            raise ValueError("network_access must be a boolean")
        proxied = doc.get("network_proxy")
        if proxied is not None and not (
            isinstance(proxied, list) and len(proxied) == 2 and all(type(n) is int for n in proxied)
            and proxied[0] > 2 and 0 < proxied[1] < 65536
        ):  # fmt: skip
            raise ValueError("network_proxy must be null or [channel fd, port]")
        bridge = None if proxied is None else (proxied[0], proxied[1])
        isolation = doc.get("isolation", ISOLATION_NONE)
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)}")
        policy = cls(paths("writable_roots") or [], network, paths("read_only_paths") or [],
                     paths("readable_roots", allow_none=True), isolation, paths("pinned_paths") or [],
                     paths("hidden_paths") or [], bridge)  # fmt: skip
        if isolation == ISOLATION_NONE and policy.network_proxy is not None:
            raise ValueError("the proxied network needs a network namespace, which isolation 'none' lacks")
        if isolation == ISOLATION_NONE and policy.read_only_paths:
            raise ValueError("read-only carve-outs need a mount namespace, which isolation 'none' lacks")
        if isolation == ISOLATION_NONE and any(
            _within(h, r) for h in policy.hidden_paths for r in policy.writable_roots
        ):
            raise ValueError(
                "a hidden path inside a writable root needs a mount namespace, which isolation 'none' lacks"
            )
        return policy


def _within(path: str, root: str) -> bool:
    return root == "/" or path == root or path.startswith(root.rstrip("/") + "/")


def refuse(detail: str) -> int:
    """Print the marker line (a setup error, never a command failure) and return its code."""
    with contextlib.suppress(OSError):
        os.write(2, f"{LAUNCHER_MARKER} {detail}\n".encode(errors="replace"))
    return LAUNCHER_EXIT_CODE


def _write_err(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, text.encode(errors="replace"))


# ---- the command ------------------------------------------------------------------------------

# An exec keeps ignored signals ignored (Python ignores SIGPIPE and SIGXFSZ, the fork server
# SIGINT): the command gets every signal at its default.
_RESET_SIGNALS = (
    signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
    signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU,
)  # fmt: skip


def restrict(policy: Policy) -> None:
    """Restrict the calling process for good: no capabilities, no_new_privs, seccomp, Landlock.
    Everything it spawns or execs afterwards inherits all of it."""
    contained = policy.isolation != ISOLATION_NONE
    procs.drop_all_capabilities()
    procs.set_no_new_privs()
    # Always a filter: the hardening denials (ptrace, io_uring, keyrings) hold with the
    # network on too; the network gate only when it is off.
    seccomp.install_filter(
        seccomp.build_filter(
            network=not policy.network, cross_process=not contained, proxy=policy.network_proxy is not None
        )
    )
    writable = list(policy.writable_roots)
    if contained and _private_shm:
        writable.append("/dev/shm")
    landlock.restrict_self(
        writable,
        readable_roots=policy.readable_roots,
        hide_proc=not contained,
        hidden=[] if contained else policy.hidden_paths,
    )


def command_env(policy: Policy, env: dict[str, str]) -> dict[str, str]:
    return env if policy.network else {**env, "CODEX_SANDBOX_NETWORK_DISABLED": "1"}


def _candidates(file: str, env: dict[str, str]) -> list[str]:
    """Where a command name is looked up, like execvp (PATH from the command's environment).
    No imports here: with restricted reads the interpreter's own library may be unreadable."""
    if "/" in file:
        return [file]
    return [os.path.join(directory or ".", file) for directory in env.get("PATH", os.defpath).split(":")]


def _search(file: str, env: dict[str, str], attempt: Callable[[str], int]) -> int:
    first_error: OSError | None = None
    last_error: OSError = FileNotFoundError(2, "No such file or directory", file)
    for path in _candidates(file, env):
        try:
            return attempt(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            last_error = exc
        except OSError as exc:
            last_error = exc
            first_error = first_error or exc
    raise first_error or last_error


def spawn(argv: list[str], env: dict[str, str]) -> int:
    """Start `argv` (PATH searched in `env`) in a session of its own, with vfork semantics:
    no copy of this process and no wait for the scheduler before the command starts.

    A PATH entry without the file is skipped without a spawn: each attempt is a whole
    process start that fails in `execve`, and with a few directories before /usr/bin (a
    version manager's shims, /usr/local/...) those cost more than the command (~4-7 ms
    each on a busy machine, 30 ms for `bash` here).  Any entry that exists is still tried
    by spawning, so what runs, and every error, is what execvp would give."""

    def attempt(path: str) -> int:
        os.stat(path)  # FileNotFoundError / NotADirectoryError: on to the next entry
        return os.posix_spawn(path, argv, env, setsid=True, setsigdef=_RESET_SIGNALS, setsigmask=())

    return _search(argv[0], env, attempt)


def _report_exec_error(argv0: str, exc: OSError) -> int:
    """What a shell prints when it cannot run a command; the exit code to report."""
    if isinstance(exc, FileNotFoundError):
        _write_err(f"{argv0}: command not found\n")
        return 127
    _write_err(f"{argv0}: {exc.strerror}\n")
    return 126


def take_terminal() -> None:
    """Become a session leader whose controlling terminal is our stdin (a terminal device).

    Then the terminal's line discipline delivers Ctrl-C (and the other job-control keys) as
    signals to the foreground process group, which is ours until a job-control shell moves
    it.  The terminal is a private one the server made for this command alone."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def reset_signals() -> None:
    """Default dispositions for every signal an exec'd program expects at its default, and
    nothing blocked (what `spawn` gives through posix_spawn)."""
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def exec_restricted(
    policy: Policy | None, argv: list[str], env: dict[str, str], cwd: str, parent: int, terminal: bool = False
) -> None:
    """In a freshly forked command process: its own session (with the terminal on stdin as
    its controlling terminal when `terminal`), tied to `parent`, restricted by `policy`
    (isolation "none"; None: unrestricted), then exec."""
    try:
        if terminal:
            take_terminal()
        else:
            os.setsid()
        procs.set_pdeathsig(signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(LAUNCHER_EXIT_CODE)  # the parent died before we could tie ourselves to it
        reset_signals()
        os.chdir(cwd)
        if policy is not None:
            restrict(policy)
    except Exception as exc:
        os._exit(refuse(str(exc) or type(exc).__name__))
    if policy is not None:
        env = command_env(policy, env)
    try:
        _search(argv[0], env, lambda path: os.execve(path, argv, env))
    except OSError as exc:
        os._exit(_report_exec_error(argv[0], exc))


def _spawn_in_terminal(argv: list[str], env: dict[str, str]) -> int:
    """`spawn` for a command that gets the terminal on its stdin as controlling terminal
    (posix_spawn cannot take a terminal, so this forks: init is single-threaded)."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            take_terminal()
            reset_signals()
        except BaseException as exc:
            _write_err(f"cannot take the terminal: {exc}\n")
            os._exit(LAUNCHER_EXIT_CODE)
        try:
            _search(argv[0], env, lambda path: os.execve(path, argv, env))
        except OSError as exc:
            os._exit(_report_exec_error(argv[0], exc))
        os._exit(LAUNCHER_EXIT_CODE)
    return pid


# ---- init (pid 1 of the new namespaces) --------------------------------------------------------

_private_shm = False


def _init_main(
    policy: Policy,
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    status_w: int,
    alive_r: int,
    terminal: bool,
) -> int:
    procs.set_pdeathsig(signal.SIGKILL)
    if select.select([alive_r], [], [], 0)[0]:
        return LAUNCHER_EXIT_CODE  # EOF: the keeper is already gone
    os.setsid()  # out of the keeper's process group: signals reach us only through the keeper
    try:
        own_mount_namespace()
        global _private_shm
        _private_shm = setup_mounts(policy)
    except Exception as exc:
        return refuse(f"mount setup: {exc}")
    if policy.network_proxy is not None:
        try:
            netbridge.loopback_up()
        except Exception as exc:
            return refuse(f"loopback of the proxied network: {exc}")
    try:
        os.chdir(cwd)
        restrict(policy)
        if policy.network_proxy is not None:
            netbridge.start_daemon(*policy.network_proxy)  # restricted like the command
    except Exception as exc:
        return refuse(str(exc) or type(exc).__name__)
    try:
        run = _spawn_in_terminal if terminal else spawn
        command = run(argv, command_env(policy, env))
    except OSError as exc:  # reported as the command's own failure, like a shell would
        os.write(status_w, _STATUS.pack(_report_exec_error(argv[0], exc) << 8))
        return 0
    # Let go of the command's stdio so that its pipes close when it and its children do.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)

    def forward(sig: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.killpg(command, sig)

    for sig in FORWARDED_SIGNALS:
        signal.signal(sig, forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0  # nothing left in the namespace
        if pid == command:
            os.write(status_w, _STATUS.pack(status))


class ContainerJob:
    """The keeper's view of a namespaced command: init's pid and the status pipe."""

    def __init__(
        self, policy: Policy, argv: list[str], env: dict[str, str], cwd: str, terminal: bool = False
    ) -> None:
        flags = _NS_FLAGS | (procs.CLONE_NEWUSER if policy.isolation == ISOLATION_NS_USER else 0)
        if policy.network_proxy is not None:
            flags |= procs.CLONE_NEWNET
        uid, gid = os.getuid(), os.getgid()
        procs.unshare(flags)
        if flags & procs.CLONE_NEWUSER:
            procs.write_id_maps(uid, gid)
        status_r, status_w = os.pipe()
        alive_r, alive_w = os.pipe()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = LAUNCHER_EXIT_CODE
            try:
                os.close(status_r)
                os.close(alive_w)
                code = _init_main(policy, argv, env, cwd, status_w, alive_r, terminal)
            finally:
                os._exit(code)
        os.close(status_w)
        os.close(alive_r)
        self.pid = pid
        self.status_fd: int | None = status_r
        self._alive_w = alive_w
        self.status: int | None = None
        self.spawn_error: tuple[str, int] | None = None
        self._init_reaped = False

    def empty(self) -> bool:
        """init exits by itself once the command and everything it started are gone."""
        return self._init_reaped

    def signal(self, sig: int) -> None:
        if sig == signal.SIGKILL:
            self.kill()
        elif not self._init_reaped:  # (a reaped pid must not be signalled: it may be reused)
            with contextlib.suppress(OSError):
                os.kill(self.pid, sig)  # init forwards it to the command's process group

    def kill(self) -> None:
        if not self._init_reaped:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)  # pid 1 dies: the kernel kills the namespace

    def read_status(self) -> int | None:
        """Read the command's status if init wrote it (call when `status_fd` is readable)."""
        if self.status_fd is None:
            return self.status
        data = os.read(self.status_fd, _STATUS.size)
        if len(data) == _STATUS.size and self.status is None:
            self.status = _STATUS.unpack(data)[0]
        os.close(self.status_fd)
        self.status_fd = None
        return self.status

    def on_reaped(self, pid: int, status: int) -> int | None:
        """init ended: the command's status from the pipe, else init's own (a setup error)."""
        if pid != self.pid:
            return None
        self._init_reaped = True
        if self.read_status() is None:
            self.status = status
        return self.status

    def teardown(self) -> None:
        if not self._init_reaped:
            self.kill()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self._init_reaped = True
        procs.reap_children()
        self.close()

    def close(self) -> None:
        for fd in (self.status_fd, self._alive_w):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.status_fd = None
        self._alive_w = -1
