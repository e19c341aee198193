"""`python -m bench`: run the scenarios, print the table, write the JSON results.

Repetitions alternate between our server and the reference (when `--reference` is given),
so drifting machine load hits both alike.  A failing scenario is recorded and the others
still run; the exit status is 1 when any scenario failed, 0 otherwise (targets missed
are reported, not fatal).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import BenchError, split_cmd
from bench.mock_model import MockModel
from bench.report import MIN_TABLE_RUNS, document, scenario_result, table, write_json
from bench.scenarios import SCENARIOS, Sample, SkipScenario, Target

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
QUICK_RUNS = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark codex-mcp-server (optionally side by side with a reference MCP server).",
    )
    parser.add_argument(
        "--server-cmd",
        default=None,
        help="command of the server under test (default: the venv's codex-mcp-server)",
    )
    parser.add_argument(
        "--reference", default=None, metavar="CMD", help="reference server command, e.g. 'codex mcp-server'"
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help=f"repetitions per scenario (default 10; the table wants >= {MIN_TABLE_RUNS})",
    )
    parser.add_argument(
        "--only",
        default=None,
        metavar="SCENARIO,...",
        help=f"scenarios to run (default all): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help="where to write the results (default bench/results/latest.json)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke test: {QUICK_RUNS} runs unless --runs is given"
    )
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = QUICK_RUNS if args.quick else 10
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    args.names = names
    return args


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BenchError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_scenario(name: str, targets: list[Target], runs: int) -> dict[str, Any]:
    scenario = SCENARIOS[name]
    if scenario.local:
        targets = [t for t in targets if t.label == "ours"]
    gens: dict[str, Iterator[Sample]] = {t.label: scenario.fn(t) for t in targets}
    samples: dict[str, dict[str, list[float]]] = {t.label: {} for t in targets}
    errors: dict[str, str] = {}
    skipped: str | None = None
    started = time.perf_counter()
    try:
        for i in range(runs):
            live = [label for label in gens if label not in errors]
            if not live or skipped:
                break
            for label in live:
                print(f"\r  {name}: run {i + 1}/{runs} ({label})   ", end="", file=sys.stderr, flush=True)
                try:
                    sample = next(gens[label])
                except SkipScenario as exc:
                    skipped = str(exc)
                    break
                except Exception as exc:
                    errors[label] = _describe(exc)
                    print(f"\n  {name} ({label}) failed: {errors[label]}", file=sys.stderr)
                    if not isinstance(exc, BenchError):
                        traceback.print_exc(file=sys.stderr)
                    continue
                for metric, value in sample.items():
                    samples[label].setdefault(metric, []).append(float(value))
    finally:
        for gen in gens.values():
            close = getattr(gen, "close", None)
            if close is not None:
                close()
    print(f"\r  {name}: done in {time.perf_counter() - started:.1f} s" + " " * 20, file=sys.stderr)
    return scenario_result(name, samples, errors, skipped)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server_cmd = split_cmd(args.server_cmd)
    reference_cmd = split_cmd(args.reference) if args.reference else None
    if args.runs < MIN_TABLE_RUNS:
        print(f"note: {args.runs} runs (< {MIN_TABLE_RUNS}): figures are indicative only", file=sys.stderr)
    results: dict[str, Any] = {}
    with MockModel() as mock:
        targets = [Target("ours", server_cmd, mock)]
        if reference_cmd:
            targets.append(Target("reference", reference_cmd, mock))
        print(
            f"mock model at {mock.base_url}; ours: {' '.join(server_cmd)}"
            + (f"; reference: {' '.join(reference_cmd)}" if reference_cmd else ""),
            file=sys.stderr,
        )
        try:
            for name in args.names:
                results[name] = run_scenario(name, targets, args.runs)
        except KeyboardInterrupt:
            print("\ninterrupted: writing what was measured so far", file=sys.stderr)
    doc = document(results, server_cmd, reference_cmd, args.runs)
    write_json(doc, args.json)
    print(table(doc))
    print(f"\nresults: {args.json}", file=sys.stderr)
    return 1 if any(r["status"] == "error" for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
