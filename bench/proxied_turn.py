"""A long turn through an HTTP proxy from the server's environment, against the same turn
straight to the model.

Each repetition starts a loopback forwarding proxy (`tests/support/http_proxy.py`) and, per
path, a server (`HTTP_PROXY`/`HTTPS_PROXY` naming the proxy, `NO_PROXY` emptied; or no proxy
at all), then runs a warm-up call, an instant call (the baseline) and a 30-step turn of
`echo bench` without a sandbox.  The mock answers with length-framed bodies
(`[bench:framed]`) so a connection can be kept, as a real provider's chunked answers allow.
Per step: (turn - baseline) / 30.  `proxy_connections_per_turn` counts the connections the
proxy accepted during the long turn: 0 when the pool keeps the connection of the calls
before, 31 when every request opens a new one.  Run it with `--server-cmd` naming an older
checkout to compare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bench.base import CALL_TIMEOUT, Metric, Sample, Scenario, Target, ms
from bench.harness import BenchError, CallState, Server, ready
from tests.support.http_proxy import HttpProxy

STEPS = 30
TURN_TIMEOUT = 120.0


def _span(state: CallState) -> float:
    return state.answered_at - state.sent_at


def _turn(server: Server, connections: Callable[[], int] = lambda: 0) -> tuple[float, int]:
    """The per-step time, and how many `connections()` grew during the long turn."""
    server.codex("[bench:instant] [bench:framed] warm-up", CALL_TIMEOUT)
    baseline = _span(server.codex("[bench:instant] [bench:framed] baseline", CALL_TIMEOUT))
    before = connections()
    state = server.codex(f"[bench:steps={STEPS}] [bench:cmd=echo] [bench:framed] a long turn", TURN_TIMEOUT)
    if state.commands_ended != STEPS or state.commands_failed:
        raise BenchError(
            f"{state.commands_ended} commands ended ({state.commands_failed} failed), expected {STEPS}"
        )
    return (_span(state) - baseline) / STEPS, connections() - before


def long_turn_proxied(target: Target) -> Iterator[Sample]:
    home = target.home("long_turn_proxied")
    try:
        while True:
            sample: Sample = {}
            with HttpProxy() as proxy:
                url = proxy.url()
                home.extra_env = {"HTTP_PROXY": url, "HTTPS_PROXY": url, "NO_PROXY": "", "no_proxy": ""}
                with ready(target.cmd, home) as server:
                    per_step, opened = _turn(server, lambda: proxy.connections)
                sample["proxied_per_step_ms"] = ms(per_step)
                sample["proxy_connections_per_turn"] = float(opened)
            home.extra_env = {}
            with ready(target.cmd, home) as server:
                sample["direct_per_step_ms"] = ms(_turn(server)[0])
            yield sample
    finally:
        home.cleanup()


SCENARIOS = [
    Scenario(
        "long_turn_proxied",
        long_turn_proxied,
        {
            "proxied_per_step_ms": Metric("ms"),
            "direct_per_step_ms": Metric("ms"),
            "proxy_connections_per_turn": Metric("connections"),
        },
        description=f"{STEPS}-step turn, instant model, through a proxy from the environment vs straight",
    ),
]
