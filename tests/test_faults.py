"""Fault injection with real processes (loopback only): the model API and the client misbehave.

Model faults: 500 / 502 / 429 with and without `Retry-After`, a stream cut in the middle of
an SSE event, a stall past the idle timeout, invalid JSON in an event.  Client faults:
stdin closed mid-call, stdout closed mid-call, an elicitation never answered, one answered
with a JSON-RPC error, cancellations for ids that do not exist.

Every case checks the documented outcome, that nothing hangs (every wait is bounded), that
no process of the server's tree survives it (pids sampled from /proc while the call runs),
that every rollout line is JSON, and that the thread resumes on a new server.

Provider settings for the model faults: `request_max_retries = 2` (HTTP status retries
inside one sampling request), `stream_max_retries = 1` (re-sampling after a failure once
the response streamed), and `stream_idle_timeout_ms = 300` for the stall.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.fault_model import FaultModel
from tests.reliability.harness import (
    Spawner,
    check_rollouts,
    record_numbers,
    resume_and_check,
    rollout_files,
    thread_id_of,
    write_config,
)
from tests.reliability.procs import TreeWatcher, cmdline, describe, kill_all
from tests.support.raw_client import RawClient, result_of, text_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

CALL_TIMEOUT = 20.0
FAULTS: dict[str, int] = {}


@dataclass
class Env:
    model: FaultModel
    spawner: Spawner
    home: Path
    workspace: Path
    tmp: Path

    def configure(self, **settings: Any) -> None:
        # The 300 ms idle timeout is only for the stall case: elsewhere a CPU-starved test
        # process (2 cores, a busy suite) could make the mock look idle and add a retry.
        defaults: dict[str, Any] = {"request_max_retries": 2, "stream_max_retries": 1}
        write_config(self.home, self.model, **{**defaults, **settings})


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    home = tmp_path / "codex-home"
    with FaultModel() as model:
        spawner = Spawner(home, workspace, tmp_path)
        e = Env(model, spawner, home, workspace, tmp_path)
        e.configure()
        try:
            yield e
        finally:
            spawner.close()


def start_codex(client: RawClient, prompt: str, **arguments: Any) -> Any:
    arguments.setdefault("sandbox", "danger-full-access")
    return client.call_tool("codex", {"prompt": prompt, **arguments})


def finish(env: Env, client: RawClient, watcher: TreeWatcher, *, expect_exit: int | None = 0) -> None:
    """Close stdin, the server exits (bounded), and nothing of its tree survives it."""
    client.close_stdin()
    code = client.wait_exit(15)
    if expect_exit is not None:
        assert code == expect_exit, client.stderr_tail()
    survivors = watcher.survivors(5)
    kill_all(survivors)
    assert not survivors, f"orphans after exit: {describe(survivors)}"


def thread_of(result: dict[str, Any]) -> str:
    return str(result["structuredContent"]["threadId"])


def intact_and_resumable(env: Env, thread_id: str, prompt: str) -> None:
    check = check_rollouts(env.home)
    assert check.files >= 1 and check.lines > 0
    resume_and_check(env.spawner, env.model, thread_id, prompt)
    check_rollouts(env.home)


def count_fault(name: str, n: int = 1) -> None:
    FAULTS[name] = FAULTS.get(name, 0) + n


# -- HTTP status faults ----------------------------------------------------------------

STATUS_CASES = [
    # statuses before the answer, Retry-After, success expected
    pytest.param([500, 500], None, True, id="500x2-then-ok"),
    pytest.param([502], "1", True, id="502-retry-after-1s-then-ok"),
    pytest.param([429, 429], None, True, id="429x2-no-retry-after-then-ok"),
    pytest.param([429], "0", True, id="429-retry-after-0-then-ok"),
    pytest.param([500, 502, 500], None, False, id="500x3-exhausted"),
    pytest.param([429, 429, 429], "0", False, id="429x3-retry-after-exhausted"),
]


@pytest.mark.parametrize(("statuses", "retry_after", "succeeds"), STATUS_CASES)
def test_model_http_errors_are_retried_then_answered_or_reported(
    env: Env, statuses: list[int], retry_after: str | None, succeeds: bool
) -> None:
    for status in statuses:
        env.model.error(status, retry_after)
    if succeeds:
        env.model.text("recovered")
    client = env.spawner.spawn()
    watcher = TreeWatcher(client.proc.pid)
    rid = start_codex(client, "status fault prompt")
    result = result_of(client.wait_response(rid, CALL_TIMEOUT))
    watcher.sample()
    count_fault("http_status", len(statuses))

    requests = len(env.model.requests)
    retries = [e for e in client.events_for(rid) if e["msg"]["type"] == "stream_error"]
    if succeeds:
        assert not result.get("isError"), result
        assert text_of(result) == "recovered"
        assert requests == len(statuses) + 1
        assert len(retries) == len(statuses)
    else:
        # request_max_retries = 2: three attempts, then a final (non-retryable) error.
        assert result.get("isError") is True
        assert f"exceeded retry limit, last status: {statuses[-1]}" in text_of(result)
        assert requests == 3
        assert len(retries) == 2
        assert client.event_types(rid)[-1] == "error"
    for i, event in enumerate(retries, 1):
        assert f"retrying {i}/2" in event["msg"]["message"], event
    if retry_after == "1":
        gap = env.model.request_times[1] - env.model.request_times[0]
        assert gap >= 0.9, f"Retry-After: 1 was not honoured ({gap:.2f} s between attempts)"
    finish(env, client, watcher)
    intact_and_resumable(env, thread_of(result), "status fault prompt")


# -- stream faults -----------------------------------------------------------------------

STREAM_CASES = ["cut_mid_event", "stall", "invalid_json_event"]
STREAM_MESSAGES = {
    "cut_mid_event": "stream closed before response.completed",
    "stall": "idle timeout waiting for SSE",
    "invalid_json_event": "invalid JSON in SSE event",
}


def inject(env: Env, fault: str) -> None:
    getattr(env.model, fault)()
    count_fault(fault)


@pytest.mark.parametrize("fault", STREAM_CASES)
@pytest.mark.parametrize("times", [1, 2], ids=["once-then-ok", "twice-exhausted"])
def test_stream_faults_are_resampled_once_then_reported(env: Env, fault: str, times: int) -> None:
    if fault == "stall":
        env.configure(stream_idle_timeout_ms=300)
    for _ in range(times):
        inject(env, fault)
    if times == 1:
        env.model.text("streamed fine")
    client = env.spawner.spawn()
    watcher = TreeWatcher(client.proc.pid)
    rid = start_codex(client, "stream fault prompt")
    result = result_of(client.wait_response(rid, CALL_TIMEOUT))
    watcher.sample()
    retries = [e["msg"]["message"] for e in client.events_for(rid) if e["msg"]["type"] == "stream_error"]
    assert len(retries) == 1, retries
    assert retries[0].startswith("Reconnecting... 1/1"), retries
    assert STREAM_MESSAGES[fault].lower() in retries[0].lower(), retries
    if times == 1:
        assert not result.get("isError"), result
        assert text_of(result) == "streamed fine"
        assert len(env.model.requests) == 2
    else:
        assert result.get("isError") is True
        assert STREAM_MESSAGES[fault].lower() in text_of(result).lower(), result
        assert len(env.model.requests) == 2
        env.model.stall_gate.release()
    finish(env, client, watcher)
    intact_and_resumable(env, thread_of(result), "stream fault prompt")


# -- client faults -----------------------------------------------------------------------


def test_stdin_closed_mid_call_still_delivers_the_result(env: Env) -> None:
    gate = env.model.hold()  # then answers with an echo of the prompt
    client = env.spawner.spawn()
    watcher = TreeWatcher(client.proc.pid)
    rid = start_codex(client, "eof prompt")
    gate.wait_arrived()
    watcher.sample()
    client.close_stdin()
    count_fault("stdin_closed")
    gate.release()
    result = result_of(client.wait_response(rid, CALL_TIMEOUT))
    assert text_of(result) == "echo: eof prompt"
    assert client.wait_exit(15) == 0
    survivors = watcher.survivors()
    assert not survivors, describe(survivors)
    intact_and_resumable(env, thread_of(result), "eof prompt")


def test_stdout_closed_mid_command_exits_and_leaves_no_orphan(env: Env) -> None:
    marker = f"sleep 37.{len(str(env.tmp))}"
    env.model.shell(marker.split(), timeout_ms=120_000)  # argv: no login shell profile
    client = env.spawner.spawn()
    watcher = TreeWatcher(client.proc.pid)
    start_codex(client, "stdout prompt")
    tree = watcher.sample_until(
        lambda pids: any(marker in cmdline(p) for p in pids), 15, "the command to start"
    )
    client.close_stdout()
    count_fault("stdout_closed")
    # The server finds out at its next write; make sure there is one.
    client.request("ping")
    code = client.wait_exit(15)  # any exit status: exiting (bounded) is what matters
    print(f"[reliability] exit status after stdout closed: {code}")
    survivors = watcher.survivors(5)
    kill_all(survivors)
    assert not survivors, f"orphans after stdout closed: {describe(survivors)} (tree was {tree})"
    files = rollout_files(env.home)
    assert len(files) == 1
    check_rollouts(env.home)
    resume_and_check(env.spawner, env.model, thread_id_of(files[0]), "stdout prompt")


def test_unanswered_elicitation_is_denied_after_the_timeout(env: Env) -> None:
    env.configure(elicitation_timeout_sec=1)
    env.model.shell("touch never-created.txt")
    env.model.text("done without approval")
    client = env.spawner.spawn(policy="never")
    watcher = TreeWatcher(client.proc.pid)
    rid = start_codex(client, "elicit prompt", **{"approval-policy": "untrusted"})
    result = result_of(client.wait_response(rid, CALL_TIMEOUT))
    count_fault("elicitation_unanswered")
    assert text_of(result) == "done without approval"
    assert not (env.workspace / "never-created.txt").exists()
    [elicitation] = client.server_requests()
    withdrawn = client.notifications("notifications/cancelled")
    assert [n["params"]["requestId"] for n in withdrawn] == [elicitation["id"]]
    warnings = [e["msg"]["message"] for e in client.events_for(rid) if e["msg"]["type"] == "warning"]
    assert any("no answer to the approval request within 1 s" in w for w in warnings), warnings
    finish(env, client, watcher)
    intact_and_resumable(env, thread_of(result), "elicit prompt")


def test_elicitation_answered_with_an_error_is_denied(env: Env) -> None:
    env.model.shell("touch never-created.txt")
    env.model.text("done after an error answer")
    client = env.spawner.spawn(policy="error")
    watcher = TreeWatcher(client.proc.pid)
    rid = start_codex(client, "error answer prompt", **{"approval-policy": "untrusted"})
    result = result_of(client.wait_response(rid, CALL_TIMEOUT))
    count_fault("elicitation_error_answer")
    assert text_of(result) == "done after an error answer"
    assert not (env.workspace / "never-created.txt").exists()
    warnings = [e["msg"]["message"] for e in client.events_for(rid) if e["msg"]["type"] == "warning"]
    assert any("could not show the approval request" in w for w in warnings), warnings
    finish(env, client, watcher)
    intact_and_resumable(env, thread_of(result), "error answer prompt")


def test_cancellations_of_unknown_ids_change_nothing(env: Env) -> None:
    gate = env.model.hold()
    client = env.spawner.spawn()
    watcher = TreeWatcher(client.proc.pid)
    rid = start_codex(client, "cancel prompt")
    gate.wait_arrived()
    watcher.sample()
    unknown: list[Any] = [
        rid + 1000,
        str(rid),
        "no-such-request",
        2**70,
        -1,
        None,
        True,
        1.5,
        [rid],
        {"id": rid},
    ]
    for target in unknown:
        client.notify("notifications/cancelled", {"requestId": target, "reason": "fuzz"})
    client.notify("notifications/cancelled", {})
    client.notify("notifications/cancelled")
    count_fault("unknown_cancellations", len(unknown) + 2)
    assert client.call("ping")["result"] == {}
    gate.release()
    result = result_of(client.wait_response(rid, CALL_TIMEOUT))
    assert text_of(result) == "echo: cancel prompt"
    assert len(client.responses_to(rid)) == 1
    assert gate.disconnected == 0
    finish(env, client, watcher)
    intact_and_resumable(env, thread_of(result), "cancel prompt")


def test_zz_report_fault_counts(tmp_path: Path) -> None:
    """Runs last in this module (pytest keeps file order): the tally of injected faults."""
    record_numbers("faults", {"faults_injected": dict(FAULTS), "total": sum(FAULTS.values())}, tmp_path)
