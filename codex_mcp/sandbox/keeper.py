"""The per-command keeper: start a command, report on it, and make sure nothing it started
outlives it.

A keeper is a child subreaper (orphans of the command's tree come back to it, whatever
`setsid` or double forks they did).  It runs either in a process forked by the fork server
(talking to the server over a socket: `Channel`) or as the exec'd launcher itself (no
channel).  Jobs:

* `PlainJob`: the command is the keeper's child (a session leader with a parent-death signal
  tied to the keeper); teardown SIGKILLs every descendant.  With a `container.Policy` of
  isolation "none" the child restricts itself (Landlock, seccomp, no capabilities) first.
* `container.ContainerJob`: the command runs in its own PID namespace under an init;
  teardown kills init, which makes the kernel kill the whole namespace.

Messages (JSON lines), keeper -> server: `{"error": step, "errno": n}` if the command could
not be started, else `{"exit": wait_status}` and `{"done": true}` (one message when nothing
of the command was left to tear down).  Server -> keeper: `{"signal": n}`,
`{"kill": true}`, `{"teardown": true}`.  The server closing the socket (it exited or was
killed) means: kill everything now.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import sys

from codex_mcp.sandbox import container, procs

TYPE_CHECKING = False  # the launcher's start-up stays free of `typing` (mypy still sees it)
if TYPE_CHECKING:
    import socket
    from typing import Any, Protocol

    class Job(Protocol):
        pid: int
        status: int | None
        status_fd: int | None
        spawn_error: tuple[str, int] | None

        def signal(self, sig: int) -> None: ...
        def kill(self) -> None: ...
        def read_status(self) -> int | None: ...
        def on_reaped(self, pid: int, status: int) -> int | None: ...
        def empty(self) -> bool: ...
        def teardown(self) -> None: ...


class PlainJob:
    """The command as our direct child, in a session of its own, started in our cwd.

    Unrestricted commands are started with posix_spawn (vfork semantics: nothing is copied
    and the command does not wait for the scheduler); they have no parent-death signal of
    their own: we kill their tree when the server goes, and should we be killed, the fork
    server (a subreaper too) inherits and kills it.  A restricted command (isolation "none")
    and a command on a terminal (`terminal`: stdin is the terminal it must take as its
    controlling terminal) are forked to do that first, and are tied to us by a parent-death
    signal.
    """

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        restrict: container.Policy | None = None,
        terminal: bool = False,
    ) -> None:
        procs.set_child_subreaper()
        self.pid = 0
        self.status: int | None = None
        self.status_fd: int | None = None
        self.spawn_error: tuple[str, int] | None = None
        if restrict is None and not terminal:
            try:
                self.pid = container.spawn(argv, env)
            except OSError as exc:
                self.spawn_error = ("exec", exc.errno or errno.EIO)
            return
        me = os.getpid()
        cwd = os.getcwd()
        sys.stdout.flush()
        self.pid = os.fork()
        if self.pid == 0:
            container.exec_restricted(restrict, argv, env, cwd, me, terminal)

    def signal(self, sig: int) -> None:
        """Signal the command's process group: while the command lives, by its id; after it
        was reaped (the id may be reused once the group is empty) only the group's members
        among our descendants."""
        if sig == signal.SIGKILL:
            self.kill()
            return
        if self.status is None:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, sig)
            return
        for pid in procs.descendants(os.getpid()):
            with contextlib.suppress(OSError):
                if os.getpgid(pid) == self.pid:
                    os.kill(pid, sig)

    def kill(self) -> None:
        for pid, status in procs.kill_descendants():
            self.on_reaped(pid, status)

    def read_status(self) -> int | None:
        return self.status

    def on_reaped(self, pid: int, status: int) -> int | None:
        if pid == self.pid and self.status is None:
            self.status = status
        return self.status if pid == self.pid else None

    def empty(self) -> bool:
        """Nothing of the command is left (its orphans would be our children)."""
        return self.status is not None and not procs.children_of(os.getpid())

    def teardown(self) -> None:
        self.kill()


class Channel:
    """JSON lines over the keeper's end of a socketpair (blocking socket; we poll first)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.open = True

    def send(self, msg: dict[str, Any]) -> None:
        if not self.open:
            return
        try:
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError:
            self.open = False

    def receive(self) -> list[dict[str, Any]] | None:
        """The complete messages now available; None once the server hung up."""
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.open = False
            return None
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        out = []
        for line in lines:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict):
                out.append(msg)
        return out

    def receive_one(self) -> dict[str, Any] | None:
        """Block for the first message (the request)."""
        while b"\n" not in self.buffer:
            data = self.sock.recv(1 << 20)
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        msg = json.loads(line)
        return msg if isinstance(msg, dict) else None


def release_stdio(extra: list[int]) -> None:
    """Stop holding the command's stdio and passed fds (its pipes must close with it)."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    for fd in extra:
        if fd > 2:
            with contextlib.suppress(OSError):
                os.close(fd)


def supervise(job: Job, chan: Channel | None) -> int | None:
    """Run `job` to its end.  Returns the command's raw wait status (None: never started).

    With a channel: report, obey signal/kill/teardown requests, and tear down when the
    server says so or disappears.  Without one (the exec'd launcher): tear down as soon as
    the command itself has ended.
    """
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    for sig in container.FORWARDED_SIGNALS:
        signal.signal(sig, lambda s, _f: job.signal(s))
    report = chan.send if chan is not None else (lambda _msg: None)
    if job.spawn_error is not None:
        step, code = job.spawn_error
        report({"error": step, "errno": code})
        job.teardown()
        report({"done": True})
        return None
    poller = select.poll()
    poller.register(wake_r, select.POLLIN)
    if job.status_fd is not None:
        poller.register(job.status_fd, select.POLLIN)
    if chan is not None:
        poller.register(chan.sock.fileno(), select.POLLIN)
    exit_sent = False
    finished = False
    while not finished:
        for pid, status in procs.reap_children():
            job.on_reaped(pid, status)
        if job.status is not None and not exit_sent:
            # Done unless something the command started may still write to its pipes: then
            # the server drains them and asks for the teardown.
            if chan is None or job.empty():
                break
            report({"exit": job.status})
            exit_sent = True
        for fd, _event in poller.poll():
            if fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
            elif fd == job.status_fd:
                poller.unregister(fd)
                job.read_status()
            elif chan is not None and fd == chan.sock.fileno():
                msgs = chan.receive()
                if msgs is None:  # the server is gone: nothing may outlive it
                    poller.unregister(fd)
                    job.kill()
                    finished = True
                    break
                for msg in msgs:
                    if "signal" in msg and isinstance(msg["signal"], int):
                        job.signal(msg["signal"])
                    elif msg.get("kill"):
                        job.kill()
                    elif msg.get("teardown"):
                        finished = True
    job.teardown()
    last: dict[str, Any] = {"done": True}
    if job.status is not None and not exit_sent:
        last["exit"] = job.status
    report(last)
    signal.set_wakeup_fd(-1)
    os.close(wake_r)
    os.close(wake_w)
    return job.status
