"""The turn loop in process, from explicit dependencies: a fake model, a real history file,
events and approvals captured by plain callables.  No thread, no server, no HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.agent.approvals import Decision, SessionGrants
from codex_mcp.agent.config import CallOverrides, load_config
from codex_mcp.agent.handlers.registry import SERVED_SHELL_KINDS
from codex_mcp.agent.history import History
from codex_mcp.agent.items import text_message
from codex_mcp.agent.model.types import Completed, OutputItemDone, OutputTextDelta, Prompt, TokenUsage
from codex_mcp.agent.request import make_contract
from codex_mcp.agent.tokens import TokenAccount
from codex_mcp.agent.turn import TurnDeps, TurnFailed, run_turn
from codex_mcp.errors import ModelError

pytestmark = pytest.mark.anyio


class FakeModel:
    """Answers each request with the next scripted round; records the prompts."""

    def __init__(self, *rounds: list[Any]) -> None:
        self.rounds = list(rounds)
        self.prompts: list[Prompt] = []

    async def stream(self, prompt: Prompt, **_: Any) -> AsyncIterator[Any]:
        self.prompts.append(prompt)
        for event in self.rounds.pop(0):
            if isinstance(event, Exception):
                raise event
            yield event


def answer(text: str) -> list[Any]:
    item = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
    return [OutputTextDelta(text), OutputItemDone(item), Completed("r", TokenUsage(total_tokens=7))]


def call(name: str, arguments: dict[str, Any], call_id: str) -> list[Any]:
    item = {"type": "function_call", "name": name, "call_id": call_id, "arguments": json.dumps(arguments)}
    return [OutputItemDone(item), Completed("r", TokenUsage(total_tokens=3))]


class Harness:
    def __init__(self, tmp_path: Path, model: FakeModel, **typed: Any) -> None:
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        self.config = load_config(tmp_path / "home", cwd=work, typed=CallOverrides(**typed), env={})
        self.history = History.create(tmp_path / "home", "thread-1", {"cwd": str(work)})
        self.events: list[dict[str, Any]] = []
        self.asked: list[dict[str, Any]] = []
        self.decision = Decision("denied")
        self.model = model

    async def emit(self, msg: Any) -> None:
        self.events.append(msg)

    async def ask(self, msg: Any) -> Decision:
        self.asked.append(msg)
        return self.decision

    def deps(self) -> TurnDeps:
        return TurnDeps(
            thread_id="thread-1",
            config=self.config,
            history=self.history,
            model=self.model,
            contract=make_contract(
                self.config, env={}, installation_id="inst", shell_kinds=SERVED_SHELL_KINDS
            ),
            tokens=TokenAccount(1000, None),
            emit=self.emit,
            ask_approval=self.ask,
            grants=SessionGrants.empty(),
        )

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


async def test_a_text_answer_is_one_round_with_its_events_and_history(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeModel(answer("hello")))
    with anyio.fail_after(5):
        last = await run_turn(h.deps(), "turn-1", [text_message("user", "hi")])
    assert last == "hello"
    assert h.types == [
        "task_started",
        "item_started",
        "item_completed",
        "user_message",
        "item_started",
        "agent_message_content_delta",
        "item_completed",
        "agent_message",
        "token_count",
        "task_complete",
    ]
    started, completed = h.events[4], h.events[6]
    assert started["item"] == {
        "type": "AgentMessage",
        "id": started["item"]["id"],
        "content": [{"type": "Text", "text": ""}],
    }
    assert completed["item"]["content"] == [{"type": "Text", "text": "hello"}]
    assert completed["started_at_ms"] == started["started_at_ms"] <= completed["completed_at_ms"]
    assert h.events[5]["item_id"] == started["item"]["id"] and h.events[5]["delta"] == "hello"
    assert h.events[-1]["last_agent_message"] == "hello"
    assert h.events[-2]["info"]["total_token_usage"]["total_tokens"] == 7
    assert [i["role"] for i in h.history.items] == ["user", "assistant"]
    rollout = h.history.rollout_path.read_text()
    assert '"turn_context"' in rollout and '"output_text", "text": "hello"' in rollout


async def test_a_tool_call_runs_and_its_output_reaches_the_next_round(tmp_path: Path) -> None:
    plan = {"plan": [{"step": "look", "status": "in_progress"}]}
    model = FakeModel(call("update_plan", plan, "c1"), answer("planned"))
    h = Harness(tmp_path, model)
    with anyio.fail_after(5):
        await run_turn(h.deps(), "turn-1", [text_message("user", "plan it")])
    assert "plan_update" in h.types
    second = model.prompts[1].input
    (output,) = [i for i in second if i.get("call_id") == "c1" and i["type"] == "function_call_output"]
    assert output["output"] == "Plan updated" and output["id"].startswith("fco_")


async def test_a_command_waits_for_the_approval_callable_and_a_denial_reaches_the_model(
    tmp_path: Path,
) -> None:
    model = FakeModel(call("shell", {"command": ["bash", "-lc", "echo hi > x"]}, "c1"), answer("ok"))
    h = Harness(tmp_path, model, approval_policy="untrusted", sandbox_mode="danger-full-access")
    with anyio.fail_after(10):
        await run_turn(h.deps(), "turn-1", [text_message("user", "write")])
    assert [a["type"] for a in h.asked] == ["exec_approval_request"]
    assert h.asked[0]["command"] == ["bash", "-lc", "echo hi > x"] and h.asked[0]["turn_id"] == "turn-1"
    output = model.prompts[1].input[-1]
    assert output["call_id"] == "c1" and output["output"].startswith("exec command rejected by user")
    assert not (h.config.cwd / "x").exists()


async def test_a_model_error_ends_the_turn_with_an_error_event(tmp_path: Path) -> None:
    h = Harness(tmp_path, FakeModel([ModelError("the provider is down", "internal_server_error")]))
    with anyio.fail_after(5), pytest.raises(TurnFailed):
        await run_turn(h.deps(), "turn-1", [text_message("user", "hi")])
    assert h.types[-1] == "error" and h.events[-1]["message"] == "the provider is down"
