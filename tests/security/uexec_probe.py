"""Plays the server for the process-session attack tests: drive sessions the way the
`exec_command` / `write_stdin` handlers do, in the sandbox of a chosen backend.

    python uexec_probe.py '<json spec>'      (as root, or as `tester` via runuser)

The spec: {"backend": "bwrap"|"landlock", "cwd": dir, "policy": {SandboxPolicy fields},
"isolation": optional override of the probed Landlock isolation, "max_lifetime_s": optional,
"steps": [...], "hang": bool}.  Steps, run in order:

* `{"exec": argv, "tty": bool, "yield_ms": n}`: `exec_command` inside the boundary computed
  from the policy and `cwd` (what the handler does);
* `{"write": i, "chars": s, "yield_ms": n}`: `write_stdin` to the session step `i` started;
* `{"until": i, "needle": s, "within": seconds}`: poll that session until `needle` shows up
  (in what the previous step got from it, or in what the polls get; the result holds the
  latter);
* `{"close": true}`: close the manager (every session ends);
* `{"forkserver": true}`: the pid of the fork server now (None if it is not running).

`{server_pid}` in an argument or in `chars` is replaced by this process's pid, which holds
a fake API key in its environment and hardens itself like the server.  Prints one JSON
list with a result per step ({"output", "exit_code", "session_id", "error"}); with `hang`
it then keeps the sessions open until it is killed (after printing).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from codex_mcp import signals
from codex_mcp.agent.exec.unified import (
    ExecCommandRequest,
    UnifiedExecError,
    UnifiedExecManager,
)
from codex_mcp.cli import harden_process
from codex_mcp.sandbox import select
from codex_mcp.sandbox.boundary import compute_boundary
from codex_mcp.sandbox.policy import SandboxPolicy

FAKE_KEY = "sk-uexec-probe-secret-0123456789"


def _policy(doc: dict[str, Any]) -> SandboxPolicy:
    fields = {f.name for f in dataclasses.fields(SandboxPolicy)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in doc.items() if k in fields}
    return SandboxPolicy(**kwargs)


def _sub(text: str) -> str:
    return text.replace("{server_pid}", str(os.getpid()))


async def _step(
    manager: UnifiedExecManager, step: dict[str, Any], spec: dict[str, Any], results: list[Any]
) -> Any:
    cwd = spec["cwd"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C.UTF-8", "HOME": cwd}
    if "exec" in step:
        boundary = compute_boundary(_policy(spec["policy"]), cwd, env=env)
        request = ExecCommandRequest(
            [_sub(a) for a in step["exec"]], Path(cwd), env, tty=bool(step.get("tty")),
            yield_time_ms=step.get("yield_ms", 1000),
        )  # fmt: skip
        return await manager.exec_command(request, boundary=boundary, backend=spec["backend"])
    if "write" in step:
        session = results[step["write"]]["session_id"]
        return await manager.write_stdin(session, _sub(step.get("chars", "")), step.get("yield_ms", 250))
    if "until" in step:
        session = results[step["until"]]["session_id"]
        # What the previous call on this session returned counts too.
        seen = results[-1]["output"] if results and results[-1]["session_id"] == session else ""
        deadline = time.monotonic() + step.get("within", 20)
        out = None
        while step["needle"] not in seen and time.monotonic() < deadline:
            out = await manager.write_stdin(session, "", 250)
            seen += out.output
            if out.session_id is None:
                break
        if out is None:
            return {"output": "", "session_id": session}
        earlier = len(results[-1]["output"]) if results[-1]["session_id"] == session else 0
        return dataclasses.replace(out, output=seen[earlier:])
    if step.get("close"):
        await manager.aclose()
        return None
    if step.get("forkserver"):
        from codex_mcp.agent.exec import spawn

        proc = spawn._SERVER._proc
        return {"pid": proc.pid if proc is not None and proc.poll() is None else None}
    raise ValueError(f"unknown step {step}")


async def _run(spec: dict[str, Any]) -> None:
    if spec.get("isolation"):
        report = select.probe_backends()
        select._probe_cache[None] = dataclasses.replace(report, isolation=spec["isolation"])
    manager = UnifiedExecManager(max_lifetime_s=spec.get("max_lifetime_s", 3600.0))
    results: list[Any] = []
    async with anyio.create_task_group() as tg:
        await manager.open(tg)
        for step in spec["steps"]:
            entry: dict[str, Any] = {"output": "", "exit_code": None, "session_id": None, "error": None}
            try:
                out = await _step(manager, step, spec, results)
                if isinstance(out, dict):
                    entry.update(out)
                elif out is not None:
                    entry.update(output=out.output, exit_code=out.exit_code, session_id=out.session_id)
            except UnifiedExecError as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"
            results.append(entry)
        print(json.dumps(results), flush=True)
        if spec.get("hang"):
            await anyio.sleep_forever()
        await manager.aclose()


def main() -> None:
    harden_process()
    # Like the server at startup: its own handlers for the stop signals.  A command the
    # server execs then starts with SIGINT at its default even when whoever started the
    # tests ignores it (a run in the background of a non-interactive shell does), so Ctrl-C
    # typed into a session reaches the program in the foreground as it would under the server.
    signals.raise_on_stop_signals()
    anyio.run(_run, json.loads(sys.argv[1]))


if __name__ == "__main__":
    main()
