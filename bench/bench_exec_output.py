"""Benchmark: memory and time of `run_exec` on a command printing 200 MB.

A fresh Python process imports the runner, runs a command that writes 200 MiB to stdout
(in 1 KiB lines) with an `on_output` callback that base64-encodes each chunk (what the
exec_command_output_delta path does), and reports its own peak RSS (`ru_maxrss`; the
command itself is a separate process and is not counted) and the wall time.

Run: `python -m bench.bench_exec_output` (prints JSON). Target: peak RSS < 100 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

OUTPUT_MIB = 200

_CHILD = r"""
import base64, json, os, resource, sys, time
from pathlib import Path
import anyio
from codex_mcp.agent.exec import ExecParams, format_exec_output_for_model, run_exec

MIB = int(sys.argv[1])
WRITER = (
    "import sys\n"
    "w = sys.stdout.buffer.write\n"
    "line = b'x' * 1023 + b'\\n'\n"
    f"for _ in range({MIB} * 1024): w(line)\n"
)

async def main() -> dict:
    deltas = 0
    encoded = 0

    async def on_output(stream, chunk):
        nonlocal deltas, encoded
        deltas += 1
        encoded += len(base64.b64encode(chunk))

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = await run_exec(
        ExecParams(argv=[sys.executable, "-c", WRITER], cwd=Path.cwd(), env=dict(os.environ),
                   timeout_ms=600_000),
        on_output,
    )
    wall = time.perf_counter() - start
    payload = format_exec_output_for_model(out)
    return {
        "output_bytes": out.stdout_total_bytes,
        "exit_code": out.exit_code,
        "wall_s": round(wall, 3),
        "throughput_mib_s": round(out.stdout_total_bytes / 2**20 / wall, 1),
        "deltas_streamed": deltas,
        "retained_stdout_chars": len(out.stdout),
        "model_payload_bytes": len(payload.encode()),
        "rss_before_kib": rss_before,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }

print(json.dumps(anyio.run(main)))
"""


def run(output_mib: int = OUTPUT_MIB) -> dict[str, Any]:
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(output_mib)],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env=None,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = round(result["peak_rss_kib"] / 1024, 1)
    result["target_peak_rss_mb"] = 100
    result["ok"] = result["peak_rss_mb"] < 100 and result["output_bytes"] == output_mib * 2**20
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
