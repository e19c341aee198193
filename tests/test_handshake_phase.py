"""The synchronous handshake phase answers in order and hands everything else over intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from codex_mcp.handshake import ConnectionState, run_handshake


def _run(
    lines: list[bytes], close: bool = True
) -> tuple[bytes, bool, list[dict[str, object]], ConnectionState]:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    os.write(in_w, b"".join(lines))
    if close:
        os.close(in_w)
    state = ConnectionState(version="9.9.9")
    try:
        pending, eof = run_handshake(in_r, out_w, state)
    finally:
        os.close(out_w)
        os.close(in_r)
        if not close:
            os.close(in_w)
    out = b""
    while chunk := os.read(out_r, 65536):
        out += chunk
    os.close(out_r)
    return pending, eof, [json.loads(x) for x in out.splitlines()], state


INIT = (
    b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26",'
    b'"capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}}\n'
)


def test_answers_handshake_and_stops_at_the_first_other_message() -> None:
    call = b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"codex"}}\n'
    pending, eof, replies, state = _run(
        [
            INIT,
            b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n',
            b"\n",
            b'{"jsonrpc":"2.0","id":"p","method":"ping"}\n',
            b'{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n',
            b"{broken\n",
            call,
            b'{"jsonrpc":"2.0","id":4,"method":"ping"}\n',
        ],
        close=False,
    )
    assert [r.get("id") for r in replies] == [0, "p", 2, None]
    assert replies[0]["result"]["protocolVersion"] == "2025-03-26"
    assert replies[0]["result"]["serverInfo"]["version"] == "9.9.9"
    assert [t["name"] for t in replies[2]["result"]["tools"]] == ["codex", "codex-reply"]
    assert replies[3]["error"]["code"] == -32700
    assert state.initialized and state.supports_elicitation
    assert pending == call + b'{"jsonrpc":"2.0","id":4,"method":"ping"}\n' and not eof


def test_eof_ends_the_phase_with_a_partial_line_kept() -> None:
    pending, eof, replies, _ = _run([INIT, b'{"jsonrpc":"2.0","id":9,"method":"pi'])
    assert eof and pending == b'{"jsonrpc":"2.0","id":9,"method":"pi'
    assert [r["id"] for r in replies] == [0]


def test_responses_and_cancellations_are_left_for_the_loop() -> None:
    response = b'{"jsonrpc":"2.0","id":0,"result":{}}\n'
    pending, _eof, replies, _ = _run([response])
    assert pending == response and replies == []


HANDSHAKE_PROBE = """
import json, sys
from codex_mcp import handshake
from codex_mcp.jsonrpc import Request

for version in ("2025-11-25", "2025-06-18"):
    state = handshake.ConnectionState(version="1")
    params = {"protocolVersion": version, "capabilities": {"elicitation": {}}, "clientInfo": {}}
    for rid, method in enumerate(("initialize", "tools/list", "ping", "resources/list")):
        answer = handshake.answer_request(state, Request(id=rid, method=method, params=params))
        assert answer is not None and "result" in answer, answer
    assert state.supports_elicitation
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_handshake_path_imports_no_heavy_dependency() -> None:
    """Answering initialize / tools/list / ping at either revision pulls in neither pydantic nor
    the async stack nor the HTTP client: they would cost the client's start-up measurement."""
    proc = subprocess.run([sys.executable, "-c", HANDSHAKE_PROBE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    assert "codex_mcp" in loaded
    assert loaded.isdisjoint(
        {"pydantic", "pydantic_core", "anyio", "httpx", "httpcore", "h11", "mcp_types_gen"}
    )
