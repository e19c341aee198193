"""A client that abuses its own response streams: it never reads an SSE stream while the
call floods output into it, or floods the connection with bytes while a stream runs.

What it may stall is its own session; the server stays responsive to everyone else, and its
memory stays bounded by the stream queues (a few thousand events), not by the output.
"""

from __future__ import annotations

import fcntl
import json
import socket
import struct
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.http_support import (
    MIB,
    Spawn,
    Target,
    assert_serving,
    connect,
    end_session,
    open_session,
    peak_rss_mib,
    request_head,
    send_quietly,
    target_factory,
)
from tests.support.raw_client import wait_until
from tests.support.scripted_model import ScriptedModel

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, uses the sandbox"),
    pytest.mark.timeout(120),
]

STALLED_RSS_MIB = 200
"""One stalled stream holds at most its queues: ~2,300 events of 8 KiB output each."""


@pytest.fixture
def spawn(codex_home: Path, workspace: Path) -> Iterator[Spawn]:
    with target_factory(codex_home, workspace) as factory:
        yield factory


def _tool_call(target: Target, session: str, request_id: int, prompt: str) -> bytes:
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {
                "name": "codex",
                "arguments": {"prompt": prompt, "sandbox": "workspace-write", "approval-policy": "never"},
            },
        }
    ).encode()
    extra = {"content-length": str(len(body)), "mcp-session-id": session, "accept": "text/event-stream"}
    return request_head(target, extra=extra, authorized=True) + body


def _unread_bytes(sock: socket.socket) -> int:
    raw = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])


def test_a_stream_never_read_stalls_only_its_own_session(scripted_model: ScriptedModel, spawn: Spawn) -> None:
    """The call prints 200 MB while its client never reads the SSE stream: other clients are
    served throughout, and the server buffers a bounded amount."""
    scripted_model.shell("head -c 200000000 /dev/zero | tr '\\0' x", timeout_ms=120_000)
    scripted_model.text("done")
    target = spawn()
    session = open_session(target)
    with connect(target) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        send_quietly(sock, _tool_call(target, session, 1, "flood your own stream"))
        # The stall is in effect once our receive buffer is full and we still do not read.
        wait_until(lambda: _unread_bytes(sock) > 32 * 1024, 30, "the stream to fill our buffer")
        for _ in range(3):
            assert_serving(target)
        assert peak_rss_mib(target.pid) < STALLED_RSS_MIB
    end_session(target, session)
    assert_serving(target)
    assert peak_rss_mib(target.pid) < STALLED_RSS_MIB


def test_flooding_a_streaming_connection_drops_it(scripted_model: ScriptedModel, spawn: Spawn) -> None:
    """While its call streams, the client sends 64 MiB of garbage on the same connection:
    the server reads at most a bounded amount ahead, then treats the client as gone."""
    gate = scripted_model.hold(then=None)
    target = spawn()
    session = open_session(target)
    with connect(target) as sock:
        send_quietly(sock, _tool_call(target, session, 1, "hold"))
        gate.wait_arrived(1)
        sent = 0
        junk = b"G" * MIB
        while sent < 64 * MIB and send_quietly(sock, junk):
            sent += MIB
        assert sent < 64 * MIB, "the server kept reading pipelined bytes without bound"
        assert_serving(target)
    gate.release()
    end_session(target, session)
    assert_serving(target)
    assert peak_rss_mib(target.pid) < STALLED_RSS_MIB
