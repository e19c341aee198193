"""The hostile-model harness: script a model that attacks, run it through the real server,
then judge from outside.

A test queues the attacker's tool calls on the scripted model, runs one `codex` call under a
given approval policy and sandbox, and then checks effects that only the outside world can
see: a file outside the workspace, a listener, the server answering `ping`.  "Outside" lives
under $HOME, because workspace-write also allows the temp directories.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.raw_client import RawClient, result_of

PING_TIMEOUT = 5.0


@contextmanager
def outside_dir(prefix: str = ".codex-mcp-attack-") -> Iterator[Path]:
    """A directory outside every writable root of the tests' sessions (under $HOME)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=Path.home()))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_call(
    client: RawClient,
    *,
    approval: str = "never",
    sandbox: str | None = "workspace-write",
    timeout: float = 60.0,
    **arguments: Any,
) -> dict[str, Any]:
    """One `codex` call; returns its result (isError included)."""
    args: dict[str, Any] = {"prompt": "go", "approval-policy": approval, **arguments}
    if sandbox is not None:
        args["sandbox"] = sandbox
    rid = client.call_tool("codex", args)
    return result_of(client.wait_response(rid, timeout))


def assert_alive(client: RawClient, timeout: float = PING_TIMEOUT) -> None:
    """The server still answers `ping` within `timeout` seconds."""
    rid = client.request("ping")
    response = client.wait_response(rid, timeout)
    assert response.get("result") == {}, response
