"""Crash safety: `kill -9` of the server mid-turn loses nothing that was written.

* killed while the model request is held, and while the model is streaming: the rollout
  stays readable and a new server continues the thread with `codex-reply` (the model then
  sees the earlier prompt in the history);
* killed while a shell command runs: the same, plus what happens to the command.  A
  sandboxed command (bwrap `--die-with-parent`) must die with the server; an unsandboxed
  one (danger-full-access) is reported, not failed on: the runner documents that it sets
  no parent-death signal (codex_mcp/agent/exec/runner.py, "Not done");
* apply_patch never half-writes a file: a patch touching several files, the server killed
  at random moments (a bounded number of iterations); every file is then entirely old or
  entirely new.  Leftover temporary files are reported.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.fault_model import CREATED, FaultModel, Raw, sse
from tests.reliability.harness import (
    Spawner,
    check_rollouts,
    record_numbers,
    resume_and_check,
    rollout_files,
    thread_id_of,
    user_prompts_in_rollout,
    write_config,
)
from tests.reliability.procs import TreeWatcher, alive, cmdline, describe, kill_all, ppid_of
from tests.support.raw_client import RawClient, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

FINDINGS: dict[str, Any] = {}


@pytest.fixture
def model() -> Iterator[FaultModel]:
    with FaultModel() as m:
        yield m


@pytest.fixture
def spawner(tmp_path: Path, model: FaultModel) -> Iterator[Spawner]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    home = tmp_path / "codex-home"
    write_config(home, model)
    s = Spawner(home, workspace, tmp_path)
    try:
        yield s
    finally:
        s.close()


def kill9(client: RawClient) -> None:
    """SIGKILL the server process only (not its group): a crash, not a tidy shutdown."""
    os.kill(client.proc.pid, signal.SIGKILL)
    client.proc.wait(10)


def start_codex(client: RawClient, prompt: str, **arguments: Any) -> Any:
    arguments.setdefault("sandbox", "danger-full-access")
    arguments.setdefault("approval-policy", "never")
    return client.call_tool("codex", {"prompt": prompt, **arguments})


def the_thread(spawner: Spawner) -> str:
    [path] = rollout_files(spawner.home)
    return thread_id_of(path)


def after_crash(spawner: Spawner, model: FaultModel, prompt: str) -> dict[str, Any]:
    check = check_rollouts(spawner.home, allow_torn_last=True)
    [path] = rollout_files(spawner.home)
    assert prompt in user_prompts_in_rollout(path), "the prompt of the killed turn is not in the rollout"
    resume_and_check(spawner, model, thread_id_of(path), prompt)
    check_rollouts(spawner.home)  # the resumed server terminated a torn line before appending
    return {"rollout_lines": check.lines, "torn_lines": check.torn}


def test_kill9_while_the_model_request_is_held(spawner: Spawner, model: FaultModel) -> None:
    gate = model.hold()
    client = spawner.spawn()
    watcher = TreeWatcher(client.proc.pid)
    start_codex(client, "prompt before the crash")
    gate.wait_arrived()
    watcher.sample()
    kill9(client)
    gate.wait_disconnected()  # the kernel closed the server's socket
    survivors = watcher.survivors()
    kill_all(survivors)
    assert not survivors, describe(survivors)
    FINDINGS["held"] = after_crash(spawner, model, "prompt before the crash")


def test_kill9_while_the_model_is_streaming(spawner: Spawner, model: FaultModel) -> None:
    deltas = [sse("response.output_text.delta", {"item_id": "m1", "delta": f"part {i} "}) for i in range(5)]
    model.raw(Raw(frames=[CREATED, *deltas], stall=True))
    client = spawner.spawn()
    watcher = TreeWatcher(client.proc.pid)
    rid = start_codex(client, "streaming prompt before the crash")
    client.wait_for(
        lambda m: (
            m.get("method") == "codex/event"
            and m["params"]["msg"]["type"] == "agent_message_content_delta"
            and m["params"]["_meta"]["requestId"] == rid
        )
    )
    watcher.sample()
    kill9(client)
    model.stall_gate.release()
    survivors = watcher.survivors()
    kill_all(survivors)
    assert not survivors, describe(survivors)
    FINDINGS["streaming"] = after_crash(spawner, model, "streaming prompt before the crash")


def _kill9_during_command(
    spawner: Spawner, model: FaultModel, tmp_path: Path, sandbox: str
) -> tuple[list[int], dict[int, str], list[int]]:
    """Returns (tree while the command ran, its command lines, survivors after the kill)."""
    marker = f"{41 + len(sandbox) % 7}.{os.getpid() % 1000}{len(str(tmp_path)) % 97}"
    # argv, not `bash -lc`: a login shell's profile can take seconds here.
    model.shell(["sleep", marker], timeout_ms=120_000)
    client = spawner.spawn()
    watcher = TreeWatcher(client.proc.pid)
    start_codex(client, f"command prompt {sandbox}", sandbox=sandbox)
    tree = watcher.sample_until(
        lambda pids: any(cmdline(p) == f"sleep {marker}" for p in pids),
        20,
        f"`sleep {marker}` to run under the server",
    )
    lines = {pid: cmdline(pid) for pid in tree}
    kill9(client)
    # A sandboxed command must die with the server (give it a bounded moment); an
    # unsandboxed one is expected to survive, no point waiting long for it.
    survivors = watcher.survivors(5 if sandbox != "danger-full-access" else 1)
    return tree, lines, survivors


@pytest.mark.sandbox
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_kill9_during_a_sandboxed_command_takes_the_command_down(
    spawner: Spawner, model: FaultModel, tmp_path: Path
) -> None:
    _, lines, survivors = _kill9_during_command(spawner, model, tmp_path, "workspace-write")
    kill_all(survivors)
    assert any("bwrap" in line for line in lines.values()), f"the command did not run under bwrap: {lines}"
    assert not survivors, f"sandboxed command outlived the server: {describe(survivors)}; tree: {lines}"
    FINDINGS["sandboxed_command"] = {"tree": lines, "survivors": []}
    FINDINGS["sandboxed_command"].update(after_crash(spawner, model, "command prompt workspace-write"))


def test_kill9_during_an_unsandboxed_command_is_reported(
    spawner: Spawner, model: FaultModel, tmp_path: Path
) -> None:
    _, lines, survivors = _kill9_during_command(spawner, model, tmp_path, "danger-full-access")
    finding = {
        "tree": {str(pid): line for pid, line in lines.items()},
        "survivors": {
            str(pid): f"{cmdline(pid)} (ppid now {ppid_of(pid)})" for pid in survivors if alive(pid)
        },
    }
    kill_all(survivors)  # ours to clean up: the test started them
    wait_until(lambda: not any(alive(p) for p in survivors), 5, "the surviving command to be killed")
    print(f"\n[reliability] unsandboxed command after kill -9 of the server: {finding}")
    FINDINGS["unsandboxed_command"] = finding
    FINDINGS["unsandboxed_command"].update(after_crash(spawner, model, "command prompt danger-full-access"))


# -- apply_patch under kill -9 ----------------------------------------------------------

FILES = 8
LINES = 20_000
ITERATIONS = 10


def old_text(i: int) -> str:
    return "".join(f"line {n} of file {i}\n" for n in range(LINES))


def new_text(i: int) -> str:
    lines = [f"line {n} of file {i}\n" for n in range(LINES)]
    for n in (5, LINES // 2, LINES - 5):
        lines[n] = f"CHANGED line {n} of file {i}\n"
    return "".join(lines)


def build_patch() -> str:
    out = ["*** Begin Patch"]
    for i in range(FILES):
        out.append(f"*** Update File: f{i}.txt")
        for n in (5, LINES // 2, LINES - 5):
            out += [
                "@@",
                f" line {n - 1} of file {i}",
                f"-line {n} of file {i}",
                f"+CHANGED line {n} of file {i}",
                f" line {n + 1} of file {i}",
            ]
    out += ["*** Add File: added.txt", "+brand new", "+file", "*** Delete File: doomed.txt", "*** End Patch"]
    return "\n".join(out) + "\n"


def first_change(workspace: Path, before: dict[str, int]) -> bool:
    """Any file of the workspace added, removed or rewritten since `before` was taken.

    The server is writing while we look: a temp file listed a moment ago may be gone by
    the time it is stat'ed, which is itself a change."""
    now: dict[str, int] = {}
    for path in workspace.iterdir():
        try:
            now[path.name] = path.stat().st_mtime_ns
        except FileNotFoundError:
            return True
    return now != before


