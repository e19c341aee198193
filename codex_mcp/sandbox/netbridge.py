"""The in-sandbox end of the network proxy: a loopback listener that hands connections out.

A command whose network goes through the server's proxy runs in a network namespace of its
own, whose only interface is loopback (bwrap's `--unshare-net`, or the Landlock container's
own namespace with `lo` brought up by its init).  Before the command starts, the bridge
listens on `127.0.0.1:<port>` *inside that namespace* (under bwrap: `BRIDGE`, a
standard-library script run with `python -I -S` as the command's first process, so nothing
in the sandbox can change what it runs; in the Landlock container: `start_daemon`, forked by
init, which is already a Python process) and then:

* forks a daemon in a session of its own, which accepts every connection and passes the
  accepted socket to the server over the inherited channel (one `SCM_RIGHTS` message per
  connection on an AF_UNIX seqpacket socket whose other end only the server holds), then
  closes its own copy: the server talks to the command's socket directly, the daemon
  copies no byte.  (A failed `accept`, e.g. out of descriptors, is retried; a failed
  hand-over means the server is gone, and the daemon exits.)  The daemon is not dumpable
  (no `pidfd_getfd` of its channel by the command), and a channel message that is not
  exactly one connection makes the server close that channel.
* execs the command, which finds `HTTP_PROXY` & co pointing at that port.

Nothing listens anywhere else: not on the host's network, not on a path or an abstract
socket.  Another process of the host, another session's sandbox or another command of the
same session cannot reach the listener (it lives in this command's namespace only), and the
channel exists only as a descriptor inherited by this sandbox.  A command that gets hold of
the channel gains nothing the listener does not give it: the server only speaks the proxy
protocol, under this command's policy, on whatever socket arrives there.

The daemon dies with the sandbox (the namespace's init ends it with the command).  When the
server closes the channel (the command is over, the thread closed), the daemon exits and
new connections are refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import time

TYPE_CHECKING = False  # the launcher's start-up stays free of `typing` (mypy still sees it)
if TYPE_CHECKING:
    from collections.abc import Sequence

PROXY_HOST = "127.0.0.1"
NO_PROXY = "localhost,127.0.0.1,::1"
ACTIVE_VAR = "CODEX_NETWORK_PROXY_ACTIVE"

# argv: <channel fd> <port> -- command...  (`_socket`, not `socket`: its import costs 25 ms)
BRIDGE = (
    "import os, sys, _socket as S\n"
    "ctl, port, cmd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[4:]\n"
    "try:\n"
    "    lst = S.socket(S.AF_INET, S.SOCK_STREAM)\n"
    "    lst.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)\n"
    "    lst.bind(('127.0.0.1', port))\n"
    "    lst.listen(256)\n"
    "    pid = os.fork()\n"
    "except OSError as e:\n"
    "    os.write(2, ('codex-mcp: the network proxy is unavailable in this sandbox: %s\\n' % e).encode())\n"
    "    pid = -1\n"
    "if pid == 0:\n"
    "    try:\n"
    "        if os.fork():\n"
    "            os._exit(0)\n"
    "        os.setsid()\n"
    "        import ctypes\n"
    "        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"
    "        n = os.open(os.devnull, os.O_RDWR)\n"
    "        for f in (0, 1, 2):\n"
    "            os.dup2(n, f)\n"
    "        keep = sorted({ctl, lst.fileno()})\n"
    "        os.closerange(3, keep[0])\n"
    "        os.closerange(keep[0] + 1, keep[-1])\n"
    "        os.closerange(keep[-1] + 1, 65536)\n"
    "        out = S.socket(fileno=ctl)\n"
    "        while True:\n"
    "            try:\n"
    "                c, _ = lst._accept()\n"
    "            except OSError:\n"
    "                import time\n"
    "                time.sleep(0.05)\n"
    "                continue\n"
    "            try:\n"
    "                fd = c.to_bytes(4, sys.byteorder, signed=True)\n"
    "                out.sendmsg([b'c'], [(S.SOL_SOCKET, S.SCM_RIGHTS, fd)])\n"
    "            except OSError:\n"
    "                os._exit(0)\n"
    "            os.close(c)\n"
    "    finally:\n"
    "        os._exit(0)\n"
    "if pid > 0:\n"
    "    os.waitpid(pid, 0)\n"
    "    lst.close()\n"
    "os.close(ctl)\n"
    "try:\n"
    "    os.execvp(cmd[0], cmd)\n"
    "except OSError as e:\n"
    "    missing = isinstance(e, FileNotFoundError)\n"
    "    why = 'command not found' if missing else str(e.strerror)\n"
    "    os.write(2, (cmd[0] + ': ' + why + '\\n').encode())\n"
    "    os._exit(127 if missing else 126)\n"
)
SYSTEM_PYTHON = "/usr/bin/python3"


def bridge_python(fallback: str) -> str:
    """The interpreter for the bridge: the system's when there is one (it starts in half the
    time of a virtualenv's, and the platform defaults keep it readable under restricted
    reads), else `fallback`."""
    return SYSTEM_PYTHON if os.access(SYSTEM_PYTHON, os.X_OK) else fallback


def bridge_argv(channel_fd: int, port: int, command: Sequence[str], python: str) -> list[str]:
    """`command`, started behind the bridge listening on `port` and passing connections over
    `channel_fd` (which must be inherited at that number)."""
    return [python, "-I", "-S", "-c", BRIDGE, str(channel_fd), str(port), "--", *command]


def proxy_env(port: int) -> dict[str, str]:
    """The variables that point a command's HTTP clients at the bridge (both spellings, as
    tools differ in which they read).  `ALL_PROXY` names the HTTP proxy too: the same port
    also speaks SOCKS5 for clients configured for it, but a client that meets a `socks5://`
    URL without SOCKS support fails where an HTTP proxy works."""
    url = f"http://{PROXY_HOST}:{port}"
    env = {ACTIVE_VAR: "1"}
    pairs = (("HTTP_PROXY", url), ("HTTPS_PROXY", url), ("ALL_PROXY", url), ("NO_PROXY", NO_PROXY))
    for name, value in pairs:
        env[name] = value
        env[name.lower()] = value
    return env


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = struct.Struct("16sH22x")


def loopback_up() -> None:
    """Bring `lo` up in the calling process's (fresh) network namespace; needs CAP_NET_ADMIN
    there, so the container's init does it before it drops its capabilities."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as sock:
        request = _IFREQ.pack(b"lo", 0)
        flags = _IFREQ.unpack(fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))


