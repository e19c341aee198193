"""The benchmark scenarios.

A scenario is a generator function taking a `Target` (the server command, the shared mock
model) and yielding one sample -- `{metric: value}` -- per repetition.  Its setup runs
before the first sample and its teardown in `finally`, so the runner can alternate between
our server and the reference repetition by repetition.  A server is never left running
across a `yield`.  Local scenarios wrap the standalone in-process scripts of `bench/` and
only ever run for our code.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from typing import Any

from bench.base import (
    BIG_TIMEOUT,
    CALL_TIMEOUT,
    Metric,
    Sample,
    Scenario,
    ScenarioFn,
    SkipScenario,
    Target,
    meets,
    summarize,
)
from bench.base import ms as _ms
from bench.base import warm_home as _warm_home
from bench.first_call import SCENARIOS as first_call_scenarios
from bench.harness import BenchError, Server, check_call, ready
from bench.long_thread import SCENARIOS as long_thread_scenarios
from bench.long_turn import SCENARIOS as long_turn_scenarios
from bench.proxied_turn import SCENARIOS as proxied_turn_scenarios

__all__ = [
    "SCENARIOS",
    "Metric",
    "Sample",
    "Scenario",
    "ScenarioFn",
    "SkipScenario",
    "Target",
    "meets",
    "summarize",
]


# -- end-to-end scenarios ---------------------------------------------------------------


def startup(target: Target) -> Iterator[Sample]:
    home = _warm_home(target, "startup")
    try:
        while True:
            server = Server(target.cmd, home)
            try:
                server.initialize()
                init_done = time.perf_counter()
                server.tools_list()
                listed = time.perf_counter()
            finally:
                server.close()
            yield {
                "tools_list_ms": _ms(listed - server.spawned_at),
                "initialize_ms": _ms(init_done - server.spawned_at),
            }
    finally:
        home.cleanup()


def idle_rss(target: Target) -> Iterator[Sample]:
    home = _warm_home(target, "idle_rss")
    try:
        while True:
            with ready(target.cmd, home) as server:
                sample = {"vmhwm_mb": server.vmhwm_mb()}
            yield sample
    finally:
        home.cleanup()


IDLE_BEFORE_FIRST_CALL_S = 1.0


def one_turn(target: Target) -> Iterator[Sample]:
    home = _warm_home(target, "one_turn")
    try:
        while True:
            with ready(target.cmd, home) as server:
                first = server.codex("[bench:instant] first call", CALL_TIMEOUT)
                second = server.codex("[bench:instant] second call", CALL_TIMEOUT)
            with ready(target.cmd, home) as server:
                # A client's first prompt usually comes a while after it connected: model
                # that think time (this idle period is the scenario, not a synchronisation).
                time.sleep(IDLE_BEFORE_FIRST_CALL_S)
                after_idle = server.codex("[bench:instant] first call after idle", CALL_TIMEOUT)
            yield {
                "first_call_ms": _ms(first.answered_at - first.sent_at),
                "first_call_after_idle_ms": _ms(after_idle.answered_at - after_idle.sent_at),
                "warm_call_ms": _ms(second.answered_at - second.sent_at),
            }
    finally:
        home.cleanup()


def _concurrent(target: Target, n: int) -> Iterator[Sample]:
    home = _warm_home(target, f"concurrent_{n}")
    try:
        while True:
            with ready(target.cmd, home) as server:
                server.codex("[bench:instant] warm-up", CALL_TIMEOUT)
                single = server.codex("[bench:delay=0.2] single", CALL_TIMEOUT)
                single_s = single.answered_at - single.sent_at
                hwm_before = server.vmhwm_mb()
                target.mock.forget()
                states = [server.start_codex(f"[bench:delay=0.2] concurrent {i}") for i in range(n)]
                errors = 0
                for state in states:
                    try:
                        check_call(server.wait(state, CALL_TIMEOUT))
                    except BenchError:
                        errors += 1
                answered = [s.answered_at for s in states if s.answered_at]
                wall_s = (max(answered) if answered else time.perf_counter()) - states[0].sent_at
                hwm_after = server.vmhwm_mb()
                arrivals = sorted(target.mock.arrivals())[:n]
            yield {
                "wall_ms": _ms(wall_s),
                "dispatch_ms": _ms(arrivals[-1] - states[0].sent_at) if arrivals else float("nan"),
                "single_ms": _ms(single_s),
                "ratio_to_single": wall_s / single_s,
                "errors": float(errors),
                "rss_growth_per_session_mb": max(0.0, hwm_after - hwm_before) / n,
            }
    finally:
        home.cleanup()


def concurrent_20(target: Target) -> Iterator[Sample]:
    return _concurrent(target, 20)


def concurrent_50(target: Target) -> Iterator[Sample]:
    return _concurrent(target, 50)


def stream_throughput(target: Target) -> Iterator[Sample]:
    home = _warm_home(target, "stream_throughput")
    try:
        while True:
            with ready(target.cmd, home) as server:
                server.codex("[bench:instant] warm-up", CALL_TIMEOUT)
                hwm_before = server.vmhwm_mb()
                state = server.codex("[bench:stream=10000] stream", CALL_TIMEOUT)
                hwm_after = server.vmhwm_mb()
            if not state.deltas or not state.complete_at:
                raise BenchError(f"no deltas/task_complete seen ({state.events} events)")
            span = state.complete_at - state.first_delta_at
            events = state.events_at_complete - state.events_at_first_delta + 1
            yield {
                "events_per_s": events / span if span > 0 else float("inf"),
                "deltas_forwarded": float(state.deltas),
                "vmhwm_mb": hwm_after,
                "vmhwm_growth_mb": max(0.0, hwm_after - hwm_before),
            }
    finally:
        home.cleanup()


def big_output(target: Target) -> Iterator[Sample]:
    home = _warm_home(target, "big_output")
    try:
        while True:
            with ready(target.cmd, home) as server:
                state = server.codex("[bench:shell=big] print 200 MB", BIG_TIMEOUT)
                hwm = server.vmhwm_mb()
            yield {
                "wall_s": state.answered_at - state.sent_at,
                "vmhwm_mb": hwm,
                "events": float(state.events),
            }
    finally:
        home.cleanup()


# -- wrapped standalone scripts (in-process, ours only) --------------------------------


def shutdown(target: Target) -> Iterator[Sample]:
    """Signal -> exit: idle (after one call, so the event loop runs), and busy (a command
    running in a turn).  The reference is measured the same way."""
    import signal

    home = _warm_home(target, "shutdown")
    try:
        while True:
            sample: Sample = {}
            for name, signum in (("sigint", signal.SIGINT), ("sigterm", signal.SIGTERM)):
                with ready(target.cmd, home) as server:
                    server.codex("[bench:instant] before the signal", CALL_TIMEOUT)
                    sample[f"idle_{name}_ms"] = _ms(server.signal_and_time_exit(signum))
            started = home.workspace / "started"
            started.unlink(missing_ok=True)
            with ready(target.cmd, home) as server:
                server.start_codex("[bench:shell=sleep] a command that runs until stopped")
                deadline = time.monotonic() + CALL_TIMEOUT
                while not started.exists():  # the command's own file: outside our control
                    if time.monotonic() > deadline:
                        raise BenchError("the command never started")
                    time.sleep(0.005)
                sample["busy_sigint_ms"] = _ms(server.signal_and_time_exit(signal.SIGINT))
            yield sample
    finally:
        home.cleanup()


PROGRESS_STEPS = 20


def progress(target: Target) -> Iterator[Sample]:
    """A turn of many short commands, with a progress token: how many `notifications/progress`
    reach the client, and at what rate, against the number of steps."""
    home = _warm_home(target, "progress")
    try:
        while True:
            with ready(target.cmd, home) as server:
                state = server.start_codex(f"[bench:steps={PROGRESS_STEPS}] busy", progress=True)
                check_call(server.wait(state, BIG_TIMEOUT))
            seconds = state.answered_at - state.sent_at
            count = len(state.progress_at)
            late = sum(1 for t in state.progress_at if t > state.answered_at)
            yield {
                "turn_s": seconds,
                "progress": float(count),
                "progress_per_s": count / seconds if seconds > 0 else 0.0,
                "steps_per_s": 2 * PROGRESS_STEPS / seconds if seconds > 0 else 0.0,
                "after_response": float(late),
            }
    finally:
        home.cleanup()


def _script(name: str) -> Any:
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"bench.{name}", name):
            raise SkipScenario(f"bench/{name}.py is not there") from exc
        raise


def apply_patch(target: Target) -> Iterator[Sample]:
    module = _script("bench_apply_patch")
    while True:
        yield {"apply_ms": float(module.run(1)["median_ms"])}


def sandbox(target: Target) -> Iterator[Sample]:
    module = _script("bench_sandbox")
    while True:
        result = module.run(5)
        yield {
            f"{b}_ms": float(result[b]) for b in ("none", "bwrap", "landlock") if result.get(b) is not None
        }


def sse_parse(target: Target) -> Iterator[Sample]:
    module = _script("bench_sse")
    while True:
        yield {"events_per_s": float(module.run()["events_per_second"])}


def exec_output(target: Target) -> Iterator[Sample]:
    module = _script("bench_exec_output")
    while True:
        result = module.run()
        yield {"peak_rss_mb": float(result["peak_rss_mb"]), "wall_s": float(result["wall_s"])}


def unified_exec(target: Target) -> Iterator[Sample]:
    module = _script("bench_unified_exec")
    while True:
        result = module.run(round_trips=20)
        trip, flow, idle = result["round_trip"], result["throughput"], result["idle"]
        yield {
            "echo_ms": float(trip["echo_ms"]),
            "overhead_ms": float(trip["overhead_ms"]),
            "mib_per_s": float(flow["mib_per_s"]),
            "peak_rss_mb": float(flow["peak_rss_mb"]),
            "idle_fds_per_session": float(idle["fds_per_session"]),
            "idle_rss_kib_per_session": float(idle["rss_per_session_kib"]),
            "keeper_pss_kib_per_session": float(idle["keeper_pss_per_session_kib"]),
        }


def netproxy(target: Target) -> Iterator[Sample]:
    module = _script("bench_netproxy")
    while True:
        result = module.run(3)
        yield {
            key: float(result[key])
            for key in ("first_byte_ms", "direct_first_byte_ms", "mib_per_s", "direct_mib_per_s", "bridge_ms")
        }


def exec_command(target: Target) -> Iterator[Sample]:
    module = _script("bench_exec_command")
    while True:
        result = module.run(5)
        sample: Sample = {}
        for backend in ("none", "bwrap", "landlock"):
            steps = result.get(backend)
            if steps:
                for step in ("gate_ms", "exec_command_ms", "handler_ms", "bare_ms"):
                    sample[f"{backend}_{step}"] = float(steps[step])
        yield sample


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "startup",
            startup,
            {
                "tools_list_ms": Metric("ms", ("<=", 250.0), "57-62 ms"),
                "initialize_ms": Metric("ms", None, "57 ms"),
            },
            description="spawn -> tools/list answered, used CODEX_HOME",
        ),
        Scenario(
            "idle_rss",
            idle_rss,
            {"vmhwm_mb": Metric("MB", ("<=", 66.0), "~66 MB")},
            description="VmHWM after initialize + tools/list",
        ),
        Scenario(
            "one_turn",
            one_turn,
            {
                "first_call_ms": Metric("ms", ("<=", 250.0), "~90-95 ms"),
                "first_call_after_idle_ms": Metric("ms", ("<=", 95.0)),
                "warm_call_ms": Metric("ms", ("<=", 95.0)),
            },
            description="tools/call codex -> result, instant mock, initialized server",
        ),
        *[
            Scenario(
                f"concurrent_{n}",
                concurrent_20 if n == 20 else concurrent_50,
                {
                    "wall_ms": Metric("ms"),
                    "single_ms": Metric("ms"),
                    "dispatch_ms": Metric("ms"),
                    "ratio_to_single": Metric("x", ("<=", 1.5), "6.1x" if n == 20 else None),
                    "errors": Metric("", ("<=", 0.0)),
                    "rss_growth_per_session_mb": Metric("MB", ("<=", 2.0)),
                },
                description=f"{n} concurrent calls, model answers after 0.2 s",
            )
            for n in (20, 50)
        ],
        Scenario(
            "stream_throughput",
            stream_throughput,
            {
                "events_per_s": Metric("ev/s", (">=", 5700.0), "~5,700 ev/s", lower_is_better=False),
                "deltas_forwarded": Metric("", None, lower_is_better=False),
                "vmhwm_mb": Metric("MB", ("<=", 100.0)),
                "vmhwm_growth_mb": Metric("MB", ("<=", 30.0)),
            },
            description="10,000 text deltas -> codex/event per second",
        ),
        Scenario(
            "big_output",
            big_output,
            {"wall_s": Metric("s"), "vmhwm_mb": Metric("MB", ("<", 100.0)), "events": Metric("")},
            description="shell command printing 200 MB",
        ),
        Scenario(
            "shutdown",
            shutdown,
            {
                "idle_sigint_ms": Metric("ms", ("<=", 50.0), "~8 ms"),
                "idle_sigterm_ms": Metric("ms", ("<=", 50.0)),
                "busy_sigint_ms": Metric("ms"),
            },
            description="signal -> exit, idle after one call, and with a command running",
        ),
        Scenario(
            "progress",
            progress,
            {
                "turn_s": Metric("s"),
                "progress": Metric(""),
                "progress_per_s": Metric("/s", ("<=", 10.0)),
                "steps_per_s": Metric("/s", lower_is_better=False),
                "after_response": Metric("", ("<=", 0.0)),
            },
            description=f"a turn of {PROGRESS_STEPS} short commands with a progress token",
        ),
        Scenario(
            "apply_patch",
            apply_patch,
            {"apply_ms": Metric("ms", ("<", 100.0))},
            local=True,
            description="bench_apply_patch.py: 500 hunks on 20,000 lines",
        ),
        Scenario(
            "sandbox",
            sandbox,
            {"none_ms": Metric("ms"), "bwrap_ms": Metric("ms"), "landlock_ms": Metric("ms")},
            local=True,
            description="bench_sandbox.py: /bin/true per backend (median of 5 per run)",
        ),
        Scenario(
            "sse_parse",
            sse_parse,
            {"events_per_s": Metric("ev/s", (">=", 20000.0), lower_is_better=False)},
            local=True,
            description="bench_sse.py: 10,000-delta stream through ModelClient",
        ),
        Scenario(
            "exec_output",
            exec_output,
            {"peak_rss_mb": Metric("MB", ("<", 100.0)), "wall_s": Metric("s")},
            local=True,
            description="bench_exec_output.py: run_exec on 200 MiB of output",
        ),
        Scenario(
            "unified_exec",
            unified_exec,
            {
                "echo_ms": Metric("ms", ("<", 5.0)),
                "overhead_ms": Metric("ms", ("<", 5.0)),
                "mib_per_s": Metric("MiB/s", lower_is_better=False),
                "peak_rss_mb": Metric("MB", ("<", 100.0)),
                "idle_fds_per_session": Metric(""),
                "idle_rss_kib_per_session": Metric("KiB"),
                "keeper_pss_kib_per_session": Metric("KiB"),
            },
            local=True,
            description="bench_unified_exec.py: write_stdin round trip, 100 MiB session, 32 idle sessions",
        ),
        Scenario(
            "netproxy",
            netproxy,
            {
                "first_byte_ms": Metric("ms"),
                "direct_first_byte_ms": Metric("ms"),
                "mib_per_s": Metric("MiB/s", lower_is_better=False),
                "direct_mib_per_s": Metric("MiB/s", lower_is_better=False),
                "bridge_ms": Metric("ms"),
            },
            local=True,
            description="bench_netproxy.py: proxied first byte, 256 MiB download, the bridge's start",
        ),
        Scenario(
            "exec_command",
            exec_command,
            {
                f"{backend}_{step}": Metric("ms")
                for backend in ("none", "bwrap", "landlock")
                for step in ("gate_ms", "exec_command_ms", "handler_ms", "bare_ms")
            },
            local=True,
            description="bench_exec_command.py: one exec_command of `true` step by step, per backend",
        ),
        *first_call_scenarios,
        *long_turn_scenarios,
        *proxied_turn_scenarios,
        *long_thread_scenarios,
    ]
}
