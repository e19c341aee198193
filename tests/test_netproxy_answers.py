"""The proxy's rewrite of a plain HTTP answer: its final head says `Connection: close`.

The proxy ends a plain HTTP connection after one request.  A destination that keeps its
connections alive (Python's own `http.server` does, whatever the request said) would
otherwise tell the client it may send a second request, and the client's second request
would race the proxy's close.  Pure cases first, then the proxy in process between a real
client socket and a real keep-alive server on loopback.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import anyio
import pytest

from codex_mcp.sandbox.netproxy.rules import ProxySettings
from codex_mcp.sandbox.netproxy.service import Answer, ConnectionReport, NetworkProxy, Question
from codex_mcp.sandbox.netproxy.wire import (
    MAX_INTERIM_RESPONSES,
    MAX_RESPONSE_HEAD,
    BadResponse,
    ClosingResponseHeads,
)

KEEP_ALIVE = (
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
    b"X-Hop: 1\r\nProxy-Connection: keep-alive\r\nContent-Length: 2\r\nX-Kept: yes\r\n\r\nhi"
)
CLOSED = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Kept: yes\r\nConnection: close\r\n\r\nhi"


def _feed_all(pieces: list[bytes]) -> tuple[bytes, bool]:
    heads = ClosingResponseHeads()
    return b"".join(heads.feed(piece) for piece in pieces), heads.done


def test_a_keep_alive_answer_leaves_saying_close_without_its_connection_fields() -> None:
    assert _feed_all([KEEP_ALIVE]) == (CLOSED, True)


def test_the_rewrite_does_not_depend_on_how_the_answer_was_cut() -> None:
    for cut in range(1, len(KEEP_ALIVE)):
        assert _feed_all([KEEP_ALIVE[:cut], KEEP_ALIVE[cut:]]) == (CLOSED, True), cut
    assert _feed_all([bytes([b]) for b in KEEP_ALIVE]) == (CLOSED, True)


def test_interim_heads_pass_and_the_final_one_is_rewritten() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    out, done = _feed_all([interim + KEEP_ALIVE + b"more body"])
    assert (out, done) == (interim + CLOSED + b"more body", True)


def test_after_the_final_head_every_byte_passes_as_is() -> None:
    heads = ClosingResponseHeads()
    heads.feed(KEEP_ALIVE)
    later = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"
    assert heads.feed(later) == later


def test_a_switch_of_protocols_is_passed_on_untouched() -> None:
    switch = b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\nraw"
    assert _feed_all([switch]) == (switch, True)


def test_an_http_1_0_answer_is_rewritten_too() -> None:
    out, done = _feed_all([b"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\n\r\n"])
    assert (out, done) == (b"HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\n", True)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", "status line"),
        (b"ICY 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\n folded: value\r\n\r\n", "malformed"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed"),
        (b"HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n", "malformed"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n", "malformed"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INTERIM_RESPONSES + 1), "interim"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * MAX_RESPONSE_HEAD + b"\r\n\r\n", "over"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * (MAX_RESPONSE_HEAD + 1), "over"),
    ],
)
def test_answers_that_cannot_be_passed_on_are_refused(answer: bytes, why: str) -> None:
    with pytest.raises(BadResponse, match=why):
        ClosingResponseHeads().feed(answer)


def test_a_close_in_the_middle_of_a_head_is_refused_and_a_clean_one_is_not() -> None:
    heads = ClosingResponseHeads()
    heads.feed(b"HTTP/1.1 200 OK\r\nContent-")
    with pytest.raises(BadResponse, match="middle of its answer head"):
        heads.end()
    assert ClosingResponseHeads().end() == b""
    refusal = ClosingResponseHeads().refusal("why")
    assert refusal.startswith(b"HTTP/1.1 502 ") and b"Connection: close" in refusal


# ---- the proxy in process -----------------------------------------------------------------------


class _Allow:
    def __init__(self) -> None:
        self.ended: list[ConnectionReport] = []
        self.finished = anyio.Event()

    async def ask(self, question: Question) -> Answer:
        return Answer("approved")

    async def report(self, report: ConnectionReport, ended: bool) -> None:
        if ended:
            self.ended.append(report)
            self.finished.set()


class _Origin:
    """A loopback server that reads one request (with its `Content-Length` body), answers
    `answer`, and keeps the connection open for a second request, as keep-alive servers do.
    `second` holds what arrived after the first answer."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.first = b""
        self.body = b""
        self.second = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        conn.settimeout(10)
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            while len(body) < length:
                body += conn.recv(65536)
            self.first, self.body = head, body
            conn.sendall(self.answer)
            try:
                while chunk := conn.recv(65536):
                    self.second += chunk
            except OSError:
                pass


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


