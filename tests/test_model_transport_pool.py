"""`DirectTransport` against a real loopback server: keep-alive, what is never reused, the
connection limit, closing.  The server counts connections and requests and answers each
request with the next scripted bytes."""

from __future__ import annotations

import select
import socket
import sys
import threading
from collections.abc import Callable, Iterator

import anyio
import anyio.to_thread
import pytest
from anyio.abc import SocketAttribute

from codex_mcp.agent.model.transport.direct import DirectResponse, DirectTransport
from codex_mcp.errors import ProviderClosedEarly, ProviderTransportError
from codex_mcp.tls import build_ssl_context
from tests.support.model_wire import closed_port

pytestmark = pytest.mark.anyio

Answer = Callable[[socket.socket], bool]
"""Writes one answer; returns False to close the connection afterwards."""


def ok(body: bytes = b"ok", extra: bytes = b"", close: bool = False, says_close: bool = False) -> Answer:
    """A length-framed answer; `close`: the server closes after it (`says_close`: and says so
    in a `Connection: close` field, else the client learns it only from the socket)."""
    field = b"Connection: close\r\n" if says_close else b""

    def write(conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s%s" % (field, len(body), body, extra))
        return not (close or says_close)

    return write


def close_delimited(body: bytes) -> Answer:
    def write(conn: socket.socket) -> bool:
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n" + body)
        return False

    return write


def hang_up(conn: socket.socket) -> bool:
    return False


class KeepAliveServer:
    """A loopback HTTP/1.1 server with scripted answers and a record of what it saw."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.connections = 0
        self.requests: list[tuple[int, bytes]] = []
        self.closed_by_peer = 0
        self._cond = threading.Condition()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/responses"
        self._threads: list[threading.Thread] = []
        self._stop = False
        self._accept = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept.start()

    def _accept_loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._cond:
                self.connections += 1
                index = self.connections
            t = threading.Thread(target=self._serve, args=(conn, index), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket, index: int) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except ConnectionResetError:
                        data = b""
                    if not data:
                        with self._cond:
                            self.closed_by_peer += 1
                            self._cond.notify_all()
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                with self._cond:
                    self.requests.append((index, head))
                    answer = self.answers.pop(0) if self.answers else ok(b"unscripted")
                    self._cond.notify_all()
                if not answer(conn):
                    return

    def wait(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, timeout), "condition not reached"

    def close(self) -> None:
        self._stop = True
        self._sock.close()


@pytest.fixture
def server() -> Iterator[KeepAliveServer]:
    s = KeepAliveServer()
    try:
        yield s
    finally:
        s.close()


async def fetch(transport: DirectTransport, url: str) -> tuple[int, bytes]:
    resp = await transport.send("POST", url, headers=[("X-Test", "1")], content=b"{}")
    try:
        body = b"".join([piece async for piece in resp.aiter_raw()])
    finally:
        await resp.aclose()
    return resp.status_code, body


async def test_a_second_request_reuses_the_connection(server: KeepAliveServer) -> None:
    server.answers += [ok(b"one"), ok(b"two")]
    transport = DirectTransport(build_ssl_context)
    try:
        assert await fetch(transport, server.url) == (200, b"one")
        assert await fetch(transport, server.url) == (200, b"two")
    finally:
        await transport.aclose()
    assert server.connections == 1
    assert [index for index, _ in server.requests] == [1, 1]


async def test_connection_close_and_close_delimited_bodies_are_not_reused(server: KeepAliveServer) -> None:
    server.answers += [ok(b"a", says_close=True), close_delimited(b"b" * 100_000), ok(b"c")]
    transport = DirectTransport(build_ssl_context)
    try:
        assert await fetch(transport, server.url) == (200, b"a")
        assert await fetch(transport, server.url) == (200, b"b" * 100_000)
        assert await fetch(transport, server.url) == (200, b"c")
    finally:
        await transport.aclose()
    assert server.connections == 3


async def test_an_idle_connection_the_server_closed_is_not_tried(server: KeepAliveServer) -> None:
    # The answer says nothing of closing, but the server closes after it: the socket turns
    # readable (EOF) while idle, and the pool drops it instead of sending into it.
    server.answers += [ok(b"a", close=True), ok(b"b")]
    transport = DirectTransport(build_ssl_context)
    try:
        assert await fetch(transport, server.url) == (200, b"a")
        await _wait_readable_eof(transport)
        assert await fetch(transport, server.url) == (200, b"b")
    finally:
        await transport.aclose()
    assert server.connections == 2


async def _wait_readable_eof(transport: DirectTransport) -> None:
    """Until the pooled connection sees the server's close (bounded)."""
    (conn,) = [c for conns in transport._idle.values() for c in conns]
    sock = conn._stream.extra(SocketAttribute.raw_socket)
    readable, _, _ = await anyio.to_thread.run_sync(select.select, [sock], [], [], 10)
    assert readable
    assert not conn.looks_usable()


async def test_a_close_before_any_answer_is_closed_early(server: KeepAliveServer) -> None:
    server.answers += [hang_up]
    transport = DirectTransport(build_ssl_context)
    try:
        with pytest.raises(ProviderClosedEarly):
            await fetch(transport, server.url)
    finally:
        await transport.aclose()


async def test_a_close_in_the_middle_of_the_head_is_not_closed_early(server: KeepAliveServer) -> None:
    server.answers += [lambda conn: (conn.sendall(b"HTTP/1.1 200 OK\r\nX-A: 1"), False)[1]]
    transport = DirectTransport(build_ssl_context)
    try:
        with pytest.raises(ProviderTransportError) as info:
            await fetch(transport, server.url)
        assert not isinstance(info.value, ProviderClosedEarly)
        assert "in the middle of its answer" in str(info.value)
    finally:
        await transport.aclose()


async def test_a_half_read_body_closes_its_connection(server: KeepAliveServer) -> None:
    server.answers += [ok(b"x" * 1_000_000), ok(b"fresh")]
    transport = DirectTransport(build_ssl_context)
    try:
        resp = await transport.send("POST", server.url, headers=[], content=b"")
        async for _ in resp.aiter_raw():
            break
        await resp.aclose()
        server.wait(lambda: server.closed_by_peer == 1)
        assert await fetch(transport, server.url) == (200, b"fresh")
    finally:
        await transport.aclose()
    assert server.connections == 2


async def test_bytes_after_a_body_are_never_the_next_answer(server: KeepAliveServer) -> None:
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
    server.answers += [ok(b"first", extra=smuggled), ok(b"real")]
    transport = DirectTransport(build_ssl_context)
    try:
        assert await fetch(transport, server.url) == (200, b"first")
        assert await fetch(transport, server.url) == (200, b"real")
    finally:
        await transport.aclose()
    assert server.connections == 2


async def test_expired_idle_connections_are_not_reused(server: KeepAliveServer) -> None:
    server.answers += [ok(b"a"), ok(b"b")]
    transport = DirectTransport(build_ssl_context, keepalive_s=0.0)
    try:
        await fetch(transport, server.url)
        await fetch(transport, server.url)
    finally:
        await transport.aclose()
    assert server.connections == 2


async def test_origins_never_share_a_connection(server: KeepAliveServer) -> None:
    other = KeepAliveServer()
    transport = DirectTransport(build_ssl_context)
    try:
        server.answers += [ok(b"here")]
        other.answers += [ok(b"there")]
        assert await fetch(transport, server.url) == (200, b"here")
        assert await fetch(transport, other.url) == (200, b"there")
        assert await fetch(transport, server.url.replace("127.0.0.1", "localhost")) == (200, b"unscripted")
    finally:
        await transport.aclose()
        other.close()
    assert (server.connections, other.connections) == (2, 1)


async def test_aclose_closes_idle_connections(server: KeepAliveServer) -> None:
    server.answers += [ok(b"a")]
    transport = DirectTransport(build_ssl_context)
    await fetch(transport, server.url)
    await transport.aclose()
    server.wait(lambda: server.closed_by_peer == 1)
    with pytest.raises(ProviderTransportError, match="closed"):
        await fetch(transport, server.url)


async def test_the_connection_limit_makes_a_request_wait(server: KeepAliveServer) -> None:
    transport = DirectTransport(build_ssl_context, max_connections=2)
    held: list[DirectResponse] = []
    try:
        held.append(await transport.send("POST", server.url, headers=[], content=b""))
        held.append(await transport.send("POST", server.url, headers=[], content=b""))
        done = anyio.Event()

        async def third() -> None:
            assert await fetch(transport, server.url) == (200, b"unscripted")
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(third)
            await anyio.wait_all_tasks_blocked()
            assert not done.is_set() and len(server.requests) == 2
            await held.pop().aclose()
            with anyio.fail_after(10):
                await done.wait()
    finally:
        for resp in held:
            await resp.aclose()
        await transport.aclose()


async def test_connect_failures_name_the_address() -> None:
    transport = DirectTransport(build_ssl_context)
    try:
        with (
            closed_port() as port,
            pytest.raises(ProviderTransportError, match=f"could not connect to 127.0.0.1:{port}"),
        ):
            await fetch(transport, f"http://127.0.0.1:{port}/v1")
    finally:
        await transport.aclose()


async def test_a_configured_proxy_gets_the_request_in_absolute_form(
    server: KeepAliveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a proxy in the environment the model client sends the request to the proxy
    (absolute-form target): on Linux over our own transport, elsewhere through httpx (which
    also reads the system's settings); without one, straight to the origin."""
    from codex_mcp.agent.model.transport import open_transport
    from codex_mcp.agent.model.transport.via_httpx import HttpxTransport

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.port}")
    server.answers += [ok(b"via proxy")]
    transport = open_transport({"HTTP_PROXY": f"http://127.0.0.1:{server.port}"}, build_ssl_context)
    linux = sys.platform.startswith("linux")
    assert isinstance(transport, DirectTransport if linux else HttpxTransport)
    try:
        resp = await transport.send("POST", "http://model.invalid/v1/responses", headers=[], content=b"{}")
        try:
            assert resp.status_code == 200
            assert b"".join([p async for p in resp.aiter_raw()]) == b"via proxy"
        finally:
            await resp.aclose()
    finally:
        await transport.aclose()
    assert server.requests[0][1].startswith(b"POST http://model.invalid/v1/responses HTTP/1.1")
    if linux:  # elsewhere the system's proxy settings keep httpx
        direct = open_transport({}, build_ssl_context)
        assert isinstance(direct, DirectTransport) and not direct.proxied
