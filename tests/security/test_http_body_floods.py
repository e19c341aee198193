"""A network peer sends `--http` more than it should: bodies without credentials, bodies
larger than the limit (declared, or chunked without end), many large bodies at once, huge
heads, and thousands of pipelined requests.

Nothing an unauthenticated peer sends is buffered: its request is answered from the head
alone.  Judged from outside: the answers (401 before the body was even sent, 413, 431,
503), the server's peak RSS, and a fresh authenticated client served during and after.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.security.http_support import (
    MIB,
    ResponseReader,
    Spawn,
    assert_serving,
    connect,
    json_bytes,
    open_session,
    peak_rss_mib,
    read_response,
    request_head,
    send_quietly,
    target_factory,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
    pytest.mark.timeout(120),
]

UNAUTHENTICATED_RSS_MIB = 100
"""24 unauthenticated 16 MiB bodies used to take the server from 46 to 577 MiB."""
AUTHENTICATED_RSS_MIB = 200
"""Authenticated bodies are bounded by the shared body budget (4 x the body limit)."""
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


@pytest.fixture
def spawn(codex_home: Path, workspace: Path) -> Iterator[Spawn]:
    with target_factory(codex_home, workspace) as factory:
        yield factory


def _send_in_threads(jobs: list[tuple[socket.socket, bytes]], chunk: int = MIB) -> None:
    """Send each socket its payload concurrently, ignoring a server that stops reading."""

    def send(sock: socket.socket, payload: bytes) -> None:
        view = memoryview(payload)
        for start in range(0, len(view), chunk):
            if not send_quietly(sock, view[start : start + chunk].tobytes()):
                return

    threads = [threading.Thread(target=send, args=job, daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a sender is still blocked: the server neither read nor closed"


def test_unauthenticated_bodies_are_never_buffered(spawn: Spawn) -> None:
    """24 connections without the token each send a 16 MiB body."""
    target = spawn(host="0.0.0.0")
    assert_serving(target)
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"' + b"x" * (16 * MIB - 64) + b'"}}'
    head = request_head(target, extra={"content-length": str(len(body))})
    with ExitStack() as stack:
        socks = [connect(target) for _ in range(24)]
        for sock in socks:
            stack.callback(sock.close)
            send_quietly(sock, head)
        # The answer comes from the head alone, before a byte of the body was sent.
        answers = [read_response(sock, 5.0) for sock in socks]
        assert all(a is not None and a.status == 401 for a in answers), answers
        _send_in_threads([(sock, body) for sock in socks])
        assert_serving(target)
    assert_serving(target)
    assert peak_rss_mib(target.pid) < UNAUTHENTICATED_RSS_MIB


def test_unauthenticated_chunked_bodies_without_end(spawn: Spawn) -> None:
    """Chunked bodies that never end, from peers without the token: answered 401 from the
    head, never read into memory, and the connection is dropped after a bounded linger."""
    target = spawn()
    head = request_head(target, extra={"transfer-encoding": "chunked"})
    chunk = b"%x\r\n%s\r\n" % (MIB, b"y" * MIB)
    with ExitStack() as stack:
        socks = [connect(target) for _ in range(16)]
        for sock in socks:
            stack.callback(sock.close)
            send_quietly(sock, head)
        answers = [read_response(sock, 5.0) for sock in socks]
        assert all(a is not None and a.status == 401 for a in answers), answers
        _send_in_threads([(sock, chunk * 40) for sock in socks])
        assert_serving(target)
    assert peak_rss_mib(target.pid) < UNAUTHENTICATED_RSS_MIB


def test_a_refused_preflight_or_wrong_path_reads_no_body(spawn: Spawn) -> None:
    """Other ways in without the token (another path, another method, a CORS preflight
    with a body) are answered from the head too; a 1 GiB declaration is never waited for."""
    target = spawn()
    huge = {"content-length": str(1024 * MIB)}
    cases = [
        request_head(target, "POST", huge, path="/other"),
        request_head(target, "PUT", huge),
        request_head(target, "DELETE", huge),
        request_head(target, "OPTIONS", huge),
        request_head(target, "GET", huge, path="/mcp?x=1"),
    ]
    for head in cases:
        with connect(target) as sock:
            send_quietly(sock, head)
            answer = read_response(sock, 5.0)
            assert answer is not None and answer.status in (401, 413), (head, answer)
            assert answer.headers.get("connection") == "close"
    assert_serving(target)


def test_oversized_bodies_are_refused_before_or_while_reading(spawn: Spawn) -> None:
    """With the token: a declared length over the limit gets 413 before any byte is sent;
    a chunked body is cut off as soon as it passes the limit."""
    target = spawn("--http-max-body", str(MIB))
    session = open_session(target)
    with connect(target) as sock:
        send_quietly(
            sock,
            request_head(
                target,
                extra={"content-length": str(64 * 1024 * MIB), "mcp-session-id": session},
                authorized=True,
            ),
        )
        answer = read_response(sock, 5.0)
        assert answer is not None and answer.status == 413
    with connect(target) as sock:
        extra = {"transfer-encoding": "chunked", "mcp-session-id": session}
        send_quietly(sock, request_head(target, extra=extra, authorized=True))
        piece = b"%x\r\n%s\r\n" % (64 * 1024, b"z" * 64 * 1024)
        sent = [0]

        def endless() -> None:
            while sent[0] < 256 * MIB and send_quietly(sock, piece):
                sent[0] += len(piece)

        sender = threading.Thread(target=endless, daemon=True)
        sender.start()
        answer = read_response(sock, 10.0)
        assert answer is not None and answer.status == 413
        sender.join(20)
        assert not sender.is_alive() and sent[0] < 256 * MIB, "the server kept reading past its limit"
    assert_serving(target)


def test_many_large_bodies_at_once_share_one_budget(spawn: Spawn) -> None:
    """16 authenticated connections each send a body at the limit (4 MiB) at once: at most
    four are buffered together; the others get 503 with Retry-After.  Peak memory stays
    bounded, and the server serves meanwhile."""
    target = spawn("--http-max-body", str(4 * MIB))
    session = open_session(target)
    body = json_bytes({**PING, "params": {"pad": "p" * (4 * MIB - 100)}})
    head = request_head(
        target, extra={"content-length": str(len(body)), "mcp-session-id": session}, authorized=True
    )
    with ExitStack() as stack:
        socks = [connect(target, timeout=30) for _ in range(16)]
        for sock in socks:
            stack.callback(sock.close)
            send_quietly(sock, head)
        _send_in_threads([(sock, body) for sock in socks])
        answers = [read_response(sock, 30.0) for sock in socks]
        statuses = sorted(a.status if a else 0 for a in answers)
        assert {200, 503} == set(statuses), statuses
        busy = [a for a in answers if a is not None and a.status == 503]
        assert all(a.headers.get("retry-after") for a in busy)
        assert_serving(target)
    assert peak_rss_mib(target.pid) < AUTHENTICATED_RSS_MIB


def test_huge_heads_are_refused(spawn: Spawn) -> None:
    """A 1 MiB header line, a head of 5,000 small fields, and a 40 KiB Authorization header:
    431 (or a closed connection), and the server keeps serving."""
    target = spawn()
    attacks = [
        request_head(target, extra={"x-long": "a" * MIB}),
        request_head(target, extra={f"x-{i}": "1" for i in range(5000)}),
        request_head(target, extra={"authorization": "Bearer " + "t" * 40 * 1024}),
        request_head(target, extra={f"x-{i}": "1" for i in range(150)}, authorized=True),
    ]
    for head in attacks:
        with connect(target) as sock:
            send_quietly(sock, head)
            answer = read_response(sock, 5.0)
            assert answer is None or answer.status == 431, answer
    assert_serving(target)
    assert peak_rss_mib(target.pid) < UNAUTHENTICATED_RSS_MIB


def test_pipelined_floods(spawn: Spawn) -> None:
    """Thousands of small requests in one write: without the token the first is refused
    and the connection closed (the rest are never parsed); with it, each is answered in
    order."""
    target = spawn()
    ping = json_bytes(PING)
    unauthenticated = request_head(target, extra={"content-length": str(len(ping))}) + ping
    with connect(target) as sock:
        send_quietly(sock, unauthenticated * 5000)
        first = read_response(sock, 5.0)
        assert first is not None and first.status == 401
        assert first.headers.get("connection") == "close"
    session = open_session(target)
    authenticated = (
        request_head(
            target, extra={"content-length": str(len(ping)), "mcp-session-id": session}, authorized=True
        )
        + ping
    )
    with connect(target) as sock:
        send_quietly(sock, authenticated * 200)
        reader = ResponseReader(sock)
        answers = [reader.next(10.0) for _ in range(200)]
        assert all(a is not None and a.status == 200 for a in answers)
        assert all(b'"result":{}' in a.body for a in answers if a is not None)
    assert_serving(target)
    assert peak_rss_mib(target.pid) < UNAUTHENTICATED_RSS_MIB