async def _exchange(
    listener: socket.socket, answer: bytes, request: bytes, expect: int | None = None
) -> tuple[bytes, _Origin, _Allow]:
    """`request` (its URL's port filled in) sent through the proxy to an `_Origin` that
    answers `answer`; what the client read (`expect` bytes, as a client that knows the
    answer's length reads, or until the end), the origin, the hooks."""
    origin = _Origin(answer)
    hooks = _Allow()
    settings = ProxySettings(mode="allow-list", allow=("127.0.0.1",), allow_local=("127.0.0.1",))
    async with anyio.create_task_group() as tg:
        proxy = NetworkProxy(settings, hooks, tg, approval_timeout=10)
        channel = proxy.attach(["client"], "/")
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with socket.socket(fileno=os.dup(channel.sandbox_fd)) as bridge:
            socket.send_fds(bridge, [b"c"], [accepted.fileno()])
        accepted.close()
        client.sendall(request.replace(b"PORT", str(origin.port).encode()))
        client.settimeout(10)

        def read_all() -> bytes:
            data = b""
            while (expect is None or len(data) < expect) and (chunk := client.recv(65536)):
                data += chunk
            client.close()
            return data

        got = await anyio.to_thread.run_sync(read_all)
        with anyio.fail_after(10):
            await hooks.finished.wait()
        channel.close()
        proxy.close()
        tg.cancel_scope.cancel()
    origin.thread.join(10)
    origin.sock.close()
    return got, origin, hooks


@pytest.mark.anyio
async def test_a_keep_alive_origin_is_answered_to_the_client_as_closing(listener: socket.socket) -> None:
    got, origin, hooks = await _exchange(
        listener,
        KEEP_ALIVE,
        b"GET http://127.0.0.1:PORT/ HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
        expect=len(CLOSED),
    )
    assert got == CLOSED
    assert b"Connection: close" in origin.first and origin.second == b""
    assert [r.outcome for r in hooks.ended] == ["completed"]


@pytest.mark.anyio
async def test_a_request_body_flows_up_while_the_answer_head_is_awaited(listener: socket.socket) -> None:
    body = b"x" * 300_000  # more than the socket buffers hold: the origin answers after reading it
    request = b"POST http://127.0.0.1:PORT/up HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    got, origin, _hooks = await _exchange(listener, KEEP_ALIVE, request, expect=len(CLOSED))
    assert got == CLOSED
    assert origin.body == body


@pytest.mark.anyio
async def test_an_answer_the_proxy_cannot_rewrite_becomes_a_502(listener: socket.socket) -> None:
    got, _origin, hooks = await _exchange(
        listener,
        b"HTTP/1.1 200 OK\r\n folded: line\r\n\r\nbody",
        b"GET http://127.0.0.1:PORT/ HTTP/1.1\r\n\r\n",
    )
    assert got.startswith(b"HTTP/1.1 502 ") and b"malformed" in got and b"body" not in got
    assert [(r.outcome, r.reason) for r in hooks.ended] == [
        ("failed", "the answer head is malformed: malformed header field")
    ]