def channel_pair() -> tuple[socket.socket, int]:
    """(the server's end, the sandbox's end as an inheritable fd) of a new channel."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = theirs.detach()
    os.set_inheritable(fd, True)
    return ours, fd


def start_daemon(channel_fd: int, port: int) -> None:
    """`BRIDGE`'s daemon, forked by the Landlock container's init (already restricted, in the
    command's network namespace), without an interpreter to start: listen on `port`, fork
    the daemon, and close the channel here, so that the command init spawns next does not
    inherit it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((PROXY_HOST, port))
        listener.listen(256)
        pid = os.fork()
        if pid == 0:
            try:
                _daemon(channel_fd, listener)
            finally:
                os._exit(0)
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            os.close(channel_fd)


def _daemon(channel_fd: int, listener: socket.socket) -> None:
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    keep = sorted({channel_fd, listener.fileno()})
    os.closerange(3, keep[0])
    os.closerange(keep[0] + 1, keep[-1])
    os.closerange(keep[-1] + 1, 65536)
    channel = socket.socket(fileno=channel_fd)
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            time.sleep(0.05)  # out of descriptors: the command's own doing; try again
            continue
        try:
            socket.send_fds(channel, [b"c"], [conn.fileno()])
        except OSError:
            return  # the server closed the channel: no more connections
        finally:
            conn.close()
