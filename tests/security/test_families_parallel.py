"""Parallel tool calls from a hostile model: bounded, ordered, and never a crash.

A family that takes parallel calls (gpt-5.5) gets its calls of one response run side by side.
The model decides how many calls a response holds and what their ids are, so: at most
`MAX_PARALLEL_TOOL_CALLS` commands run at once (judged from outside, by the commands
themselves counting who else is running), every output goes back in call order, a call id
used twice never runs side by side with itself (approvals are keyed by it), and the server
answers `ping` throughout.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.agent.limits import MAX_PARALLEL_TOOL_CALLS
from tests.security.harness import assert_alive, run_call
from tests.support.raw_client import RawClient
from tests.support.scripted_model import ScriptedModel, shell_call
from tests.support.server import ServerFactory

pytestmark = pytest.mark.e2e

COUNTING = (
    "mkdir -p run peak && touch run/{i} && ls run | wc -l > peak/{i} && sleep 0.4 && rm run/{i} "
    "&& echo done-{i}"
)
GPT55 = ("-c", 'model="gpt-5.5"')
"""A family that takes parallel calls (the scripted provider serves any slug)."""


def ping_during(client: RawClient, stop: threading.Event, worst: list[float]) -> None:
    import time

    while not stop.is_set():
        start = time.monotonic()
        assert_alive(client)
        worst.append(time.monotonic() - start)
        stop.wait(0.2)


def test_a_flood_of_parallel_calls_runs_a_few_at_a_time_in_order(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    calls = [shell_call(COUNTING.format(i=i), f"call_{i:02d}") for i in range(40)]
    scripted_model.tool_calls(*calls)
    scripted_model.text("all done")
    client = spawn_server(*GPT55)
    stop = threading.Event()
    worst: list[float] = []
    pinger = threading.Thread(target=ping_during, args=(client, stop, worst), daemon=True)
    pinger.start()
    try:
        result = run_call(client, approval="never", sandbox="workspace-write", timeout=120)
    finally:
        stop.set()
        pinger.join(10)
    assert not result.get("isError"), result
    peaks = [int((workspace / "peak" / f"{i}").read_text()) for i in range(40)]
    assert max(peaks) <= MAX_PARALLEL_TOOL_CALLS, peaks
    assert max(peaks) >= 2, f"the calls did not run side by side: {peaks}"
    second = scripted_model.requests[1]
    outputs = [i for i in second.items() if i.get("type") == "function_call_output"]
    assert [o["call_id"] for o in outputs] == [f"call_{i:02d}" for i in range(40)]
    assert all(f"done-{i}" in json.dumps(o["output"]) for i, o in enumerate(outputs))
    assert worst and max(worst) < 5.0


def test_a_call_id_used_twice_in_a_round_is_not_run_side_by_side(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    """Two calls with one id under `untrusted`: each is asked about on its own (approvals are
    keyed by the call id), both are answered, the turn completes, nothing crashes."""
    asked: list[dict[str, Any]] = []
    in_flight = threading.Semaphore(1)
    overlap: list[bool] = []

    def answer(msg: dict[str, Any]) -> dict[str, Any]:
        overlap.append(not in_flight.acquire(blocking=False))
        asked.append(msg["params"])
        in_flight.release()
        return {"action": "decline"}

    scripted_model.tool_calls(shell_call("touch one.txt", "dup"), shell_call("touch two.txt", "dup"))
    scripted_model.text("refused twice")
    client = spawn_server(*GPT55, policy=answer)
    result = run_call(client, approval="untrusted", sandbox="workspace-write")
    assert not result.get("isError"), result
    assert len(asked) == 2 and not any(overlap)
    assert not (workspace / "one.txt").exists() and not (workspace / "two.txt").exists()
    assert_alive(client)
    assert "internal error" not in client.stderr_text()


def test_a_patch_in_a_parallel_round_runs_alone_after_the_calls_before_it(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    """The patch waits for the commands before it and the ones after it wait for the patch:
    the command after it sees the file the patch wrote, the one before it does not."""
    patch = {
        "kind": "custom",
        "name": "apply_patch",
        "input": "*** Begin Patch\n*** Add File: made.txt\n+by the patch\n*** End Patch\n",
        "call_id": "patch",
    }
    scripted_model.tool_calls(
        shell_call("sleep 0.3; test -e made.txt && echo saw-before || echo absent-before", "before"),
        patch,
        shell_call("cat made.txt", "after"),
    )
    scripted_model.text("ordered")
    client = spawn_server(*GPT55)
    result = run_call(client, approval="never", sandbox="workspace-write")
    assert not result.get("isError"), result
    assert "absent-before" in scripted_model.call_output("before")
    assert "by the patch" in scripted_model.call_output("after")
    assert (workspace / "made.txt").read_text() == "by the patch\n"
