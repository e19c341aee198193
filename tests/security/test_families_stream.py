"""The item layer under a hostile provider, and who-is-asking headers under a hostile client.

A provider's stream decides how many output items begin (each one an `item_started`) and what
their ids are; an MCP client decides the `clientInfo` that goes into the User-Agent.  Judged
from outside: the server's peak RSS and its answers to `ping` during a flood, and the headers
the model provider receives.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.robust_support import (
    PEAK_RSS_LIMIT_MB,
    PingMonitor,
    Spawner,
    assert_no_traceback,
    completed,
    created,
    result_text,
    run_codex,
    spawner,
    sse,
    vm_hwm_mb,
)
from tests.support.raw_client import RawClient
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, initialize

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit and /proc"),
]


@pytest.fixture
def spawn(
    codex_home: Path, workspace: Path, tmp_path: Path, scripted_model: ScriptedModel
) -> Iterator[Spawner]:
    with spawner(codex_home, workspace, tmp_path, scripted_model) as s:
        yield s


def items_opened_and_never_closed(n: int, id_chars: int, kind: str) -> Iterator[bytes]:
    yield created()
    for i in range(n):
        item = {"type": kind, "id": f"{i:08d}" + "x" * id_chars, "role": "assistant"}
        yield sse({"type": "response.output_item.added", "item": item})
    done = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "end"}]}
    yield sse({"type": "response.output_item.done", "item": done})
    yield completed()


@pytest.mark.parametrize(
    ("n", "id_chars", "kind"),
    [(200_000, 300, "message"), (50_000, 4_000, "web_search_call"), (100_000, 300, "reasoning")],
)
def test_a_flood_of_items_that_never_complete_keeps_memory_bounded(
    scripted_model: ScriptedModel, spawn: Spawner, n: int, id_chars: int, kind: str
) -> None:
    """Without the bounds (items announced per response, items remembered per turn), 200,000
    of them cost the server ~140 MB and put `ping` seconds behind the flood of `item_started`
    (measured); with them, a few MB and milliseconds."""
    client = spawn()
    before = vm_hwm_mb(client.proc.pid)
    scripted_model.raw(lambda: items_opened_and_never_closed(n, id_chars, kind))
    with PingMonitor(client) as monitor:
        _, result = run_codex(client, 180)
    worst = monitor.check()
    peak = vm_hwm_mb(client.proc.pid)
    print(f"{n} x {kind}: worst ping {worst:.2f} s, peak RSS {before:.0f} -> {peak:.0f} MB")
    assert result_text(result) == "end", result
    assert peak < PEAK_RSS_LIMIT_MB
    assert peak - before < 60, f"the flood grew the server by {peak - before:.0f} MB"
    assert_no_traceback(client)


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("evil\r\nX-Injected: 1", "1.0"),
        ("ok", "1.0\r\nX-Injected: 1"),
        ("\u202eevil\x00name", "\x7f" * 10_000),
    ],
)
def test_a_hostile_client_name_cannot_shape_the_request_headers(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, name: str, version: str
) -> None:
    client: RawClient = spawn_server(init=False)
    response = client.call(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": name, "version": version},
        },
    )
    assert "result" in response, response
    client.notify("notifications/initialized")
    scripted_model.text("fine")
    rid = client.call_tool("codex", {"prompt": "hi", "sandbox": "read-only", "cwd": str(workspace)})
    client.wait_response(rid, 30)
    headers = scripted_model.requests[0].headers
    assert "x-injected" not in headers
    agent = headers["user-agent"]
    assert agent.isascii() and agent.isprintable() and len(agent) < 400, agent
    assert all(v.isascii() and "\n" not in v and "\r" not in v for v in headers.values())
    metadata = json.loads(headers["x-codex-turn-metadata"])
    assert set(metadata) >= {"thread_id", "turn_id", "installation_id"}


def test_initialize_with_a_normal_client_names_it(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    client: RawClient = spawn_server(init=False)
    initialize(client)
    scripted_model.text("fine")
    rid = client.call_tool("codex", {"prompt": "hi", "sandbox": "read-only", "cwd": str(workspace)})
    client.wait_response(rid, 30)
    assert scripted_model.requests[0].headers["user-agent"].endswith("(codex-mcp-tests; 0.0.1)")
