"""Servers for the reliability tests: a config with retries and timeouts, spawning, checks.

Reuses `tests.support` (the raw client, the scripted model, the server environment) and
adds what the fault and crash tests need: provider retry settings, an elicitation timeout,
rollout integrity checks and a `codex-reply` resume check on a fresh server.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.raw_client import Policy, RawClient, result_of, text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import CALL_CEILING, ceiling_table, initialize, server_env

RESULTS_ENV = "CODEX_MCP_RELIABILITY_OUT"
"""When set, a directory where each reliability test also writes its measured numbers."""


def write_config(
    home: Path,
    model: ScriptedModel,
    *,
    request_max_retries: int = 0,
    stream_max_retries: int = 0,
    stream_idle_timeout_ms: int | None = None,
    elicitation_timeout_sec: float | None = None,
) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    server = (
        f"[codex_mcp]\nelicitation_timeout_sec = {elicitation_timeout_sec}\n"
        if elicitation_timeout_sec
        else "[codex_mcp]\n"
    )
    # The tests pass `sandbox: danger-full-access`, which a call may choose only where the
    # person's configuration allows it.
    server, _ = ceiling_table(CALL_CEILING, server)
    idle = f"stream_idle_timeout_ms = {stream_idle_timeout_ms}\n" if stream_idle_timeout_ms else ""
    path = home / "config.toml"
    path.write_text(
        f"""model = "mock-model"
model_provider = "mock"

{server}
[model_providers.mock]
name = "mock"
base_url = "{model.base_url}"
env_key = "MOCK_API_KEY"
wire_api = "responses"
request_max_retries = {request_max_retries}
stream_max_retries = {stream_max_retries}
{idle}""",
        encoding="utf-8",
    )
    return path


@dataclass
class Spawner:
    """Starts servers on one CODEX_HOME/workspace and kills whatever is left at the end."""

    home: Path
    workspace: Path
    logs: Path
    clients: list[RawClient] = field(default_factory=list)

    def spawn(
        self,
        *extra: str,
        policy: Policy = "accept-mcp",
        capabilities: dict[str, Any] | None = None,
        init: bool = True,
    ) -> RawClient:
        client = RawClient(
            [sys.executable, "-m", "codex_mcp", *extra],
            env=server_env(self.home),
            cwd=self.workspace,
            log_path=self.logs / f"server-{len(self.clients)}.stderr.log",
            policy=policy,
        )
        self.clients.append(client)
        if init:
            initialize(client, capabilities)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.kill()
            text = client.stderr_text()
            if text.strip():
                print(f"--- stderr of {client.log_path.name} ---\n{text[-4000:]}")


def rollout_files(home: Path) -> list[Path]:
    sessions = home / "sessions"
    return sorted(sessions.rglob("rollout-*.jsonl")) if sessions.is_dir() else []


def thread_id_of(path: Path) -> str:
    return path.name[: -len(".jsonl")][-36:]


@dataclass
class RolloutCheck:
    files: int = 0
    lines: int = 0
    torn: list[str] = field(default_factory=list)


def check_rollouts(home: Path, allow_torn_last: bool = False) -> RolloutCheck:
    """Every line of every rollout file is a JSON object (a torn last line only if allowed)."""
    check = RolloutCheck()
    for path in rollout_files(home):
        check.files += 1
        raw_lines = path.read_bytes().split(b"\n")
        if raw_lines and raw_lines[-1] == b"":
            raw_lines.pop()
        for number, raw in enumerate(raw_lines, 1):
            check.lines += 1
            try:
                obj = json.loads(raw)
                assert isinstance(obj, dict) and "type" in obj and "payload" in obj, obj
            except (ValueError, AssertionError):
                where = f"{path.name}:{number}: {raw[:200]!r}"
                if allow_torn_last and number == len(raw_lines):
                    check.torn.append(where)
                else:
                    raise AssertionError(f"rollout line is not a JSON record: {where}") from None
    return check


def user_prompts_in_rollout(path: Path) -> list[str]:
    texts = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        payload = line.get("payload") or {}
        if line.get("type") == "event_msg" and payload.get("type") == "user_message":
            texts.append(str(payload.get("message")))
    return texts


def resume_and_check(
    spawner: Spawner, model: ScriptedModel, thread_id: str, earlier_prompt: str, timeout: float = 20.0
) -> RawClient:
    """A fresh server continues `thread_id` with `codex-reply`; the model sees the old prompt."""
    assert model.pending_turns == 0, "a scripted turn is left over: the resume would not get the echo"
    client = spawner.spawn()
    before = len(model.requests)
    model.echo()
    rid = client.call_tool("codex-reply", {"threadId": thread_id, "prompt": "resumed after the fault"})
    result = result_of(client.wait_response(rid, timeout))
    assert not result.get("isError"), result
    assert text_of(result) == "echo: resumed after the fault"
    assert result["structuredContent"]["threadId"] == thread_id
    request = model.wait_requests(before + 1)[before]
    history = "\n".join(request.user_texts())
    assert earlier_prompt in history, f"the resumed history lacks {earlier_prompt!r}: {history[-2000:]}"
    client.close_stdin()
    assert client.wait_exit(15) == 0
    return client


def record_numbers(name: str, numbers: dict[str, Any], tmp_path: Path) -> None:
    """Print the measured numbers (visible with -s) and write them as JSON."""
    text = json.dumps(numbers, indent=2, sort_keys=True, default=str)
    print(f"\n[reliability] {name}: {text}")
    (tmp_path / f"{name}.json").write_text(text)
    out = os.environ.get(RESULTS_ENV)
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"{name}.json").write_text(text)
