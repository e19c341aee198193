"""Support for the server-wide process cap attacks: a server with a small cap, a hostile
model that opens `sleep` sessions from several threads at once, and a watcher that counts,
from outside, the server's descendant `sleep` processes (the kernel's process list) while
pinging it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codex_mcp.sandbox.procs import children_of
from tests.execwire_support import exec_args
from tests.security.backends_support import place
from tests.security.execwire_support import server
from tests.support.raw_client import RawClient, descendant_pids, wait_until
from tests.support.scripted_model import ScriptedModel, Turn, function_call

CAP = 12
CAP_CONFIG = f"[codex_mcp]\nexec_server_max_processes = {CAP}\n"
REFUSAL_KEY = "exec_server_max_processes"
RUNNING = "Process running with session ID"


def sleeps_under(root: int, duration: str) -> list[int]:
    """The live `sleep <duration>` processes among `root`'s descendants."""
    want = b"sleep\x00" + duration.encode() + b"\x00"
    out = []
    for pid in descendant_pids(root):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() == want:
                out.append(pid)
        except OSError:
            continue
    return out


def session_processes(root: int) -> list[int]:
    """`root`'s descendants below its direct children (the fork server): the keepers and
    the commands of its sessions (and any sandbox processes between them)."""
    direct = set(children_of(root))
    return [pid for pid in descendant_pids(root) if pid not in direct]


class Watch:
    """From other threads: counts the server's `sleep <duration>` descendants as often as it
    can (keeps the peak) and pings the server every 0.2 s (keeps the slowest answer)."""

    def __init__(self, client: RawClient, duration: str) -> None:
        self.client, self.duration = client, duration
        self.peak, self.samples, self.slowest_ping = 0, 0, 0.0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._count), threading.Thread(target=self._ping)]

    def _count(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, len(sleeps_under(self.client.proc.pid, self.duration)))
            self.samples += 1

    def _ping(self) -> None:
        while not self.stop.wait(0.2):
            started = time.monotonic()
            self.client.wait_response(self.client.request("ping"), 10)
            self.slowest_ping = max(self.slowest_ping, time.monotonic() - started)

    def __enter__(self) -> Watch:
        for t in self.threads:
            t.daemon = True
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


def queue_sleepers(model: ScriptedModel, duration: str, calls: int, *, yield_ms: int = 250) -> None:
    """One model turn of `calls` `exec_command`s of `sleep <duration>`, then "done"."""
    args = exec_args(f"exec sleep {duration}", yield_ms=yield_ms)
    model.add(Turn("calls", calls=[function_call("exec_command", args) for _ in range(calls)]))


def outputs(model: ScriptedModel) -> dict[str, str]:
    """Every tool output the model was sent, by call id."""
    found: dict[str, str] = {}
    for rec in model.requests:
        for item in rec.items():
            if item.get("type") == "function_call_output":
                found[str(item.get("call_id"))] = str(item.get("output"))
    return found


def tally(model: ScriptedModel) -> tuple[int, int, list[str]]:
    """(sessions opened, refusals by the cap, the refusal texts)."""
    outs = list(outputs(model).values())
    refusals = [o for o in outs if REFUSAL_KEY in o]
    return sum(RUNNING in o for o in outs), len(refusals), refusals


def codex_args(sandbox: str, **extra: Any) -> dict[str, Any]:
    return {"prompt": "go", "approval-policy": "never", "sandbox": sandbox, **extra}


@contextlib.contextmanager
def cap_server(model: ScriptedModel, tmp_path: Path, backend: str | None) -> Iterator[RawClient]:
    """A stdio server as root with the cap of `CAP` processes, forced onto `backend`."""
    with (
        place("root") as p,
        server("root", model, tmp_path / "server.log", backend=backend, extra=CAP_CONFIG, where=p) as (
            client,
            _,
        ),
    ):
        yield client


def start_held_rounds(client: RawClient, model: ScriptedModel, held: str, threads: int) -> list[int]:
    """`threads` concurrent `codex` calls of a family that runs a round's calls side by side;
    their request ids, once every thread's round has started and `CAP` `sleep <held>` run."""
    pid = client.proc.pid
    args = codex_args("workspace-write", model="gpt-5.5")
    ids = [client.call_tool("codex", args) for _ in range(threads)]
    wait_until(
        lambda: len(model.requests) >= threads and len(sleeps_under(pid, held)) == CAP,
        60,
        f"every thread's round started, {CAP} commands running in calls",
    )
    return ids
