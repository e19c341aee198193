"""Support for the process-session attack tests: run `uexec_probe.py` as root or `tester`
on a chosen backend, and judge from outside (files, processes, the probe still running).

Built on `backends_support` (places under /var/tmp owned by the attacking user, `runuser`,
the runtime `tester` can import, finding `sleep` processes by their unique duration).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.security.backends_support import (
    SYSTEM_PYTHON,
    WW,
    Place,
    _probe_env,
    as_user,
)
from tests.security.tester_runtime import runtime_for
from tests.security.uexec_probe import FAKE_KEY

PROBE = Path(__file__).with_name("uexec_probe.py")


def exec_step(argv: Sequence[str], *, tty: bool = False, yield_ms: int = 1000) -> dict[str, Any]:
    return {"exec": list(argv), "tty": tty, "yield_ms": yield_ms}


def write_step(index: int, chars: str, yield_ms: int = 250) -> dict[str, Any]:
    return {"write": index, "chars": chars, "yield_ms": yield_ms}


def until_step(index: int, needle: str, within: float = 20.0) -> dict[str, Any]:
    return {"until": index, "needle": needle, "within": within}


def _argv(user: str, spec: dict[str, Any]) -> list[str]:
    python = sys.executable if user == "root" else SYSTEM_PYTHON
    probe = PROBE if user == "root" else runtime_for(user).root / "tests" / "security" / PROBE.name
    return as_user(user, [python, str(probe), json.dumps(spec)])


def _env(user: str) -> dict[str, str]:
    env = _probe_env(user)
    env["OPENAI_API_KEY"] = FAKE_KEY
    return env


def _spec(backend: str, where: Place, steps: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"backend": backend, "cwd": str(where.ws), "policy": kw.pop("policy", None) or WW,
                            "steps": steps}  # fmt: skip
    spec.update({k: v for k, v in kw.items() if v is not None})
    return spec


def drive(
    user: str, backend: str, where: Place, steps: list[dict[str, Any]], **kw: Any
) -> list[dict[str, Any]]:
    """Run the steps as `user` on `backend`; one result per step (the probe exits after)."""
    spec = _spec(backend, where, steps, **kw)
    proc = subprocess.run(
        _argv(user, spec), env=_env(user), cwd=str(where.base), capture_output=True, text=True, timeout=180,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, (
        f"probe failed ({proc.returncode}): {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    )
    results: list[dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


@contextlib.contextmanager
def hanging(
    user: str, backend: str, where: Place, steps: list[dict[str, Any]], **kw: Any
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Run the steps, then keep the probe (and its sessions) alive while the caller looks
    from outside; yields (the probe's own pid, the results).  The probe is killed with
    SIGKILL on the way out if it still runs."""
    spec = _spec(backend, where, steps, hang=True, **kw)
    proc = subprocess.Popen(
        _argv(user, spec), env=_env(user), cwd=str(where.base), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    pid: int | None = None
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(30)
            raise AssertionError(f"probe failed ({proc.returncode}): {proc.stderr.read()[-3000:]}")
        pid = proc.pid if user == "root" else _only_child(proc.pid)
        yield pid, json.loads(line)
    finally:
        for victim in (pid, proc.pid):
            if victim is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
        proc.wait(30)


def _only_child(pid: int) -> int:
    """The probe under `runuser` (which forks it)."""
    from codex_mcp.sandbox.procs import children_of

    kids = children_of(pid)
    assert len(kids) == 1, kids
    return kids[0]


def caps(pid: int) -> dict[str, int]:
    """The capability sets of `pid`, read from outside."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cap"):
            key, _, value = line.partition(":")
            out[key] = int(value.strip(), 16)
    return out
