"""Start-up in two processes: a forked child answers the handshake while this one warms up.

A scripted client sends its first `tools/call` the instant `tools/list` is answered.  The
call path costs ~150 ms of imports, the TLS context and first-use set-up, and a background
thread cannot hide them: it holds the same GIL as the handshake.  So the server forks first
thing.  The child (a copy of the nearly empty process) checks the configuration and answers
the handshake exactly as the single process would; meanwhile this process, on the other
core, imports and builds everything the call path needs.  The handshake then moves back:
when this process is ready, or when the child reads a message that is not part of the
handshake, the child sends what the client told it (`ConnectionState`) and every byte of
input it has not processed, and exits.  This process -- the one the client started and
holds the pid of -- carries on from exactly that point.

The child never outlives its parent (`PR_SET_PDEATHSIG` on Linux; everywhere, the parent's
end of the readiness pipe closes when it dies, which ends the child's handshake and its
write into the closed hand-over pipe).  It never returns into the caller's code: every path
ends in `os._exit`.  A child that dies without handing over leaves this process unable to
know what the client was already told, so the server exits then.  The split is opt-in
(`CODEX_MCP_SPLIT_START=1`, or `auto`: see `enabled` for what it costs and saves); by default
everything stays in one process (the handshake, then a warm-up thread).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from codex_mcp.connection import ConnectionState
from codex_mcp.priority import lower_this_thread

SPLIT_START_ENV = "CODEX_MCP_SPLIT_START"
CHILD_FAILED = 70
"""The child's own exit status when it could not hand over (never the server's)."""
PREPARE_NICENESS = 19
"""The warm-up yields the CPU to the handshake child when they compete for it (a loaded
machine); with a core to itself it runs at full speed all the same, and once a call waits
the server's own thread finishes it at the server's priority."""


def enabled(env: dict[str, str] | os._Environ[str]) -> bool:
    """Whether to split: `CODEX_MCP_SPLIT_START=1` always, `auto` with a core to spare,
    anything else (the default) never.

    The split costs the handshake ~5-10 ms here (the fork, and the copy-on-write faults of
    the child running on the parent's memory) and saves a call sent at once ~40-60 ms (the
    imports done while the child answers); a client that waits before its first call gets
    nothing from it.  Off by default so the start-up never gets slower; `auto` splits only
    when the machine has a core to spare, since on a busy one the warm-up would take CPU
    from the handshake."""
    if not hasattr(os, "fork"):
        return False
    choice = env.get(SPLIT_START_ENV, "0")
    if choice == "1":
        return True
    return choice == "auto" and spare_cores() >= 1.0


def spare_cores() -> float:
    """CPUs this process may use minus the 1-minute load average (0 when unknown)."""
    try:
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return usable - os.getloadavg()[0]
    except OSError:
        return 0.0


@dataclass
class Handoff:
    """What the child hands back: the client's state and unprocessed input, or an exit code."""

    state: ConnectionState | None
    pending: bytes = b""
    eof: bool = False
    exit_code: int | None = None


