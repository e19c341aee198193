"""A hostile network peer against MCP tasks over `--http`, judged from outside.

Tasks are bound to the client that created them (its address and local user): another
client holding a stolen task id can neither read, wait for, nor cancel it, and cannot list
it; guessing ids gets nothing; one client filling its task quota takes no room from another;
absurd `ttl`s are clamped.  Judged by what the victim still gets (its task runs on, its
result arrives) and the server still answering.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from codex_mcp.tools.tasks import MAX_ACTIVE_TASKS, MAX_TTL_MS, MIN_TTL_MS
from tests.security.http_support import Spawn, Target, assert_serving, target_factory
from tests.support.model_turns import text_turn
from tests.support.scripted_model import ScriptedModel

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

MODERN = "2025-11-25"
FULL = {"sandbox": "danger-full-access", "approval-policy": "never"}
VICTIM, ATTACKER = "127.0.0.1", "127.0.0.2"


@pytest.fixture
def spawn(codex_home: Path, workspace: Path) -> Iterator[Spawn]:
    with target_factory(codex_home, workspace) as factory:
        yield factory


class Peer:
    """One session over 2025-11-25 from a given loopback address."""

    def __init__(self, target: Target, source: str) -> None:
        self.target = target
        self.http = httpx.Client(
            timeout=30, trust_env=False, transport=httpx.HTTPTransport(local_address=source)
        )
        self.session: str | None = None
        init = self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": MODERN,
                    "capabilities": {},
                    "clientInfo": {"name": "hostile-task-peer", "version": "0"},
                },
            }
        )
        assert init.status_code == 200, init.text
        self.session = init.headers["mcp-session-id"]
        assert self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202

    def post(self, message: dict[str, Any]) -> httpx.Response:
        head = {
            "content-type": "application/json",
            "accept": "application/json",  # JSON only: tasks/result is answered without a stream
            "mcp-protocol-version": MODERN,
            **self.target.auth(),
        }
        if self.session is not None:
            head["mcp-session-id"] = self.session
        return self.http.post(self.target.url, content=json.dumps(message), headers=head)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            message["params"] = params
        response = self.post(message)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def start_task(self, prompt: str, ttl: Any = 60_000) -> dict[str, Any]:
        params = {"name": "codex", "arguments": {"prompt": prompt, **FULL}, "task": {"ttl": ttl}}
        return self.call("tools/call", params)

    def close(self) -> None:
        self.http.close()


def not_found(reply: dict[str, Any]) -> bool:
    return reply.get("error", {}).get("code") == -32602


def test_a_stolen_task_id_opens_nothing_for_another_client(
    spawn: Spawn, scripted_model: ScriptedModel
) -> None:
    target = spawn()
    gate = scripted_model.hold(then=text_turn("the victim's answer"))
    victim, attacker = Peer(target, VICTIM), Peer(target, ATTACKER)
    try:
        task_id = victim.start_task("private work")["result"]["task"]["taskId"]
        gate.wait_arrived()
        tries = 0
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            assert not_found(attacker.call(method, {"taskId": task_id})), method
            tries += 1
        assert attacker.call("tasks/list")["result"]["tasks"] == []
        assert victim.call("tasks/get", {"taskId": task_id})["result"]["status"] == "working"
        gate.release()
        result = victim.call("tasks/result", {"taskId": task_id})["result"]
        assert result["structuredContent"]["content"] == "the victim's answer"
        print(f"stolen-id attempts: {tries} tried, 0 succeeded")
    finally:
        victim.close()
        attacker.close()
    assert_serving(target)


@pytest.mark.parametrize(
    "task_id",
    ["", "0", "a" * 100_000, "../../etc/passwd", "\u0000", 7, None, ["x"], {"taskId": "x"}, True],
)
def test_guessed_or_malformed_task_ids_get_nothing(spawn: Spawn, task_id: Any) -> None:
    target = spawn()
    peer = Peer(target, ATTACKER)
    try:
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            assert not_found(peer.call(method, {"taskId": task_id})), method
        assert not_found(peer.call("tasks/list", {"cursor": "dGFza3M6LTE="}))
    finally:
        peer.close()
    assert_serving(target)


def test_one_clients_task_quota_takes_no_room_from_another(
    spawn: Spawn, scripted_model: ScriptedModel
) -> None:
    target = spawn()
    gates = [scripted_model.hold(then=text_turn("held")) for _ in range(MAX_ACTIVE_TASKS)]
    flood, victim = Peer(target, ATTACKER), Peer(target, VICTIM)
    try:
        ids = [flood.start_task(f"fill {n}")["result"]["task"]["taskId"] for n in range(MAX_ACTIVE_TASKS)]
        refused = flood.start_task("one more")
        assert refused["error"]["code"] == -32600
        scripted_model.text("the victim still gets its task")
        for gate in gates:
            gate.wait_arrived(1)
        mine = victim.start_task("mine")["result"]["task"]["taskId"]
        result = victim.call("tasks/result", {"taskId": mine})["result"]
        assert result["structuredContent"]["content"] == "the victim still gets its task"
        for task_id in ids:
            assert flood.call("tasks/cancel", {"taskId": task_id})["result"]["status"] == "cancelled"
    finally:
        for gate in gates:
            gate.release()
        flood.close()
        victim.close()
    assert_serving(target)


@pytest.mark.parametrize(("ttl", "kept"), [(10**15, MAX_TTL_MS), (-5, MIN_TTL_MS), (0, MIN_TTL_MS)])
def test_absurd_ttls_are_clamped(spawn: Spawn, scripted_model: ScriptedModel, ttl: int, kept: int) -> None:
    target = spawn()
    scripted_model.text("done")
    peer = Peer(target, ATTACKER)
    try:
        task = peer.start_task("ttl", ttl=ttl)["result"]["task"]
        assert task["ttl"] == kept
        peer.call("tasks/result", {"taskId": task["taskId"]})
    finally:
        peer.close()


@pytest.mark.parametrize("ttl", ["forever", 1.5, {"ms": 1}])
def test_a_malformed_task_field_is_refused_before_anything_runs(
    spawn: Spawn, scripted_model: ScriptedModel, ttl: Any
) -> None:
    target = spawn()
    peer = Peer(target, ATTACKER)
    try:
        reply = peer.start_task("never", ttl=ttl)
        assert reply["error"]["code"] == -32602
        assert peer.call("tasks/list")["result"]["tasks"] == []
        assert scripted_model.requests == [], "nothing reached the model"
    finally:
        peer.close()
    assert_serving(target)
