"""Driving Claude Code headless (`claude -p`) against our server, for the client matrix.

`Claude.run` starts the installed client with only an `--mcp-config` of ours, a throw-away
HOME and config dir, the scripted Anthropic API as its model, and the switches that stop
its background traffic; it returns the `--output-format json` summary and fails the test
with the client's output and debug log when the run did not succeed.  The other helpers
read what the client put in front of its model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.clients_support import SERVER_COMMAND, Installed, clean_env, describe, run_client, tail
from tests.support.anthropic_mock import AnthropicMock, MessagesRequest, Reply, tool_use

ENTRY = "node_modules/.bin/claude"
"""The npm bin link; the package's postinstall puts the native binary for this platform there."""
SERVER = "codex"
CODEX = f"mcp__{SERVER}__codex"
REPLY = f"mcp__{SERVER}__codex-reply"
RUN_TIMEOUT = 120.0
UNKNOWN_TOKEN = "progress notification for an unknown token"
"""What Claude Code's debug log says when progress raced the response it belongs to."""
THREAD_LINE = re.compile(r"^threadId: (\S+)$", re.MULTILINE)


@dataclass
class ClaudeRun:
    output: dict[str, Any]
    """The `--output-format json` summary: `result` (the final text), `is_error`, ..."""
    seconds: float


@dataclass
class Claude:
    installed: Installed
    api: AnthropicMock
    tmp: Path

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in clean_env().items()
            if not k.startswith(("ANTHROPIC_", "CLAUDE_", "MCP_", "DISABLE_"))
        }
        home = self.tmp / "claude-home"
        home.mkdir(exist_ok=True)
        env.update(
            HOME=str(home),
            CLAUDE_CONFIG_DIR=str(home / ".claude"),
            ANTHROPIC_BASE_URL=self.api.base_url,
            ANTHROPIC_API_KEY="sk-ant-test-not-a-real-key",
            # Offline: no auto-update, telemetry, error reports or other background traffic.
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
            DISABLE_AUTOUPDATER="1",
            DISABLE_TELEMETRY="1",
            DISABLE_ERROR_REPORTING="1",
        )
        return env

    def run(self, prompt: str, server: dict[str, Any], cwd: Path) -> ClaudeRun:
        config = self.tmp / "mcp.json"
        config.write_text(json.dumps({"mcpServers": {SERVER: server}}, indent=2))
        debug = self.tmp / "claude-debug.log"
        argv = [
            self.installed.path / ENTRY,
            "-p",
            prompt,
            "--mcp-config",
            config,
            "--strict-mcp-config",
            "--allowedTools",
            f"mcp__{SERVER}",
            "--output-format",
            "json",
            "--debug-file",
            debug,
        ]
        done, seconds = run_client(argv, RUN_TIMEOUT, env=self.env(), cwd=cwd)
        print(f"claude -p: {seconds:.2f} s, {len(self.api.requests)} model requests")
        report = describe(done)
        if debug.exists():
            report += f"\n--- claude debug log ---\n{tail(debug.read_text(errors='replace'), 6000)}"
        if self.api.failures:
            report += f"\n--- mock API step failures ---\n{self.api.failures}"
        assert done.returncode == 0, report
        # The TypeScript SDK handles a response at once and a notification a moment later: a
        # progress notification read together with its call's response finds its token gone.
        debug_text = debug.read_text(errors="replace") if debug.exists() else ""
        assert UNKNOWN_TOKEN not in debug_text, report
        output = json.loads(done.stdout)
        assert output.get("is_error") is False, report
        assert self.api.failures == [] and self.api.unscripted == 0, report
        return ClaudeRun(output, seconds)


def stdio_server(codex_home: Path) -> dict[str, Any]:
    return {
        "type": "stdio",
        "command": str(SERVER_COMMAND),
        "args": [],
        "env": {"CODEX_HOME": str(codex_home), "MOCK_API_KEY": "test-key"},
    }


def structured(request: MessagesRequest, tool_use_id: str) -> dict[str, Any]:
    """What the model was shown for a successful call: the `structuredContent` JSON."""
    result = request.result_for(tool_use_id)
    assert result is not None, f"no tool result for {tool_use_id}"
    assert not result.is_error, result
    shown = json.loads(result.text)
    assert isinstance(shown, dict), shown
    return shown


def reply_to_thread(seen_in: str, prompt: str) -> tuple[str, Any]:
    """A model step that calls `codex-reply` with the threadId it was shown for `seen_in`
    (the success JSON, or the `threadId:` line of an error text); returns (id, step)."""
    use = tool_use(REPLY, {})

    def step(request: MessagesRequest) -> Reply:
        result = request.result_for(seen_in)
        if result is None:
            raise AssertionError(f"no tool result for {seen_in}")
        if result.is_error:
            found = THREAD_LINE.search(result.text)
            if found is None:
                raise AssertionError(f"the error text the model saw has no threadId: {result.text!r}")
            thread_id = found.group(1)
        else:
            thread_id = str(json.loads(result.text)["threadId"])
        return Reply(tool_uses=[{**use, "input": {"threadId": thread_id, "prompt": prompt}}])

    return str(use["id"]), step
