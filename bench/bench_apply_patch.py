"""Benchmark: apply a 500-hunk patch to a 20,000-line file.

Run ``python -m bench.bench_apply_patch`` (target: median < 100 ms).  Each run parses
the patch, computes the change (including the unified diff) and writes the file
atomically, starting from a fresh copy of the original file.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from codex_mcp.agent.apply_patch import apply_patch_text

FILE_LINES = 20_000
HUNKS = 500
CONTEXT = 3


def build_case() -> tuple[str, str, str]:
    """(original text, patch text, expected result)."""
    lines = [f"    value_{i} = compute({i}, factor={i % 7})  # line {i}" for i in range(FILE_LINES)]
    expected = list(lines)
    body = ["*** Begin Patch", "*** Update File: big.py"]
    step = FILE_LINES // HUNKS
    for hunk in range(HUNKS):
        target = hunk * step + step // 2
        replacement = f"    value_{target} = compute({target}, factor=0)  # edited"
        expected[target] = replacement
        body.append("@@")
        body += [" " + line for line in lines[target - CONTEXT : target]]
        body.append("-" + lines[target])
        body.append("+" + replacement)
        body += [" " + line for line in lines[target + 1 : target + 1 + CONTEXT]]
    body.append("*** End Patch")
    return "\n".join(lines) + "\n", "\n".join(body) + "\n", "\n".join(expected) + "\n"


def run(n_runs: int = 10) -> dict[str, float]:
    """Time ``n_runs`` applications; returns median/min/max in milliseconds."""
    original, patch, expected = build_case()
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        target = root / "big.py"
        for _ in range(n_runs):
            target.write_text(original)
            started = time.perf_counter()
            apply_patch_text(patch, root)
            timings.append((time.perf_counter() - started) * 1000)
            if target.read_text() != expected:
                raise AssertionError("benchmark patch produced an unexpected result")
    return {
        "median_ms": statistics.median(timings),
        "min_ms": min(timings),
        "max_ms": max(timings),
        "runs": float(n_runs),
    }


if __name__ == "__main__":
    result = run()
    print(
        f"apply_patch: {HUNKS} hunks on {FILE_LINES} lines: median {result['median_ms']:.1f} ms "
        f"(min {result['min_ms']:.1f}, max {result['max_ms']:.1f}, {int(result['runs'])} runs)"
    )