class HandshakeChild:
    """The forked child answering the handshake, seen from the parent."""

    def __init__(self, pid: int, ready_w: int, handoff_r: int) -> None:
        self.pid = pid
        self._ready_w = ready_w
        self._handoff_r = handoff_r

    def wait_for_handoff_or(self, fd: int) -> bool:
        """Wait until the child has something to hand over (True) or `fd` turns readable."""
        import select

        poller = select.poll()
        poller.register(self._handoff_r, select.POLLIN)
        poller.register(fd, select.POLLIN)
        ready = {f for f, _ in poller.poll()}
        return self._handoff_r in ready

    def take_over(self, version: str) -> Handoff:
        """Tell the child we are ready, read what it hands over, reap it.  A child that died
        without handing over gives `exit_code` 1."""
        os.close(self._ready_w)  # readable EOF on its end: "hand over now"
        chunks: list[bytes] = []
        try:
            while chunk := os.read(self._handoff_r, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(self._handoff_r)
            _, status = os.waitpid(self.pid, 0)
        data = b"".join(chunks)
        header, newline, pending = data.partition(b"\n")
        if not newline:
            code = os.waitstatus_to_exitcode(status)
            print(
                f"codex-mcp-server: the start-up process ended without handing over the connection "
                f"(status {code})",
                file=sys.stderr,
            )
            return Handoff(None, exit_code=1)
        fields = json.loads(header)
        if "exit" in fields:
            return Handoff(None, exit_code=int(fields["exit"]))
        state = ConnectionState(
            version=version,
            initialized=bool(fields["initialized"]),
            protocol_version=str(fields["protocol_version"]),
            client_capabilities=fields["client_capabilities"],
            client_info=fields["client_info"],
        )
        return Handoff(state, pending, bool(fields["eof"]))


def prepare_while_child_answers(steps: list[Callable[[], object]], child: HandshakeChild) -> None:
    """Run `steps` (imports, checks) while the child answers the handshake, at a priority
    that never takes the CPU from it, and at full priority once a call waits.

    A worker thread of lower priority runs the steps in order (on Linux a thread has its own
    nice value; it goes with the thread, so the server keeps its own).  If the child hands
    over first -- a message outside the handshake arrived -- this thread takes the remaining
    steps over at its own priority.  Importing creates ~50,000 long-lived objects: no
    collection runs meanwhile, and they are frozen out of later ones."""
    queue = _Steps(steps)
    done_r, done_w = os.pipe()

    def work() -> None:
        lower_this_thread(PREPARE_NICENESS)
        try:
            queue.run_until_taken()
        finally:
            os.close(done_w)

    worker = threading.Thread(target=work, name="codex-mcp-prepare", daemon=True)
    enabled = gc.isenabled()
    gc.disable()
    try:
        worker.start()
        if child.wait_for_handoff_or(done_r):
            queue.take_over()
            queue.run_until_taken()
        worker.join()
    finally:
        os.close(done_r)
        gc.freeze()
        if enabled:
            gc.enable()


class _Steps:
    """Steps run once each, in order, by whichever thread asks next; `take_over` makes the
    worker stop after its current step."""

    def __init__(self, steps: list[Callable[[], object]]) -> None:
        self._steps = steps
        self._next = 0
        self._lock = threading.Lock()
        self._taken = False
        self._owner: int | None = None

    def take_over(self) -> None:
        with self._lock:
            self._taken = True
            self._owner = threading.get_ident()

    def run_until_taken(self) -> None:
        me = threading.get_ident()
        while True:
            with self._lock:
                if (self._taken and self._owner != me) or self._next >= len(self._steps):
                    return
                step = self._steps[self._next]
                self._next += 1
            step()


def fork_handshake(
    fd_in: int, fd_out: int, start_checks: Callable[[], int], version: str
) -> HandshakeChild | None:
    """Fork the child that runs `start_checks` (0, or the exit code after reporting the
    problem) and then the handshake.  Returns None when the process cannot fork (the caller
    then does everything itself).  Must be called while this process has a single thread."""
    ready_r, ready_w = os.pipe()
    handoff_r, handoff_w = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        for fd in (ready_r, ready_w, handoff_r, handoff_w):
            os.close(fd)
        return None
    if pid == 0:  # pragma: no cover - runs in the child, checked from outside by the tests
        status = CHILD_FAILED
        try:
            os.close(ready_w)
            os.close(handoff_r)
            _die_with(parent)
            _child(fd_in, fd_out, start_checks, version, ready_r, handoff_w)
            status = 0
        except BaseException as exc:  # the parent reports a missing hand-over
            if not isinstance(exc, (KeyboardInterrupt, BrokenPipeError)):
                print(f"codex-mcp-server: start-up process failed: {exc!r}", file=sys.stderr)
        finally:
            sys.stderr.flush()
            os._exit(status)
    os.close(ready_r)
    os.close(handoff_w)
    return HandshakeChild(pid, ready_w, handoff_r)


def _die_with(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import signal

        from codex_mcp.sandbox.procs import set_pdeathsig

        set_pdeathsig(signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(CHILD_FAILED)


def _child(
    fd_in: int, fd_out: int, start_checks: Callable[[], int], version: str, ready_r: int, handoff_w: int
) -> None:
    from codex_mcp.handshake import run_handshake

    code = start_checks()
    if code:
        _send(handoff_w, {"exit": code}, b"")
        return
    state = ConnectionState(version=version)
    pending, eof = run_handshake(fd_in, fd_out, state, stop_fd=ready_r, warm_up=False)
    header = {
        "initialized": state.initialized,
        "protocol_version": state.protocol_version,
        "client_capabilities": state.client_capabilities,
        "client_info": state.client_info,
        "eof": eof,
    }
    _send(handoff_w, header, pending)


def _send(fd: int, header: dict[str, object], pending: bytes) -> None:
    data = memoryview(json.dumps(header).encode() + b"\n" + pending)
    while data:
        data = data[os.write(fd, data) :]
    os.close(fd)
