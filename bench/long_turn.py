"""A long turn: 30 steps of a trivial shell command with an instant model, side by side.

Each repetition starts a server and runs, on one thread each: a warm-up call, an instant call
(the baseline: what a call costs without steps), then two 30-step turns -- `echo bench` (a
command known to be safe) and `touch bench-step.txt` (a write, which no server lets run
outside the sandbox unasked).  The time per step is (turn - baseline) / 30: the model request
and answer, the command's start in its sandbox, its events and its output in the history.

Two configurations: `danger-full-access` (no sandbox) and `workspace-write` (the platform
sandbox).  Ours is also run with each Linux backend forced (`CODEX_MCP_SANDBOX_BACKEND`),
which gives the per-backend cost of a step.  Every command must end with exit code 0 and
every turn must run exactly 30 of them, or the run fails.
"""

from __future__ import annotations

from collections.abc import Iterator

from bench.base import CALL_TIMEOUT, Metric, Sample, Scenario, Target, ms, warm_home
from bench.harness import BenchError, CallState, Home, Server, ready

STEPS = 30
COMMANDS = ("echo", "touch")
BACKEND_ENV = "CODEX_MCP_SANDBOX_BACKEND"
TURN_TIMEOUT = 120.0


def _span(state: CallState) -> float:
    return state.answered_at - state.sent_at


def _long_turn(server: Server, command: str) -> CallState:
    state = server.codex(f"[bench:steps={STEPS}] [bench:cmd={command}] a long turn", TURN_TIMEOUT)
    if state.commands_ended != STEPS or state.commands_failed:
        raise BenchError(
            f"{command}: {state.commands_ended} commands ended ({state.commands_failed} failed), "
            f"expected {STEPS} successful ones; last failure: {state.last_failure}"
        )
    return state


def _per_step(target: Target, home: Home) -> dict[str, float]:
    with ready(target.cmd, home) as server:
        server.codex("[bench:instant] warm-up", CALL_TIMEOUT)
        baseline = _span(server.codex("[bench:instant] baseline", CALL_TIMEOUT))
        turns = {command: _span(_long_turn(server, command)) for command in COMMANDS}
    out = {f"{command}_per_step_ms": ms((span - baseline) / STEPS) for command, span in turns.items()}
    out["baseline_call_ms"] = ms(baseline)
    return out


def _scenario(target: Target, sandbox_mode: str, backends: tuple[str, ...]) -> Iterator[Sample]:
    home = warm_home(target, f"long_turn_{sandbox_mode}", sandbox_mode)
    try:
        while True:
            home.extra_env = {}
            sample = _per_step(target, home)
            if target.label == "ours":
                for backend in backends:
                    home.extra_env = {BACKEND_ENV: backend}
                    forced = _per_step(target, home)
                    sample.update(
                        {f"{backend}_{k}": v for k, v in forced.items() if k.endswith("_per_step_ms")}
                    )
            yield sample
    finally:
        home.cleanup()


def long_turn_none(target: Target) -> Iterator[Sample]:
    return _scenario(target, "danger-full-access", ())


def long_turn_workspace_write(target: Target) -> Iterator[Sample]:
    return _scenario(target, "workspace-write", ("bwrap", "landlock"))


def _metrics(backends: tuple[str, ...]) -> dict[str, Metric]:
    metrics = {f"{c}_per_step_ms": Metric("ms") for c in COMMANDS}
    metrics["baseline_call_ms"] = Metric("ms")
    for backend in backends:
        metrics.update({f"{backend}_{c}_per_step_ms": Metric("ms") for c in COMMANDS})
    return metrics


SCENARIOS = [
    Scenario(
        "long_turn_none",
        long_turn_none,
        _metrics(()),
        description=f"{STEPS}-step turn of trivial shell commands, instant model, no sandbox",
    ),
    Scenario(
        "long_turn_workspace_write",
        long_turn_workspace_write,
        _metrics(("bwrap", "landlock")),
        description=f"{STEPS}-step turn of trivial shell commands, instant model, workspace-write",
    ),
]
