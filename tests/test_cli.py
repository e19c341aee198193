"""The command line: logging to stderr and the 0600 log file, bad options, broken config."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

HANDSHAKE = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
    b'"capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n'
    b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope"}}\n'
)


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CODEX")}
    full_env.update(CODEX_HOME=str(home), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "codex_mcp", *args],
        input=HANDSHAKE,
        capture_output=True,
        env=full_env,
        timeout=60,
    )


def test_log_file_is_created_private_and_stdout_stays_protocol_only(tmp_path: Path) -> None:
    proc = run(tmp_path, "--log-file", "--log-level", "debug")
    assert proc.returncode == 0, proc.stderr
    log = tmp_path / "log" / "codex-mcp.log"
    assert log.is_file()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert log.read_text().strip(), "nothing was logged"
    assert b"DEBUG" in proc.stderr, "--log-level debug did not reach stderr"
    for line in proc.stdout.splitlines():
        assert line.startswith(b'{"jsonrpc":"2.0"'), f"non-protocol output on stdout: {line[:200]!r}"


def test_log_level_from_the_environment(tmp_path: Path) -> None:
    quiet = run(tmp_path)
    loud = run(tmp_path, env={"CODEX_MCP_LOG": "debug"})
    assert b"DEBUG" not in quiet.stderr and b"DEBUG" in loud.stderr


def test_log_file_from_config(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[codex_mcp]\nlog_file = true\n")
    assert run(tmp_path).returncode == 0
    assert (tmp_path / "log" / "codex-mcp.log").is_file()


def test_bad_log_level_and_bad_override_are_clear_errors(tmp_path: Path) -> None:
    bad_level = run(tmp_path, "--log-level", "chatty")
    assert bad_level.returncode == 2 and b"chatty" in bad_level.stderr and bad_level.stdout == b""
    bad_override = run(tmp_path, "-c", "no_equals_sign")
    assert bad_override.returncode == 2 and b"no_equals_sign" in bad_override.stderr
    assert bad_override.stdout == b""


def test_broken_config_stops_the_server_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('model = "m"\napproval_policy = "sometimes"\n')
    proc = run(tmp_path)
    assert proc.returncode == 2 and proc.stdout == b""
    message = proc.stderr.decode()
    assert "config.toml:2" in message and "approval_policy" in message and "sometimes" in message
