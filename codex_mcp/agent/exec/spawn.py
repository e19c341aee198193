"""The server's side of the fork server (`codex_mcp.sandbox.forkserver`): start it once, hand
it one command at a time, and talk to that command's keeper.

Every command `run_exec` starts on Linux goes through here, whatever its sandbox: the keeper
gives it a parent-death signal, reaps and kills every process it leaves behind (`setsid`
and double forks included) and, for a Landlock launcher argv, builds the container in a
forked process instead of a new interpreter.  If the server dies, even by SIGKILL, its ends
of the sockets close and every keeper kills its command's whole tree.

Not thread-safe per handle; the fork server itself may be used from any thread.
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from codex_mcp.sandbox.launcher import helper_argv, parse_launcher_argv

log = logging.getLogger(__name__)

_MAX_FDS = 60


class _ForkServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._broken = False

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                helper_argv("forkserver", [str(theirs.fileno())]),
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                cwd="/", env={}, start_new_session=True,
            )  # fmt: skip
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._proc = proc
        self._sock = ours
        return ours

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
            self._proc = None

    def send(self, fds: Sequence[int]) -> None:
        """Hand `fds` to the fork server (one keeper per message); restart it once if it died."""
        with self._lock:
            for attempt in (0, 1):
                sock = self._sock if self._sock is not None else self._start()
                try:
                    sock.sendmsg([b"spawn"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
                    return
                except (BrokenPipeError, ConnectionError) as exc:
                    log.warning("sandbox fork server gone (%s); restarting it", exc)
                    self._reset()
                    if attempt:
                        raise

    def close(self) -> None:
        with self._lock:
            self._reset()

    def close_and_reap(self, timeout: float) -> None:
        """Close our end and wait for the fork server to finish: it kills and reaps every
        process below it first.  One that does not finish within `timeout` is killed."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            if self._proc is not None:
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("the sandbox fork server did not exit within %.1f s; killing it", timeout)
                self._reset()


_SERVER = _ForkServer()
_AVAILABLE: bool | None = None


def available() -> bool:
    """Whether commands go through the fork server here (Linux with the needed prctls)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        _AVAILABLE = sys.platform.startswith("linux") and hasattr(socket, "SCM_RIGHTS")
    return _AVAILABLE


def shutdown() -> None:
    """Stop the fork server at once (tests)."""
    _SERVER.close()


FINAL_REAP_TIMEOUT = 3.0


def close_and_reap(timeout: float = FINAL_REAP_TIMEOUT) -> None:
    """The server is leaving: end the fork server and every process below it, and reap it."""
    _SERVER.close_and_reap(timeout)


class Spawned:
    """One command under its keeper: its output pipes and the keeper's socket."""

    def __init__(self, chan: socket.socket, stdout_fd: int, stderr_fd: int, argv0: str, cwd: str) -> None:
        self.chan = chan
        self.stdout_fd = stdout_fd
        self.stderr_fd = stderr_fd
        self.argv0 = argv0
        self.cwd = cwd
        self.returncode: int | None = None
        self.spawn_error: OSError | None = None
        self.done = False
        self._buffer = b""

    async def _message(self) -> dict[str, Any] | None:
        while b"\n" not in self._buffer:
            try:
                data = self.chan.recv(65536)
            except BlockingIOError:
                await anyio.wait_readable(self.chan)
                continue
            except OSError:
                data = b""
            if not data:
                return None
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        msg = json.loads(line)
        return msg if isinstance(msg, dict) else {}

    async def _until(self, key: str) -> bool:
        """Read messages until one carrying `key` (or the end); False at the end."""
        while True:
            msg = await self._message()
            if msg is None:
                self.done = True
                if self.returncode is None and self.spawn_error is None:
                    self.returncode = -9  # the keeper vanished: treat the command as killed
                return False
            if "exit" in msg and isinstance(msg["exit"], int):
                self.returncode = os.waitstatus_to_exitcode(msg["exit"])
            if "error" in msg:
                code = int(msg.get("errno", 5))
                where = self.cwd if msg["error"] == "chdir" else self.argv0
                # OSError(errno, ...) is the errno's subclass, as a failed fork/exec raises.
                self.spawn_error = OSError(code, os.strerror(code), where)
            if msg.get("done"):
                self.done = True
            if key in msg or (key == "exit" and self.spawn_error is not None):
                return True

    async def wait(self) -> int:
        """The command's return code (negative: killed by that signal).  If it could not be
        started at all, `spawn_error` is set instead (and this returns 127)."""
        if self.returncode is None and self.spawn_error is None and not self.done:
            await self._until("exit")
        if self.spawn_error is not None:
            return 127
        return -9 if self.returncode is None else self.returncode

    def _send(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.chan.send(json.dumps(msg).encode() + b"\n")

    def signal(self, sig: int) -> None:
        """Signal the command's process group (through the keeper)."""
        if not self.done:
            self._send({"signal": int(sig)})

    def kill_all(self) -> None:
        """SIGKILL every process of the command, now."""
        if not self.done:
            self._send({"kill": True})

    async def teardown(self) -> None:
        """Kill whatever is left, wait until all of it is reaped, and release the keeper."""
        if not self.done:
            self._send({"teardown": True})
            await self._until("done")

    def close(self) -> None:
        for fd in (self.stdout_fd, self.stderr_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.stdout_fd = self.stderr_fd = -1
        self.chan.close()


async def spawn(
    argv: Sequence[str],
    cwd: str,
    env: Mapping[str, str],
    pass_fds: Sequence[int] = (),
    *,
    terminal: int | None = None,
) -> Spawned:
    """Start `argv` under a keeper; stdin is /dev/null, stdout/stderr are new pipes.

    With `terminal` (the slave side of a pseudo-terminal; the caller keeps its own copy and
    the master), stdin, stdout and stderr are that terminal instead, and the command takes
    it as its controlling terminal; the handle then has no pipes (`stdout_fd` is -1).
    """
    if len(pass_fds) > _MAX_FDS:
        raise OSError(7, "too many file descriptors to pass")  # E2BIG
    request: dict[str, Any] = {"argv": list(argv), "env": dict(env), "cwd": cwd, "fds": list(pass_fds)}
    launcher = parse_launcher_argv(argv)
    if launcher is not None:
        request["argv"], request["sandbox"] = launcher[1], launcher[0]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    if terminal is not None:
        request["tty"] = True
        out_r, out_w, err_r, err_w = -1, terminal, -1, terminal
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
    handle = Spawned(ours, out_r, err_r, argv[0], cwd)
    try:
        _SERVER.send([theirs.fileno(), out_w, err_w, *pass_fds])
        ours.sendall(json.dumps(request).encode() + b"\n")
    except BaseException:
        handle.close()
        raise
    finally:
        theirs.close()
        if terminal is None:
            os.close(out_w)
            os.close(err_w)
    ours.setblocking(False)
    if terminal is None:
        os.set_blocking(out_r, False)
        os.set_blocking(err_r, False)
    return handle
