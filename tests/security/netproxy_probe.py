"""Plays the server for the network proxy's attack tests: a session's proxy, and commands run
the way the handlers run them (the session boundary with the proxy attached, then
`exec_command` through the process-session manager, i.e. `prepare_command` and the spawn
path), in the sandbox of a chosen backend.

    python netproxy_probe.py '<json spec>'      (as root, or as `tester` via runuser)

The spec: {"backend": "bwrap"|"landlock", "cwd": dir, "policy": {SandboxPolicy fields},
"settings": {ProxySettings fields}, "answers": ["approved" | "approved_for_session" |
"denied" | "none", ...] (one per question, in order; "none" never answers; past the end:
"denied"), "steps": [...], "hang": bool}.  Steps, in order:

* `{"exec": argv, "yield_ms": n}`: `exec_command` (a process still running keeps running);
* `{"close": true}`: close the proxy (what closing the thread does).

Prints one JSON object {"results", "questions", "reports", "usage", "pid"} once the steps are
done; with `hang` it then keeps running (its processes too) until it is killed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio

from codex_mcp.agent.exec.unified import ExecCommandRequest, UnifiedExecError, UnifiedExecManager
from codex_mcp.cli import harden_process
from codex_mcp.sandbox.boundary import compute_boundary
from codex_mcp.sandbox.netproxy import ProxySettings
from codex_mcp.sandbox.netproxy.service import Answer, ConnectionReport, NetworkProxy, Question
from codex_mcp.sandbox.policy import SandboxPolicy

FAKE_KEY = "sk-netproxy-probe-secret-0123456789"


def _policy(doc: dict[str, Any]) -> SandboxPolicy:
    fields = {f.name for f in dataclasses.fields(SandboxPolicy)}
    return SandboxPolicy(
        **{k: (tuple(v) if isinstance(v, list) else v) for k, v in doc.items() if k in fields}
    )


def _settings(doc: dict[str, Any]) -> ProxySettings:
    kwargs: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "hosts":
            kwargs[key] = tuple((name, tuple(v if isinstance(v, list) else [v])) for name, v in value.items())
        else:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return ProxySettings(**kwargs)


class Hooks:
    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.questions: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []

    async def ask(self, question: Question) -> Answer:
        self.questions.append(dataclasses.asdict(question))
        answer = self.answers.pop(0) if self.answers else "denied"
        if answer == "none":
            await anyio.sleep_forever()
        return Answer(answer, None if answer != "denied" else "denied by the test")  # type: ignore[arg-type]

    async def report(self, report: ConnectionReport, ended: bool) -> None:
        if ended:
            entry = dataclasses.asdict(report)
            entry.pop("started")
            self.reports.append(entry)


async def _run(spec: dict[str, Any]) -> None:
    hooks = Hooks(spec.get("answers", []))
    cwd = spec["cwd"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C.UTF-8", "HOME": cwd}
    results: list[dict[str, Any]] = []
    async with anyio.create_task_group() as tg:
        proxy = NetworkProxy(_settings(spec.get("settings", {})), hooks, tg, approval_timeout=30)
        manager = UnifiedExecManager()
        await manager.open(tg)
        boundary = dataclasses.replace(
            compute_boundary(_policy(spec["policy"]), cwd, env=env), network_proxy=proxy
        )
        for step in spec["steps"]:
            entry: dict[str, Any] = {"output": "", "exit_code": None, "session_id": None, "error": None,
                                     "warnings": []}  # fmt: skip
            if "exec" in step:
                request = ExecCommandRequest(
                    step["exec"], Path(cwd), env, yield_time_ms=step.get("yield_ms", 10_000)
                )
                try:
                    out = await manager.exec_command(request, boundary=boundary, backend=spec["backend"])
                    entry.update(output=out.output, exit_code=out.exit_code, session_id=out.session_id,
                                 warnings=list(out.warnings))  # fmt: skip
                except UnifiedExecError as exc:
                    entry["error"] = f"{type(exc).__name__}: {exc}"
            elif step.get("close"):
                proxy.close()
            results.append(entry)
        usage = [dataclasses.asdict(u) for u in proxy.take_usage()]
        doc = {"results": results, "questions": hooks.questions, "reports": hooks.reports, "usage": usage,
               "pid": os.getpid()}  # fmt: skip
        print(json.dumps(doc), flush=True)
        if spec.get("hang"):
            await anyio.sleep_forever()
        proxy.close()
        await manager.aclose()
        tg.cancel_scope.cancel()


def main() -> None:
    harden_process()
    anyio.run(_run, json.loads(sys.argv[1]))


if __name__ == "__main__":
    main()
