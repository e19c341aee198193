"""Smoke test of the benchmark runner: `python -m bench --quick` end to end (no timing asserts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_startup_and_one_turn(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "startup,one_turn",
            "--runs",
            "3",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["runs"] == 3
    assert set(doc["scenarios"]) == {"startup", "one_turn"}
    expected = {"startup": ["tools_list_ms", "initialize_ms"], "one_turn": ["first_call_ms", "warm_call_ms"]}
    for name, metrics in expected.items():
        scenario = doc["scenarios"][name]
        assert scenario["status"] == "ok", scenario
        for metric in metrics:
            ours = scenario["metrics"][metric]["ours"]
            assert ours["n"] == 3
            for key in ("median", "min", "max"):
                assert isinstance(ours[key], (int, float)) and ours[key] >= 0, (name, metric, ours)
    assert "startup" in proc.stdout and "tools_list_ms" in proc.stdout
