"""Cost of starting a command under each sandbox backend: median ms per `/bin/true`.

    python bench/bench_sandbox.py

`run()` returns {"none": ms, "bwrap": ms | None, "landlock": ms | None} (None = backend
unavailable here) plus the probe details; the probe itself is done before timing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from codex_mcp.sandbox.boundary import compute_boundary
from codex_mcp.sandbox.policy import SandboxPolicy
from codex_mcp.sandbox.select import SandboxUnavailableError, prepare_command, probe_backends

TRUE = "/bin/true" if os.path.exists("/bin/true") else "/usr/bin/true"


def _time_backend(backend: str, policy: SandboxPolicy, cwd: str, n_runs: int) -> float | None:
    samples: list[float] = []
    for _ in range(n_runs):
        start = time.perf_counter()
        try:
            boundary = compute_boundary(policy, cwd)
            prepared = prepare_command([TRUE], boundary, cwd, dict(os.environ), backend=backend)  # type: ignore[arg-type]
        except SandboxUnavailableError:
            return None
        try:
            proc = subprocess.run(
                prepared.argv, env=prepared.env, cwd=prepared.cwd, pass_fds=prepared.pass_fds,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
            )  # fmt: skip
        finally:
            prepared.close()
        samples.append((time.perf_counter() - start) * 1000)
        if proc.returncode != 0:
            raise RuntimeError(f"{backend}: /bin/true exited {proc.returncode}")
    return round(statistics.median(samples), 2)


def run(n_runs: int = 20) -> dict[str, object]:
    report = probe_backends()
    policy = SandboxPolicy("workspace-write")
    with tempfile.TemporaryDirectory() as cwd:
        results: dict[str, object] = {
            "none": _time_backend("none", policy, cwd, n_runs),
            "bwrap": _time_backend("bwrap", policy, cwd, n_runs),
            "landlock": _time_backend("landlock", policy, cwd, n_runs),
        }
    results["n_runs"] = n_runs
    results["probe"] = report.details
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
