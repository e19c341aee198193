"""The first `codex` call, sent the instant the handshake ends (what scripted clients do).

Side by side: spawn -> initialize -> tools/list -> `tools/call codex` at once, measuring the
call to its first `codex/event` and to its result.  The local `first_call_phases` scenario
splits our cost into the phases of that path (`bench_first_call.py`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from bench.base import CALL_TIMEOUT, Metric, Sample, Scenario, Target, ms, warm_home
from bench.harness import BenchError, Server, check_call


def first_call(target: Target) -> Iterator[Sample]:
    home = warm_home(target, "first_call")
    try:
        while True:
            server = Server(target.cmd, home)
            try:
                server.initialize()
                server.tools_list()
                state = server.start_codex("[bench:instant] first call at the handshake instant")
                check_call(server.wait(state, CALL_TIMEOUT))
            finally:
                server.close()
            if not state.first_event_at:
                raise BenchError("the call emitted no codex/event")
            yield {
                "tools_list_ms": ms(state.sent_at - server.spawned_at),
                "first_event_ms": ms(state.first_event_at - state.sent_at),
                "result_ms": ms(state.answered_at - state.sent_at),
                "spawn_to_result_ms": ms(state.answered_at - server.spawned_at),
            }
    finally:
        home.cleanup()


PHASES = (
    "interpreter",
    "start_path",
    "event_loop",
    "http_client",
    "agent_core",
    "agent_turn",
    "server_and_mcp_tools",
    "call_path_rest",
    "call_path_total",
    "tls_context",
    "tool_path",
)


def first_call_phases(target: Target) -> Iterator[Sample]:
    module = importlib.import_module("bench.bench_first_call")
    while True:
        yield {f"{name}_ms": value for name, value in module.run(1).items()}


SCENARIOS = [
    Scenario(
        "first_call",
        first_call,
        {
            "tools_list_ms": Metric("ms"),
            "first_event_ms": Metric("ms", None, "~35 ms"),
            "result_ms": Metric("ms", None, "~95-105 ms"),
            "spawn_to_result_ms": Metric("ms"),
        },
        description="tools/call codex sent the instant tools/list is answered",
    ),
    Scenario(
        "first_call_phases",
        first_call_phases,
        {f"{name}_ms": Metric("ms") for name in PHASES},
        local=True,
        description="bench_first_call.py: the first call's path phase by phase, fresh interpreters",
    ),
]
