"""Cost of starting a command under each sandbox backend: median ms per `/bin/true`.

    python -m bench.bench_sandbox [n_runs]

Two paths are timed, both from `compute_boundary` to the reaped command:

* `run_exec`: what the shell tool does per command (`prepare_command` + `run_exec`, i.e. a
  keeper forked by the sandbox fork server; for Landlock the container is built there, no
  new interpreter).  This is the per-step cost that matters.
* `exec`: the prepared argv run directly with `subprocess` (bwrap, or the exec'd Landlock
  launcher with its interpreter start-up), for comparison with earlier measurements.

Each backend is timed in its own block of back-to-back runs (interleaving would make one
backend pay for the spare keeper the fork server forks after another backend's command);
the fork server start and the backend probes happen before timing.  `run()` returns
{"none": ms, "bwrap": ms, "landlock": ms (the `run_exec` medians), "exec": {backend: ms},
"n_runs": n, "probe": details}; None = backend unavailable here.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import anyio

from codex_mcp.agent.exec import ExecParams, run_exec
from codex_mcp.sandbox.boundary import compute_boundary
from codex_mcp.sandbox.policy import SandboxPolicy
from codex_mcp.sandbox.select import SandboxUnavailableError, prepare_command, probe_backends

TRUE = "/bin/true" if os.path.exists("/bin/true") else "/usr/bin/true"
BACKENDS = ("none", "bwrap", "landlock")


def _prepare(backend: str, cwd: str):  # type: ignore[no-untyped-def]
    boundary = compute_boundary(SandboxPolicy("workspace-write"), cwd)
    return prepare_command([TRUE], boundary, cwd, dict(os.environ), backend=backend)  # type: ignore[arg-type]


async def _via_run_exec(backend: str, cwd: str) -> float:
    start = time.perf_counter()
    prepared = _prepare(backend, cwd)
    try:
        out = await run_exec(ExecParams(prepared.argv, Path(cwd), prepared.env, None, prepared.pass_fds))
        prepared.read_status()
    finally:
        prepared.close()
    elapsed = (time.perf_counter() - start) * 1000
    if out.exit_code != 0:
        raise RuntimeError(f"{backend}: /bin/true exited {out.exit_code}: {out.stderr}")
    return elapsed


async def _via_exec(backend: str, cwd: str) -> float:
    start = time.perf_counter()
    prepared = _prepare(backend, cwd)
    try:
        proc = subprocess.run(  # noqa: ASYNC221 - timed alone, nothing else runs meanwhile
            prepared.argv, env=prepared.env, cwd=prepared.cwd, pass_fds=prepared.pass_fds,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip
    finally:
        prepared.close()
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{backend}: /bin/true exited {proc.returncode}")
    return elapsed


def _usable(cwd: str) -> list[str]:
    out = []
    for backend in BACKENDS:
        try:
            _prepare(backend, cwd).close()
            out.append(backend)
        except SandboxUnavailableError:
            pass
    return out


async def _measure(n_runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as cwd:
        usable = _usable(cwd)
        results: dict[str, object] = {}
        timers: dict[str, Callable[[str, str], object]] = {"run_exec": _via_run_exec, "exec": _via_exec}
        for path, timer in timers.items():
            samples: dict[str, list[float]] = {b: [] for b in usable}
            for backend in usable:
                await timer(backend, cwd)  # type: ignore[misc]  # warm-up: fork server, caches
                for _ in range(n_runs):
                    samples[backend].append(await timer(backend, cwd))  # type: ignore[misc]
            results[path] = {
                b: (round(statistics.median(samples[b]), 2) if b in samples else None) for b in BACKENDS
            }
    return results


def run(n_runs: int = 20) -> dict[str, object]:
    report = probe_backends()
    measured = anyio.run(_measure, n_runs)
    per_step = measured["run_exec"]
    assert isinstance(per_step, dict)
    return {**per_step, "exec": measured["exec"], "n_runs": n_runs, "probe": report.details}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20), indent=2))