def test_apply_patch_never_half_writes_under_kill9(tmp_path: Path) -> None:
    seed = int(os.environ.get("CODEX_MCP_CRASH_SEED", str(time.time_ns() % 100_000)))
    rng = random.Random(seed)
    patch = build_patch()
    olds = {f"f{i}.txt": old_text(i).encode() for i in range(FILES)}
    news = {f"f{i}.txt": new_text(i).encode() for i in range(FILES)}
    outcomes: Counter[str] = Counter()
    moments: Counter[str] = Counter()
    leftovers: list[str] = []
    torn = 0
    for iteration in range(ITERATIONS):
        root = tmp_path / f"iter{iteration}"
        workspace = root / "workspace"
        workspace.mkdir(parents=True)
        home = root / "codex-home"
        for name, data in olds.items():
            (workspace / name).write_bytes(data)
        (workspace / "doomed.txt").write_text("to be deleted\n")
        stats = {p.name: p.stat().st_mtime_ns for p in workspace.iterdir()}
        with FaultModel() as model:
            write_config(home, model)
            spawner = Spawner(home, workspace, root)
            try:
                model.apply_patch(patch)
                model.text("patched")
                client = spawner.spawn()
                start_codex(client, f"patch iteration {iteration}")
                model.wait_requests(1)  # the patch call is on its way to the server
                if iteration % 2 == 0:
                    # Kill the moment the first change shows on disk: mid-apply, if anything is.
                    moments["at-first-change"] += 1
                    wait_until(
                        lambda ws=workspace, before=stats: first_change(ws, before), 15, "a file to change"
                    )
                else:
                    # A random kill moment is the fault being injected (reported), not a wait.
                    moments["random-delay"] += 1
                    time.sleep(rng.uniform(0.0, 0.08))
                kill9(client)
            finally:
                spawner.close()
        states = []
        for name in olds:
            data = (workspace / name).read_bytes()
            assert data in (olds[name], news[name]), (
                f"iteration {iteration}: {name} is half-written ({len(data)} bytes; seed {seed})"
            )
            states.append("new" if data == news[name] else "old")
        added = workspace / "added.txt"
        if added.exists():
            assert added.read_text() == "brand new\nfile\n", (
                f"iteration {iteration}: added.txt is half-written"
            )
            states.append("new")
        else:
            states.append("old")
        doomed = workspace / "doomed.txt"
        if doomed.exists():
            assert doomed.read_text() == "to be deleted\n"
            states.append("old")
        else:
            states.append("new")
        outcomes[
            "all-new" if set(states) == {"new"} else "all-old" if set(states) == {"old"} else "mixed"
        ] += 1
        expected = {*olds, "added.txt", "doomed.txt"}
        leftovers += [f"iter{iteration}/{p.name}" for p in workspace.iterdir() if p.name not in expected]
        torn += len(check_rollouts(home, allow_torn_last=True).torn)
    FINDINGS["apply_patch"] = {
        "seed": seed,
        "iterations": ITERATIONS,
        "files_per_patch": FILES + 2,
        "outcomes": dict(outcomes),
        "kill_moments": dict(moments),
        "half_written_files": 0,
        "leftover_files": leftovers,
        "torn_rollout_lines": torn,
    }
    print(f"\n[reliability] apply_patch under kill -9: {FINDINGS['apply_patch']}")


def test_zz_report_crash_findings(tmp_path: Path) -> None:
    """Runs last in this module: the findings of the tests above."""
    record_numbers("crash_safety", FINDINGS, tmp_path)
