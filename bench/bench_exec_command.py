"""Per-step cost of one `exec_command`, without a sandbox and in each sandbox backend.

    python -m bench.bench_exec_command [n_runs]

Each backend runs in a fresh interpreter (the backend forced with
`CODEX_MCP_SANDBOX_BACKEND`; "none" is danger-full-access), with a real config, a
`HandlerContext` of plain callables and the thread's process sessions, timing `/bin/true`
(`cmd: "true"`) step by step, medians over `n_runs` after two warm-up calls:

* `gate_ms`: `clear_command`: the boundary, the environment policy, the rules files, the
  safety check (what every shell tool pays before anything runs);
* `spawn_ms`: `start_process`: the sandbox prepared and the start handed over (to a keeper
  of the fork server, which forks on its own, or bwrap started);
* `exec_command_ms`: the manager's whole `exec_command` (start, wait for the exit, collect,
  frame the answer, the begin/end events), the process reaped;
* `handler_ms`: the whole tool call as the turn runs it (arguments, gate, the call above);
* `login_handler_ms`: the same call with the default login shell (`bash -lc`): the
  difference is what the machine's profile scripts cost, not ours;
* `bare_ms`: `bash -c true` started and reaped directly (`anyio.run_process`), no sandbox,
  no session: what the command itself costs.

All but the last run `bash -c true` (`login: false`).

`run()` returns {"none": {...}, "bwrap": {...}, "landlock": {...}, "n_runs": n}; a backend
not available here is None.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("none", "bwrap", "landlock")

_CHILD = r"""
import json, os, statistics, sys, tempfile, time
from pathlib import Path
import anyio
from codex_mcp.agent.approvals import Decision, SessionGrants
from codex_mcp.agent.config import CallOverrides, load_config
from codex_mcp.agent.exec.events import ExecEvents
from codex_mcp.agent.exec.process import start_process
from codex_mcp.agent.exec.sessions_host import ThreadSessions
from codex_mcp.agent.exec.unified import ExecCommandRequest
from codex_mcp.agent.exec.unified_api import unified_exec_env
from codex_mcp.agent.exec.unified_args import shell_command_argv
from codex_mcp.agent.handlers.command_gate import Cleared, clear_command
from codex_mcp.agent.handlers.context import HandlerContext, TurnChanges
from codex_mcp.agent.handlers.exec_command import handle_exec_command

BACKEND, N = sys.argv[1], int(sys.argv[2])

async def emit(msg):
    pass

async def ask(msg):
    return Decision("denied")

def ms(start):
    return (time.perf_counter() - start) * 1000

async def main():
    base = Path(tempfile.mkdtemp(prefix="bench-exec-command-"))
    work = base / "work"
    work.mkdir()
    (base / "home").mkdir()
    sandbox = "danger-full-access" if BACKEND == "none" else "workspace-write"
    typed = CallOverrides(sandbox_mode=sandbox, approval_policy="never")
    config = load_config(base / "home", cwd=work, typed=typed, env=dict(os.environ))
    argv = shell_command_argv("true", login=False)
    steps = {"gate_ms": [], "spawn_ms": [], "exec_command_ms": [], "handler_ms": [], "login_handler_ms": [],
             "bare_ms": []}
    async with anyio.create_task_group() as tg:
        sessions = ThreadSessions(tg, max_lifetime_s=600)
        ctx = HandlerContext(turn_id="t", config=config, emit=emit, ask_approval=ask,
                             grants=SessionGrants.empty(), changes=TurnChanges(work), sessions=sessions)
        manager = await sessions.manager()
        for i in range(N + 2):
            start = time.perf_counter()
            cleared = await clear_command(ctx, "c", argv, work, escalated=False, justification=None)
            gate = ms(start)
            assert isinstance(cleared, Cleared), cleared
            boundary = cleared.boundary if cleared.sandboxed else None
            start = time.perf_counter()
            started = await start_process(argv, work, unified_exec_env(cleared.env), tty=False,
                                          boundary=boundary)
            spawn = ms(start)
            await started.handle.wait()
            await started.handle.teardown()
            started.close()
            start = time.perf_counter()
            out = await manager.exec_command(ExecCommandRequest(argv, work, cleared.env), boundary=boundary,
                                             events=ExecEvents("c", "t", emit))
            whole = ms(start)
            assert out.exit_code == 0, out.text
            start = time.perf_counter()
            text = await handle_exec_command(ctx, "c", {"cmd": "true", "login": False})
            handler = ms(start)
            assert "Process exited with code 0" in text, text
            start = time.perf_counter()
            text = await handle_exec_command(ctx, "c", {"cmd": "true"})
            login = ms(start)
            assert "Process exited with code 0" in text, text
            start = time.perf_counter()
            await anyio.run_process(argv)
            bare = ms(start)
            if i >= 2:
                for key, value in zip(steps, (gate, spawn, whole, handler, login, bare)):
                    steps[key].append(value)
        await sessions.aclose()
    return {k: round(statistics.median(v), 2) for k, v in steps.items()}

print(json.dumps(anyio.run(main)))
"""


def _child(backend: str, n_runs: int) -> dict[str, Any] | None:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if backend != "none":
        env["CODEX_MCP_SANDBOX_BACKEND"] = backend
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, backend, str(n_runs)], cwd=REPO, env=env, capture_output=True,
        text=True, check=False, timeout=600,
    )  # fmt: skip
    if proc.returncode != 0:
        if "Refused(" in proc.stderr and "sandbox unavailable" in proc.stderr:
            return None
        raise RuntimeError(f"bench_exec_command ({backend}) failed: {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(n_runs: int = 20) -> dict[str, Any]:
    out: dict[str, Any] = {"n_runs": n_runs}
    for backend in BACKENDS:
        out[backend] = _child(backend, n_runs)
    return out


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20), indent=2))
