"""Turning collected samples into the results document, the printed table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from bench.scenarios import SCENARIOS, meets, summarize

MIN_TABLE_RUNS = 10


def scenario_result(
    name: str,
    samples: dict[str, dict[str, list[float]]],
    errors: dict[str, str],
    skipped: str | None = None,
) -> dict[str, Any]:
    """`samples[label][metric]` -> the JSON entry of one scenario."""
    scenario = SCENARIOS[name]
    out: dict[str, Any] = {
        "description": scenario.description,
        "local": scenario.local,
        "status": "skipped" if skipped else ("error" if errors else "ok"),
        "metrics": {},
    }
    if skipped:
        out["reason"] = skipped
    if errors:
        out["errors"] = errors
    for metric, spec in scenario.metrics.items():
        ours = samples.get("ours", {}).get(metric)
        ref = samples.get("reference", {}).get(metric)
        if not ours and not ref:
            continue
        entry: dict[str, Any] = {
            "unit": spec.unit,
            "target": f"{spec.target[0]} {spec.target[1]:g}" if spec.target else None,
            "spec_reference": spec.spec,
            "ours": summarize(ours) if ours else None,
            "reference": summarize(ref) if ref else None,
        }
        ours_med = entry["ours"]["median"] if ours else None
        ref_med = entry["reference"]["median"] if ref else None
        entry["ratio"] = ours_med / ref_med if ours_med is not None and ref_med else None
        entry["pass"] = meets(spec.target, ours_med)
        out["metrics"][metric] = entry
    return out


def document(
    scenarios: dict[str, Any], server_cmd: list[str], reference_cmd: list[str] | None, runs: int
) -> dict[str, Any]:
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg": list(os.getloadavg()),
        },
        "server_cmd": server_cmd,
        "reference_cmd": reference_cmd,
        "runs": runs,
        "indicative_only": runs < MIN_TABLE_RUNS,
        "scenarios": scenarios,
    }


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def _num(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _cell(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    return f"{_num(summary['median'])} [{_num(summary['min'])}-{_num(summary['max'])}]"


def table(doc: dict[str, Any]) -> str:
    header = [
        "scenario",
        "metric",
        "ours median [min-max]",
        "reference median [min-max]",
        "ratio",
        "target",
        "pass",
    ]
    rows: list[list[str]] = []
    for name, result in doc["scenarios"].items():
        if result["status"] == "skipped":
            rows.append([name, "(skipped)", result.get("reason", ""), "", "", "", ""])
            continue
        for metric, m in result["metrics"].items():
            unit = f" ({m['unit']})" if m["unit"] else ""
            if m["reference"]:
                ref = _cell(m["reference"])
            elif result["local"]:
                ref = "n/a"
            else:
                ref = f"spec: {m['spec_reference']}" if m["spec_reference"] else "-"
            ratio = f"{m['ratio']:.2f}x" if m["ratio"] is not None else ""
            verdict = {True: "PASS", False: "FAIL", None: ""}[m["pass"]]
            rows.append([name, metric + unit, _cell(m["ours"]), ref, ratio, m["target"] or "", verdict])
        for label, err in (result.get("errors") or {}).items():
            rows.append([name, f"ERROR ({label})", err.splitlines()[0][:90] if err else "", "", "", "", ""])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    previous = ""
    for row in rows:
        shown = [("" if row[0] == previous else row[0]), *row[1:]]
        previous = row[0]
        lines.append("  ".join(c.ljust(w) for c, w in zip(shown, widths, strict=True)).rstrip())
    return "\n".join(lines)
