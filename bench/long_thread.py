"""Long threads and many threads, side by side; plus the in-process measurements of ours.

* `long_thread`: once per target, a thread of ~2,000 items is made by the server itself (a
  turn of 1,000 `echo` steps: a call and an output each); `thread_rss_mb` is the server's
  RSS growth over that turn, `request_kib` the size of its last request.  Per repetition:
  `reply_ms`, a `codex-reply` on the live thread (one model round with the whole history);
  for ours also `resume_reply_ms`, a fresh server (warmed by a first call) resuming the
  thread from its rollout with `codex-reply` -- the reference's `codex-reply` only knows the
  threads of its own process, so there is no such figure for it.
* `idle_threads`: 100 instant `codex` calls on one server; RSS growth per thread.
* `long_thread_local`: `bench_long_thread.py` (ours, in process): request building and
  size for 2,000 items, the incremental alternative, resume from the rollout file, memory.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Iterator
from typing import Any

from bench.base import CALL_TIMEOUT, Metric, Sample, Scenario, Target, ms, warm_home
from bench.harness import BenchError, CallState, Home, Server, check_call, ready

LONG_STEPS = 1_000
SETUP_TIMEOUT = 900.0
IDLE_THREADS = 100
WARM_UP = "[bench:shell=echo] warm-up"
"""A first call that runs a command: what a server loads once (its tool handlers among it,
which ours imports at the first tool call) is loaded before any RSS is measured."""


def _span(state: CallState) -> float:
    return state.answered_at - state.sent_at


def _reply(server: Server, thread_id: str, prompt: str) -> CallState:
    state = server.send_request(
        "tools/call", {"name": "codex-reply", "arguments": {"threadId": thread_id, "prompt": prompt}}
    )
    check_call(server.wait(state, CALL_TIMEOUT))
    return state


def _thread_id(state: CallState) -> str:
    assert state.response is not None
    structured: dict[str, Any] = (state.response.get("result") or {}).get("structuredContent") or {}
    thread_id = structured.get("threadId")
    if not isinstance(thread_id, str):
        raise BenchError(f"no threadId in the result: {state.response}")
    return thread_id


def long_thread(target: Target) -> Iterator[Sample]:
    """The server that made the long thread stays up for the whole scenario (idle between
    repetitions): the reference cannot resume a thread after a restart, so a reply on the
    live thread is the step both can be timed on."""
    home = warm_home(target, "long_thread")
    resume_home: Home | None = None
    try:
        with ready(target.cmd, home, SETUP_TIMEOUT) as live:
            live.codex(WARM_UP, CALL_TIMEOUT)
            rss_before = live.vmrss_mb()
            made = live.codex(f"[bench:steps={LONG_STEPS}] [bench:cmd=echo] a long thread", SETUP_TIMEOUT)
            if made.commands_ended != LONG_STEPS or made.commands_failed:
                raise BenchError(f"the long turn ran {made.commands_ended} commands, expected {LONG_STEPS}")
            thread_id = _thread_id(made)
            request_kib = target.mock.last_request_size() / 1024
            thread_rss_mb = live.vmrss_mb() - rss_before
            if target.label == "ours":
                resume_home = _copy_of_sessions(target, home)
            while True:
                sample = {
                    "reply_ms": ms(_span(_reply(live, thread_id, "[bench:instant] one more step"))),
                    "thread_rss_mb": thread_rss_mb,
                    "request_kib": request_kib,
                }
                if resume_home is not None:
                    sample["resume_reply_ms"] = _resume(target, resume_home, thread_id)
                yield sample
    finally:
        home.cleanup()
        if resume_home is not None:
            resume_home.cleanup()


def _copy_of_sessions(target: Target, home: Home) -> Home:
    """Another CODEX_HOME holding a copy of the long thread's rollout: the resumed thread
    grows the copy, so the live server's replies never find their file changed by another
    process (which would time a reload of the whole history instead of a reply)."""
    copy = target.home("long_thread-resume")
    shutil.copytree(home.codex_home / "sessions", copy.codex_home / "sessions")
    return copy


def _resume(target: Target, home: Home, thread_id: str) -> float:
    """A fresh server (everything loaded by a first call) resuming the thread from its rollout."""
    with ready(target.cmd, home) as server:
        server.codex("[bench:instant] a small thread first", CALL_TIMEOUT)
        return ms(_span(_reply(server, thread_id, "[bench:instant] resumed")))


def idle_threads(target: Target) -> Iterator[Sample]:
    home = warm_home(target, "idle_threads")
    try:
        while True:
            with ready(target.cmd, home) as server:
                server.codex(WARM_UP, CALL_TIMEOUT)
                before = server.vmrss_mb()
                for i in range(IDLE_THREADS):
                    server.codex(f"[bench:instant] thread {i}", CALL_TIMEOUT)
                after = server.vmrss_mb()
            yield {"rss_per_thread_kib": (after - before) * 1024 / IDLE_THREADS, "rss_after_mb": after}
    finally:
        home.cleanup()


def long_thread_local(target: Target) -> Iterator[Sample]:
    module = importlib.import_module("bench.bench_long_thread")
    while True:
        yield {f"{k}": float(v) for k, v in module.run(3).items() if k != "items"}


SCENARIOS = [
    Scenario(
        "long_thread",
        long_thread,
        {
            "resume_reply_ms": Metric("ms"),
            "reply_ms": Metric("ms"),
            "thread_rss_mb": Metric("MB"),
            "request_kib": Metric("KiB"),
        },
        description=f"a thread of {2 * LONG_STEPS} items: resumed by codex-reply, one more reply, its RSS",
    ),
    Scenario(
        "idle_threads",
        idle_threads,
        {"rss_per_thread_kib": Metric("KiB"), "rss_after_mb": Metric("MB")},
        description=f"{IDLE_THREADS} instant codex calls on one server: RSS per idle thread",
    ),
    Scenario(
        "long_thread_local",
        long_thread_local,
        {
            "build_ms": Metric("ms"),
            "incremental_ms": Metric("ms"),
            "request_kib": Metric("KiB"),
            "resume_ms": Metric("ms"),
            "rollout_mib": Metric("MiB"),
            "history_mib": Metric("MiB"),
        },
        local=True,
        description="bench_long_thread.py: 2,000 items in process (request, rollout, memory)",
    ),
]
