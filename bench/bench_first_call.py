"""What the first call's path costs, phase by phase, each in a fresh interpreter.

The phases follow the order the server meets them; a module shared by two phases is counted
in the first.  The probe starts as the server does (the dataclass method cache installed,
no garbage collection).  `start_path` is paid before the handshake is answered (in the
handshake child under the split start); the call path phases after it are what a first
call imports (the warm-up does it while the client is idle), `tls_context` is what the
worker thread builds mostly without the GIL, and `tool_path` what the first tool call adds
(the handlers, the exec machinery, the sandbox backends, the patch engine).  `interpreter`
is `python -c pass`, spawn to exit.
`python -m bench.bench_first_call` prints medians as JSON.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""As an installed package runs: with its bytecode cached (see `harness.Home.env`)."""

PROBE = r"""
import json, os, sys, time
clock = time.perf_counter
out = {}
t = clock()
from codex_mcp import dataclass_cache
dataclass_cache.install()  # as `cli.main` does first
from codex_mcp.prewarm import hold_gc
hold_gc()
from codex_mcp.cli import Options, codex_home, skip_httpx_command_line, start_checks
from codex_mcp.handshake import run_handshake
skip_httpx_command_line()
home = codex_home(os.environ)
start_checks(Options(), os.environ, home, __import__("pathlib").Path.cwd(), lambda text: None)
out["start_path"] = clock() - t
phases = [
    ("event_loop", ["asyncio", "anyio", "anyio._backends._asyncio"]),
    ("http_client", ["codex_mcp.agent.model.transport.direct"]),
    ("agent_core", ["codex_mcp.agent.codex", "codex_mcp.agent.history", "codex_mcp.agent.instructions",
                    "codex_mcp.agent.model.client", "codex_mcp.agent.model.auth"]),
    ("agent_turn", ["codex_mcp.agent.thread", "codex_mcp.agent.turn", "codex_mcp.agent.handlers.registry"]),
    ("server_and_mcp_tools", ["codex_mcp.server", "codex_mcp.outgoing", "codex_mcp.stdio",
                              "codex_mcp.tools.calls", "codex_mcp.tools.call_args", "codex_mcp.tools.drive",
                              "codex_mcp.tools.relay", "codex_mcp.tools.elicitation"]),
]
import importlib
for name, modules in phases:
    t = clock()
    for module in modules:
        importlib.import_module(module)
    out[name] = clock() - t
from codex_mcp import prewarm
t = clock()
for module in prewarm.CALL_PATH_MODULES:
    importlib.import_module(module)
out["call_path_rest"] = clock() - t
from codex_mcp import tls
t = clock()
tls.default_ssl_context()
out["tls_context"] = clock() - t
t = clock()
for module in prewarm.TOOL_PATH_MODULES:
    importlib.import_module(module)
out["tool_path"] = clock() - t
print(json.dumps({k: v * 1000 for k, v in out.items()}))
"""
CALL_PATH_PHASES = (
    "event_loop",
    "http_client",
    "agent_core",
    "agent_turn",
    "server_and_mcp_tools",
    "call_path_rest",
)
"""What a first call that runs no tool imports after the handshake (in the server's own thread;
the TLS context is built in another, mostly without the GIL)."""


def _interpreter_ms() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, cwd=ROOT, env=ENV)
    return (time.perf_counter() - started) * 1000


def _probe() -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=ENV,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"the phase probe failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}{proc.stdout[-500:]}"
        )
    phases: dict[str, float] = json.loads(proc.stdout)
    return phases


def run(rounds: int = 5) -> dict[str, float]:
    """Median milliseconds per phase over `rounds` fresh interpreters, plus the sum of the
    call path's (`call_path_total`: what a one-process server's first call pays for imports
    after the handshake; a tool's first call adds `tool_path`)."""
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        samples.setdefault("interpreter", []).append(_interpreter_ms())
        phases = _probe()
        for name, value in phases.items():
            samples.setdefault(name, []).append(value)
        samples.setdefault("call_path_total", []).append(sum(phases[k] for k in CALL_PATH_PHASES))
    return {name: statistics.median(values) for name, values in samples.items()}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
