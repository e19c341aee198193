"""Helpers for the approval/safety and patch-writer attack tests (`test_policy_*`).

Every check is made from outside the server: files outside the workspace, the server
answering `ping`, its peak memory, and what the model was told.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.sandbox.select import probe_backends
from tests.security.harness import assert_alive, run_call
from tests.support.raw_client import RawClient, text_of
from tests.support.scripted_model import ScriptedModel

BACKENDS = ("bwrap", "landlock")


def require_backend(name: str) -> dict[str, str]:
    """The environment that forces sandbox backend `name`; skips when it is unavailable."""
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux sandbox backends")
    if name not in probe_backends().available():
        pytest.skip(f"sandbox backend {name} is not available here")
    return {"CODEX_MCP_SANDBOX_BACKEND": name}


def patch(*body: str) -> str:
    return "\n".join(["*** Begin Patch", *body, "*** End Patch"])


def add_file(path: str | Path, *lines: str) -> str:
    return patch(f"*** Add File: {path}", *(f"+{line}" for line in (lines or ("x",))))


def delete_file(path: str | Path) -> str:
    return patch(f"*** Delete File: {path}")


def update_file(path: str | Path, old: str, new: str, move_to: str | Path | None = None) -> str:
    move = [f"*** Move to: {move_to}"] if move_to is not None else []
    return patch(f"*** Update File: {path}", *move, "@@", f"-{old}", f"+{new}")


def heredoc(body: str) -> str:
    return f"apply_patch <<'EOF'\n{body}\nEOF\n"


def assert_clean(client: RawClient, result: dict[str, Any]) -> None:
    """The call finished without an internal error, and the server still answers."""
    assert not result.get("isError"), result
    assert "internal error" not in text_of(result), result
    for params in client.notifications("codex/event"):
        msg = params.get("params", {}).get("msg", {})
        if msg.get("type") == "error":
            assert "internal error" not in str(msg.get("message")), msg
    assert_alive(client)


def elicitation_kinds(client: RawClient) -> list[str]:
    return [r["params"].get("codex_elicitation", "") for r in client.server_requests()]


def exit_code(model: ScriptedModel, call_id: str) -> int | None:
    """The exit code the model was told for an exec-style call (None: not a command result)."""
    output = model.call_output(call_id)
    try:
        return int(json.loads(output)["metadata"]["exit_code"])
    except (ValueError, KeyError, TypeError):
        pass
    if output.startswith("Exit code: "):
        return int(output.split("\n", 1)[0].removeprefix("Exit code: "))
    return None


def run_turn(
    client: RawClient, *, approval: str, sandbox: str | None = "workspace-write", timeout: float = 90.0
) -> dict[str, Any]:
    result = run_call(client, approval=approval, sandbox=sandbox, timeout=timeout)
    assert_clean(client, result)
    return result


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set size (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def limit_address_space(pid: int, limit_bytes: int) -> None:
    """Cap the server's address space, so a regression fails the test instead of the machine."""
    import resource

    resource.prlimit(pid, resource.RLIMIT_AS, (limit_bytes, limit_bytes))


# --- the racing attacker --------------------------------------------------------------------------

_SWAPPER = textwrap.dedent(
    """
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    RENAME_EXCHANGE = 2
    AT_FDCWD = -100
    a, b, ready = (p.encode() for p in sys.argv[1:4])
    libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    open(ready, "w").close()
    swaps = 0
    while True:
        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0:
            swaps += 1
    """
)


def renameat2_available() -> bool:
    return sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "renameat2")


@contextmanager
def swapping(a: Path, b: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process that atomically exchanges `a` and `b` (a directory and a symlink, say) in a
    tight loop until the block ends, as a process left behind by the model could."""
    ready = a.parent / f".swapper-ready-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, "-c", _SWAPPER, str(a), str(b), str(ready)])
    try:
        from tests.support.raw_client import wait_until

        wait_until(lambda: ready.exists() or proc.poll() is not None, 10, "the swapper to start")
        assert proc.poll() is None, "the swapper died"
        ready.unlink()
        yield proc
    finally:
        proc.kill()
        proc.wait(5)
