"""The synchronous handshake phase answers in order and hands everything else over intact."""

from __future__ import annotations

import json
import os

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
