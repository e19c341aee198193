"""A network peer floods `--http` with connections: idle sockets past the descriptor limit,
slow request heads, half-open connections, a table full of busy connections.

Judged from outside: the process keeps running, a fresh authenticated connection gets a
session and a `ping` answer within 5 s during and after the attack, the server's open
descriptors and peak memory stay bounded.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.security.http_support import (
    Spawn,
    Target,
    assert_serving,
    closed_by_server,
    connect,
    need_fds,
    open_fds,
    peak_rss_mib,
    read_response,
    request_head,
    send_quietly,
    target_factory,
)
from tests.support.raw_client import wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
    pytest.mark.timeout(120),
]

FLOOD_RSS_MIB = 120
"""Peak RSS bound under a connection flood (an idle server with a session: ~40 MiB)."""
HEAD_TIMEOUT = 10.0


@pytest.fixture
def spawn(codex_home: Path, workspace: Path) -> Iterator[Spawn]:
    with target_factory(codex_home, workspace) as factory:
        yield factory


def _flood(stack: ExitStack, target: Target, count: int, source: str | None = None) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = connect(target, source)
        stack.callback(sock.close)
        socks.append(sock)
    return socks


def test_idle_connections_past_the_descriptor_limit_do_not_end_the_server(spawn: Spawn) -> None:
    """~1,030 idle TCP connections against a token-protected server on 0.0.0.0 whose
    descriptor limit is 1,024 (this used to make accept() fail and the server exit)."""
    need_fds(1100)
    target = spawn(host="0.0.0.0", nofile=1024)
    assert_serving(target)
    with ExitStack() as stack:
        _flood(stack, target, 1030)
        assert_serving(target)
        assert open_fds(target.pid) < 1024
        target.server.wait_line("connection limit: closing an idle connection")
    assert_serving(target)
    assert peak_rss_mib(target.pid) < FLOOD_RSS_MIB


def test_running_out_of_descriptors_is_logged_once_and_survived(spawn: Spawn) -> None:
    """With a connection cap above the descriptor limit, accept() really fails with EMFILE:
    the server logs it (rate-limited), closes idle connections to make room, and serves."""
    need_fds(800)
    target = spawn("--http-max-connections", "5000", nofile=256)
    started = time.monotonic()
    with ExitStack() as stack:
        _flood(stack, target, 700)
        target.server.wait_line("cannot accept connections: Too many open files")
        assert_serving(target)
        assert_serving(target)
    assert_serving(target)
    lines = [line for line in target.server.lines if "cannot accept connections" in line]
    assert 1 <= len(lines) <= 1 + (time.monotonic() - started) / 10, lines
    assert peak_rss_mib(target.pid) < FLOOD_RSS_MIB


def test_out_of_descriptors_with_nothing_to_close_waits_and_recovers(spawn: Spawn) -> None:
    """Every connection is busy (authenticated requests whose bodies never come), so there is
    nothing idle to close: the server backs off instead of exiting or spinning, and serves
    again as soon as descriptors are released."""
    target = spawn("--http-max-connections", "5000", nofile=64)
    head = request_head(target, extra={"content-length": "1000"}, authorized=True)
    with ExitStack() as stack:
        socks = _flood(stack, target, 80)
        for sock in socks:
            send_quietly(sock, head)
        target.server.wait_line("cannot accept connections: Too many open files")
        assert target.running()
        cpu_before = _cpu_seconds(target.pid)
        # Bounded observation window: a busy-looping accept would burn ~1 CPU-second here.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            select.select([], [], [], deadline - time.monotonic())
        assert _cpu_seconds(target.pid) - cpu_before < 0.5
    assert_serving(target, timeout=5.0)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_slow_and_silent_heads_are_cut_off(spawn: Spawn) -> None:
    """Slowloris: heads trickled a byte at a time, and connections that never send a byte,
    are closed once the head timeout passes; the server serves meanwhile."""
    target = spawn()
    with ExitStack() as stack:
        trickling = _flood(stack, target, 40)
        silent = _flood(stack, target, 40)
        for sock in trickling:
            send_quietly(sock, b"POST /mcp HTTP/1.1\r\nx-pad: ")
        open_trickles = set(trickling)
        deadline = time.monotonic() + HEAD_TIMEOUT + 10
        while open_trickles and time.monotonic() < deadline:
            for sock in list(open_trickles):
                if not send_quietly(sock, b"a"):
                    open_trickles.discard(sock)
            readable, _, _ = select.select(list(open_trickles), [], [], 0.5)
            for sock in readable:
                response = read_response(sock, 1.0)
                assert response is None or response.status == 408
                open_trickles.discard(sock)
        assert not open_trickles, f"{len(open_trickles)} slow heads still open after {HEAD_TIMEOUT} s"
        assert all(closed_by_server(sock, 5.0) for sock in silent)
        assert_serving(target)


def test_half_open_connections_are_released(spawn: Spawn) -> None:
    """Peers that stop sending half-way (shutdown of their write side) without closing: a
    partial head, and an authenticated request whose body never comes.  The server answers
    or closes at once and releases the descriptors."""
    target = spawn()
    assert_serving(target)
    baseline = open_fds(target.pid)
    with ExitStack() as stack:
        partial = _flood(stack, target, 30)
        bodiless = _flood(stack, target, 30)
        for sock in partial:
            send_quietly(sock, b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\n")
            sock.shutdown(socket.SHUT_WR)
        head = request_head(target, extra={"content-length": "5000"}, authorized=True)
        for sock in bodiless:
            send_quietly(sock, head + b"{")
            sock.shutdown(socket.SHUT_WR)
        for sock in bodiless:
            response = read_response(sock, 5.0)
            assert response is not None and response.status == 400, response
        assert all(closed_by_server(sock, 5.0) for sock in partial)
        wait_until(lambda: open_fds(target.pid) <= baseline + 2, 10, "the descriptors to be released")
    assert_serving(target)


def test_one_address_cannot_take_every_connection(spawn: Spawn) -> None:
    """A flood from one address (127.0.0.2) is capped per peer; a client at another address
    (127.0.0.3) still gets through, and the server holds at most the global cap."""
    need_fds(600)
    target = spawn("--http-max-connections", "64")
    assert_serving(target)
    baseline = open_fds(target.pid)
    with ExitStack() as stack:
        _flood(stack, target, 500, source="127.0.0.2")
        wait_until(lambda: target.server.stderr().count("connection limit") > 0, 10, "the cap to apply")
        assert open_fds(target.pid) <= baseline + 64 + 4
        assert_serving(target, source="127.0.0.3")
    assert_serving(target)


def test_a_table_of_busy_connections_refuses_newcomers_with_retry_after(spawn: Spawn) -> None:
    """When every connection is serving a request, nothing is closed to make room: the
    newcomer gets 503 with Retry-After, and once a slot frees the server serves again."""
    target = spawn("--http-max-connections", "4", "--http-max-connections-per-peer", "4")
    head = request_head(target, extra={"content-length": "1000", "expect": "100-continue"}, authorized=True)
    with ExitStack() as stack:
        busy = _flood(stack, target, 4)
        for sock in busy:
            send_quietly(sock, head)
            # "100 Continue": the server accepted the head and now waits for the body (busy).
            sock.settimeout(5.0)
            assert sock.recv(64).startswith(b"HTTP/1.1 100 ")
        refused, lates = [], []
        for _ in range(5):
            late = connect(target)
            stack.callback(late.close)
            lates.append(late)
            send_quietly(late, request_head(target, "GET", authorized=True))
            response = read_response(late, 5.0)
            if response is not None:
                refused.append(response)
        assert refused and all(r.status == 503 for r in refused), refused
        assert all(r.headers.get("retry-after") == "1" for r in refused)
        assert b"too many connections" in refused[0].body
        # Refused newcomers are closed by the server; then three busy ones end from our side,
        # and once the server has let their descriptors go, the fresh connections of a
        # session, its ping and its end (one after the other) are served.
        assert all(closed_by_server(late, 5.0) for late in lates)
        before = open_fds(target.pid)
        for sock in busy[:3]:
            sock.close()
        wait_until(
            lambda: open_fds(target.pid) <= before - 3, 10, "the three closed connections to be let go"
        )
        assert_serving(target)
