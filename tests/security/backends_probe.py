"""Plays the server for the backend attack tests: run commands the way the shell tool does.

    python backends_probe.py '<json spec>'      (as root, or as `tester` via runuser)

The spec: {"backend": "bwrap"|"landlock"|"none", "cwd": dir, "policy": {SandboxPolicy fields},
"isolation": optional override of the probed Landlock isolation, "commands": [[argv], ...],
"timeout_ms": n, "codex_home": optional dir}.  Each command goes through `compute_boundary`
-> `prepare_command` -> `run_exec`, exactly like `agent/handlers/shell.py`.  `{server_pid}` in an
argument is replaced by this process's pid; this process is started with a fake
OPENAI_API_KEY in its environment (`FAKE_KEY`) and hardens itself like the server's `main()`,
so it stands in for the server as the attacks' victim.  Prints one JSON list of
{"exit_code", "stdout", "stderr", "backend", "kind", "error"} on stdout.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio

from codex_mcp.agent.exec import ExecParams, run_exec
from codex_mcp.cli import harden_process
from codex_mcp.sandbox import select
from codex_mcp.sandbox.boundary import compute_boundary
from codex_mcp.sandbox.classify import classify_result
from codex_mcp.sandbox.policy import SandboxPolicy
from codex_mcp.sandbox.select import SandboxUnavailableError, prepare_command

FAKE_KEY = "sk-backends-probe-secret-0123456789"


def _policy(doc: dict[str, Any]) -> SandboxPolicy:
    fields = {f.name for f in dataclasses.fields(SandboxPolicy)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in doc.items() if k in fields}
    return SandboxPolicy(**kwargs)


async def _run(spec: dict[str, Any]) -> list[dict[str, Any]]:
    backend = spec["backend"]
    cwd = spec["cwd"]
    policy = _policy(spec["policy"])
    if spec.get("isolation"):
        report = select.probe_backends()
        select._probe_cache[None] = dataclasses.replace(report, isolation=spec["isolation"])
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C.UTF-8", "HOME": cwd}
    results: list[dict[str, Any]] = []
    for argv in spec["commands"]:
        argv = [a.replace("{server_pid}", str(os.getpid())) for a in argv]
        entry: dict[str, Any] = {"backend": backend, "error": None}
        try:
            boundary = compute_boundary(policy, cwd, env=env, codex_home=spec.get("codex_home"))
            prepared = prepare_command(argv, boundary, cwd, env, backend=backend)
        except (SandboxUnavailableError, ValueError) as exc:
            entry.update(exit_code=None, stdout="", stderr="", kind="refused", error=str(exc))
            results.append(entry)
            continue
        try:
            out = await run_exec(
                ExecParams(
                    prepared.argv, Path(cwd), prepared.env, spec.get("timeout_ms", 20_000), prepared.pass_fds
                )
            )
            status = prepared.read_status()
        finally:
            prepared.close()
        kind = classify_result(
            prepared.backend, out.exit_code, out.stderr, stdout=out.stdout, policy=policy, bwrap_status=status
        )
        entry.update(exit_code=out.exit_code, stdout=out.stdout, stderr=out.stderr, kind=kind)
        results.append(entry)
    return results


def main() -> None:
    harden_process()
    spec = json.loads(sys.argv[1])
    print(json.dumps(anyio.run(_run, spec)))


if __name__ == "__main__":
    main()
