"""Support for the attack tests on the current shell tools through the real server: a stdio
server run as root or as `tester`, on a chosen sandbox backend, driven by a hostile scripted
model; judged from outside (files, listeners, the kernel's process list, the server's memory
as the kernel counts it, `ping`).

Places live under /var/tmp (outside every writable root of workspace-write, which also
allows /tmp) and belong to the attacking user (`backends_support.place`).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.execwire_support import session_id_in
from tests.security.backends_probe import FAKE_KEY
from tests.security.backends_support import SYSTEM_PYTHON, Place, place, status_field
from tests.security.harness import run_call
from tests.security.tester_runtime import runtime_for
from tests.support.model_turns import new_id
from tests.support.raw_client import RawClient, descendant_pids
from tests.support.scripted_model import Recorded, ScriptedModel, Turn, function_call
from tests.support.server import initialize, server_env, write_config

SHELL = "exec bash --noprofile --norc -i"
"""An interactive shell on the session's terminal: what the attacker types into."""

TIOCSTI_PROBE = (
    'python3 -c "import fcntl, termios, os\n'
    "for name in ('fd0', '/dev/tty'):\n"
    "    fd = 0 if name == 'fd0' else os.open(name, os.O_RDWR)\n"
    "    for req, what in ((termios.TIOCSTI, 'sti'), (getattr(termios, 'TIOCLINUX', 0x541C), 'linux')):\n"
    "        try:\n"
    "            fcntl.ioctl(fd, req, b'\\\\x0c' if what == 'linux' else b'Z')\n"
    "            print(what, name, 'INJ' + 'ECTED')\n"
    "        except OSError as e:\n"
    "            print(what, name, 'refused', e.errno)\n"
    '"'
)
"""Try to push a character into the terminal's input queue (TIOCSTI) and to drive the console
(TIOCLINUX), on the inherited terminal and on /dev/tty."""


@contextlib.contextmanager
def server(
    user: str,
    model: ScriptedModel,
    log: Path,
    *,
    backend: str | None = None,
    extra: str = "",
    where: Place | None = None,
) -> Iterator[tuple[RawClient, Place]]:
    """A stdio server running as `user` (its pid is the server itself: setpriv execs), its
    workspace in a place owned by `user`."""
    with contextlib.ExitStack() as stack:
        p = where or stack.enter_context(place(user))
        home = p.base / "codex-home"
        write_config(home, model, extra=extra)
        for path in (home, *home.rglob("*")):
            p.chown(path)
        env = server_env(home)
        env.update(OPENAI_API_KEY=FAKE_KEY, HOME=str(p.base))
        if backend:
            env["CODEX_MCP_SANDBOX_BACKEND"] = backend
        argv = [sys.executable, "-m", "codex_mcp"]
        if user != "root":
            env["PYTHONPATH"] = runtime_for(user).pythonpath
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--",
                    SYSTEM_PYTHON, "-m", "codex_mcp"]  # fmt: skip
        client = RawClient(argv, env=env, cwd=p.ws, log_path=log, policy="decline")
        try:
            initialize(client)
            yield client, p
        finally:
            client.kill()


def go(
    client: RawClient, *, sandbox: str = "workspace-write", approval: str = "never", **kw: Any
) -> dict[str, Any]:
    return run_call(client, approval=approval, sandbox=sandbox, timeout=kw.pop("timeout", 120), **kw)


def typed(
    model: ScriptedModel, started_by: str, line: str | Callable[[], str], marker: str, *, yield_ms: int = 3000
) -> str:
    """Queue a `write_stdin` typing `line` into the shell `started_by` opened, followed by an
    echo of `marker=$?`; returns the call id."""

    def text() -> str:
        return f"{line() if callable(line) else line}; echo {marker}=$?\n"

    return write_to(model, started_by, text, yield_ms=yield_ms)


def write_to(
    model: ScriptedModel,
    started_by: str,
    chars: str | Callable[[], str],
    *,
    yield_ms: int = 1000,
    session_id: Callable[[int], int] | None = None,
    find: Callable[[ScriptedModel, str], str] | None = None,
) -> str:
    """Queue a `write_stdin` to the session `started_by` opened.  The id is read, when the
    call is built, from the output the agent sent back for `started_by`: in the current
    request, or (`find`) anywhere the model has seen it (another thread's request);
    `session_id` may rewrite it.  `chars` may be computed then too (from what the test sees
    from outside at that moment)."""
    call_id = new_id("call")

    def build(rec: Recorded) -> Turn:
        out = rec.call_output(started_by) if find is None else find(model, started_by)
        assert out is not None, f"no output of {started_by} yet"
        sid = session_id_in(out)
        text = chars() if callable(chars) else chars
        args = {
            "session_id": session_id(sid) if session_id else sid,
            "chars": text,
            "yield_time_ms": yield_ms,
        }
        return Turn("calls", calls=[function_call("write_stdin", args, call_id)])

    model.later(build)
    return call_id


def seen_anywhere(model: ScriptedModel, call_id: str) -> str:
    """The output of `call_id` in any request the model received (any thread's)."""
    for rec in model.requests:
        out = rec.call_output(call_id)
        if out is not None:
            return out
    raise AssertionError(f"the model never saw the output of {call_id}")


def peak_rss_kb(pid: int) -> int:
    """The server's peak resident memory, as the kernel counts it (VmHWM)."""
    return int(status_field(pid, "VmHWM").split()[0])


@contextlib.contextmanager
def listener() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP listener on loopback outside every sandbox; yields (port, connections accepted)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(5)
        sock.close()
        for conn in accepted:
            conn.close()


def pts_of(pid: int) -> str | None:
    """The terminal a process has as its stdin, seen from outside."""
    try:
        target = Path(f"/proc/{pid}/fd/0").readlink()
    except OSError:
        return None
    return str(target) if str(target).startswith("/dev/pts/") else None


def shell_pids(server_pid: int) -> list[int]:
    """The interactive shells (`SHELL`) among the server's descendants."""
    out = []
    for pid in descendant_pids(server_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:3] == [b"bash", b"--noprofile", b"--norc"]:
            out.append(pid)
    return out
