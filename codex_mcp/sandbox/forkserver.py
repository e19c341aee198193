"""The fork server: one small, single-threaded helper process that forks a keeper per command.

Why it exists: the server is multi-threaded and async, so it must not fork and run code
before exec (no `preexec_fn`), and starting a Python launcher per command costs tens of
milliseconds of interpreter start-up.  The fork server is started once (with `-I -S`, no
secrets in its environment, cwd `/`), preloads the sandbox modules, and for every request
forks a keeper (`keeper.py`) that owns one command: parent-death handling, process-tree
teardown, and, for the Landlock backend, the container (`container.py`).

Protocol: the server sends one SOCK_SEQPACKET message per command carrying, by SCM_RIGHTS,
the keeper's end of a fresh socketpair, the command's stdout and stderr pipe ends and the
fds to pass on.  The request itself (argv, env, cwd, fd numbers, sandbox policy, and `tty`:
stdout and stderr are then a terminal, which is also stdin and becomes the command's
controlling terminal) then goes over that socketpair (see `keeper.py` for the messages that
follow).

It keeps `SPARES` keepers forked ahead of time, each blocked reading the shared socket, so
a request is taken by a process that already exists (no fork, no wait for the scheduler on
the command's critical path); a spare that took a request tells the fork server, which
forks a replacement.  The fork server is non-dumpable and a child subreaper; it kills any
orphan that reaches it (a keeper killed from outside), and when the server's end of its
socket closes (the server is leaving, or was killed) it kills and reaps every process below
it, then exits.  Each keeper tears its command down on the same signal:
the server's end of the keeper's socketpair closing.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import os
import select
import signal
import socket
import struct

from codex_mcp.sandbox import container, keeper, procs

MAX_FDS = 64


def _unpack_fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(data[: len(data) - len(data) % arr.itemsize])
            fds.extend(arr)
    return fds


SPARES = 2  # keepers forked ahead of time, so that no fork is on a command's critical path


def main(args: list[str]) -> int:
    sock = socket.socket(fileno=int(args[0]))
    procs.set_dumpable(False)
    procs.set_child_subreaper()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    me = os.getpid()
    notify_r, notify_w = os.pipe()  # a spare that took a request writes its pid here
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    spares: set[int] = set()
    busy: set[int] = set()
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLRDHUP)  # never POLLIN: the spares read requests
    poller.register(notify_r, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    while True:
        while len(spares) < SPARES:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    for fd in (notify_r, wake_r, wake_w):
                        os.close(fd)
                    code = _spare(sock, notify_w)
                finally:
                    os._exit(code)
            spares.add(pid)
        for fd, event in poller.poll():
            if fd == sock.fileno() and event & (select.POLLHUP | select.POLLRDHUP | select.POLLERR):
                # The server is gone (or leaving): nothing of ours may outlive it.  Spares,
                # keepers and whatever they left behind are killed and reaped before we go,
                # so a server that waits for us knows every process it caused has ended.
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                procs.kill_descendants(limit_s=2.0)
                return 0
            if fd == notify_r:
                data = os.read(notify_r, 4096)
                for (pid,) in _PID.iter_unpack(data[: len(data) - len(data) % _PID.size]):
                    spares.discard(pid)
                    busy.add(pid)
            elif fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
                for pid, _status in procs.reap_children():
                    spares.discard(pid)
                    busy.discard(pid)
                for pid in procs.children_of(me):
                    if pid not in spares and pid not in busy:  # an orphan whose keeper was killed
                        for victim in [pid, *procs.descendants(pid)]:
                            with contextlib.suppress(OSError):
                                os.kill(victim, signal.SIGKILL)


_PID = struct.Struct("=i")


def _spare(sock: socket.socket, notify_w: int) -> int:
    """A keeper waiting for its command: take one request off the shared socket."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        msg, ancdata, _flags, _addr = sock.recvmsg(256, socket.CMSG_SPACE(MAX_FDS * 4))
    except OSError:
        return 1
    fds = _unpack_fds(ancdata)
    if not msg and not fds:
        return 0  # the server is gone
    os.write(notify_w, _PID.pack(os.getpid()))
    os.close(notify_w)
    sock.close()  # the next request is for another keeper
    if len(fds) < 3:
        for fd in fds:
            os.close(fd)
        return 1
    return _keeper_main(fds)


def _move_high(fd: int, base: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, base)
    os.close(fd)
    return high


def _keeper_main(fds: list[int]) -> int:
    """One command, from request to teardown (in the forked keeper)."""
    base = max(fds) + 1
    chan_fd, *rest = [_move_high(fd, base) for fd in fds]
    chan = keeper.Channel(socket.socket(fileno=chan_fd))
    request = chan.receive_one()
    if request is None:
        return 1
    argv, env, cwd = request.get("argv"), request.get("env"), request.get("cwd")
    targets = request.get("fds", [])
    sandbox = request.get("sandbox")
    terminal = request.get("tty", False)
    if (
        not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv)
        or not isinstance(env, dict) or not isinstance(cwd, str)
        or not isinstance(targets, list) or len(targets) != len(rest) - 2
        or not all(isinstance(t, int) and t > 2 for t in targets)
        or not (sandbox is None or isinstance(sandbox, str))
        or not isinstance(terminal, bool)
    ):  # fmt: skip
        chan.send({"error": "request", "errno": errno.EINVAL})
        return 1
    # The command's fds at their numbers: stdin (/dev/null, or the terminal), stdout, stderr,
    # then the passed ones.  With a terminal, stdout and stderr are the terminal too.
    top = max([base, *targets]) + 1
    rest = [_move_high(fd, top) for fd in rest]
    chan_fd = fcntl.fcntl(chan.sock.fileno(), fcntl.F_DUPFD_CLOEXEC, top)
    chan.sock.close()
    chan.sock = socket.socket(fileno=chan_fd)
    if terminal:
        stdin = fcntl.fcntl(rest[0], fcntl.F_DUPFD_CLOEXEC, top)
    else:
        stdin = _move_high(os.open(os.devnull, os.O_RDONLY), top)
    for src, dst in zip([stdin, *rest], [0, 1, 2, *targets], strict=True):
        os.dup2(src, dst)
        os.close(src)
    try:
        os.chdir(cwd)
    except OSError as exc:
        chan.send({"error": "chdir", "errno": exc.errno or errno.EIO})
        chan.send({"done": True})
        return 0
    job: keeper.Job
    try:
        if sandbox is None:
            job = keeper.PlainJob(argv, env, terminal=terminal)
        else:
            policy = container.Policy.from_json(sandbox)
            if policy.isolation == container.ISOLATION_NONE:
                job = keeper.PlainJob(argv, env, restrict=policy, terminal=terminal)
            else:
                job = container.ContainerJob(policy, argv, env, cwd, terminal=terminal)
    except Exception as exc:
        code = container.refuse(str(exc) or type(exc).__name__)
        chan.send({"exit": code << 8, "done": True})
        return 0
    keeper.release_stdio(targets)
    keeper.supervise(job, chan)
    return 0
