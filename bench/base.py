"""What every scenario module shares: targets, metric and scenario descriptions, summaries.

A scenario is a generator function taking a `Target` (the server command, the shared mock
model) and yielding one sample -- `{metric: value}` -- per repetition.  Its setup runs
before the first sample and its teardown in `finally`, so the runner can alternate between
our server and the reference repetition by repetition.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench.harness import Home, ready
from bench.mock_model import MockModel

Sample = dict[str, float]
ScenarioFn = Callable[["Target"], Iterator[Sample]]
CALL_TIMEOUT = 60.0
BIG_TIMEOUT = 300.0


@dataclass
class Target:
    label: str  # "ours" | "reference"
    cmd: list[str]
    mock: MockModel

    def home(self, scenario: str, sandbox_mode: str = "danger-full-access") -> Home:
        return Home(self.mock.base_url, f"{scenario}-{self.label}", sandbox_mode)


@dataclass(frozen=True)
class Metric:
    unit: str
    target: tuple[str, float] | None = None  # ("<=", 1.5), (">=", 5700), ...
    spec: str | None = None  # the original's published figure, for the table
    lower_is_better: bool = True


@dataclass(frozen=True)
class Scenario:
    name: str
    fn: ScenarioFn
    metrics: dict[str, Metric]
    local: bool = False  # in-process script: no reference run
    description: str = ""


class SkipScenario(Exception):
    """The scenario cannot run here (e.g. its script is not written yet)."""


def ms(seconds: float) -> float:
    return seconds * 1000.0


def warm_home(target: Target, scenario: str, sandbox_mode: str = "danger-full-access") -> Home:
    """A CODEX_HOME that has already seen one session (the 'used' home of section 12)."""
    home = target.home(scenario, sandbox_mode)
    try:
        with ready(target.cmd, home) as server:
            server.codex("[bench:instant] warm-up session", CALL_TIMEOUT)
    except BaseException:
        home.cleanup()
        raise
    return home


def summarize(samples: list[float]) -> dict[str, Any]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
        "samples": [round(x, 4) for x in samples],
    }


def meets(target: tuple[str, float] | None, value: float | None) -> bool | None:
    if target is None or value is None:
        return None
    op, limit = target
    return {"<=": value <= limit, "<": value < limit, ">=": value >= limit, ">": value > limit}[op]
