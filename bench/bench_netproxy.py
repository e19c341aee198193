"""Benchmark: the network proxy, from a sandboxed command to a local origin.

    python -m bench.bench_netproxy [n_runs]

Measured on the default backend (bwrap where available), the proxy in allow-list mode (no
question is asked), the origin a local HTTP server sending zeros:

* `first_byte_ms`: a fresh command's first request, `curl`'s time to the first byte of the
  answer (connect to the bridge, hand-over to the server, policy, connect out, origin);
  `direct_first_byte_ms`: the same request by an unsandboxed `curl`, without the proxy;
* `mib_per_s`: one 256 MiB download through the proxy (curl's average speed);
  `direct_mib_per_s`: the same download without the proxy;
* `bridge_ms`: the cost the bridge adds to starting a command (`/bin/true` proxied minus
  `/bin/true` in the same sandbox without the proxy).

Medians over `n_runs`; `run()` returns the figures as a dict.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from codex_mcp.agent.exec import ExecParams, run_exec
from codex_mcp.sandbox.boundary import compute_boundary
from codex_mcp.sandbox.netproxy import ProxySettings
from codex_mcp.sandbox.netproxy.service import Answer, ConnectionReport, NetworkProxy, Question
from codex_mcp.sandbox.policy import SandboxPolicy
from codex_mcp.sandbox.select import prepare_command

ORIGIN = "127.0.0.2"
SIZE = 256 * 1024 * 1024
BLOCK = b"\0" * (1024 * 1024)


class _Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        size = SIZE if self.path == "/big" else 16
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if size == 16:
            self.wfile.write(b"x" * 16)
            return
        for _ in range(size // len(BLOCK)):
            self.wfile.write(BLOCK)


class _Hooks:
    async def ask(self, question: Question) -> Answer:
        return Answer("denied", "the benchmark asks nobody")

    async def report(self, report: ConnectionReport, ended: bool) -> None:
        pass


CURL = "curl -sS -o /dev/null -w '%{time_starttransfer} %{speed_download}\\n' "


async def _command(boundary: Any, cwd: str, script: str) -> tuple[str, float]:
    start = time.perf_counter()
    prepared = prepare_command(["/bin/sh", "-c", script], boundary, cwd, {"PATH": "/usr/bin:/bin"})
    try:
        out = await run_exec(ExecParams(prepared.argv, Path(cwd), prepared.env, 120_000, prepared.pass_fds))
        prepared.read_status()
    finally:
        prepared.close()
    if out.exit_code != 0:
        raise RuntimeError(f"{script!r} exited {out.exit_code}: {out.stderr}")
    return out.stdout, (time.perf_counter() - start) * 1000


def _curl_figures(line: str) -> tuple[float, float]:
    first, speed = line.split()
    return float(first) * 1000, float(speed) / (1024 * 1024)


async def _measure(n_runs: int, port: int, cwd: str) -> dict[str, Any]:
    settings = ProxySettings(mode="allow-list", allow=(ORIGIN,), allow_local=(ORIGIN,))
    plain = compute_boundary(SandboxPolicy("workspace-write"), cwd)
    async with anyio.create_task_group() as tg:
        proxy = NetworkProxy(settings, _Hooks(), tg, approval_timeout=10)
        proxied = dataclasses.replace(plain, network_proxy=proxy)
        first, speed, bridge = [], [], []
        for _ in range(n_runs):
            out, _ms = await _command(proxied, cwd, CURL + f"http://{ORIGIN}:{port}/small")
            first.append(_curl_figures(out)[0])
            out, _ms = await _command(proxied, cwd, CURL + f"http://{ORIGIN}:{port}/big")
            speed.append(_curl_figures(out)[1])
            _out, with_bridge = await _command(proxied, cwd, "/bin/true")
            _out, without = await _command(plain, cwd, "/bin/true")
            bridge.append(with_bridge - without)
        proxy.close()
        tg.cancel_scope.cancel()
    return {
        "first_byte_ms": statistics.median(first),
        "mib_per_s": statistics.median(speed),
        "bridge_ms": statistics.median(bridge),
        "n_runs": n_runs,
    }


def _direct(n_runs: int, port: int) -> dict[str, float]:
    """The same requests by an unsandboxed curl, without the proxy (for reference)."""
    first, speed = [], []
    for _ in range(n_runs):
        for path, into in (("small", first), ("big", speed)):
            line = subprocess.run(
                ["sh", "-c", CURL + f"--noproxy '*' http://{ORIGIN}:{port}/{path}"],
                capture_output=True, text=True, check=True, timeout=120,
            ).stdout  # fmt: skip
            figures = _curl_figures(line)
            into.append(figures[0] if path == "small" else figures[1])
    return {"direct_first_byte_ms": statistics.median(first), "direct_mib_per_s": statistics.median(speed)}


def run(n_runs: int = 5) -> dict[str, Any]:
    server = http.server.ThreadingHTTPServer((ORIGIN, 0), _Origin)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-netproxy-") as cwd:
            port = server.server_address[1]
            result: dict[str, Any] = anyio.run(_measure, n_runs, port, cwd)
            result.update(_direct(n_runs, port))
            return result
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 5), indent=2))
