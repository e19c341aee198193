"""The connection pool: never shared between origins, never handing out a connection a
cancelled or interrupted request left half-read, bounded in concurrent connections, and
leaving no socket behind (after `aclose`, after hundreds of failures).

Judged from outside: which connection each request arrived on at the provider, the answer
the next request gets, and this process's sockets to the provider's port (/proc).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

import anyio
import pytest

from codex_mcp.agent.model.transport import ProviderTransport
from codex_mcp.agent.model.types import OutputTextDelta
from codex_mcp.tls import build_ssl_context
from tests.security.wire_pki_support import Pki, server_context
from tests.security.wire_support import (
    Answer,
    Peer,
    RawServer,
    answering,
    client_for,
    ok_head,
    open_fds,
    outcome,
    respond,
    sse_body,
    tcp_fds_to,
)
from tests.support.model_wire import responses_events, simple_prompt, sse_event

pytestmark = pytest.mark.anyio


def is_direct(http: ProviderTransport) -> bool:
    return type(http).__name__ == "DirectTransport"


def keep(text: str) -> Answer:
    return Answer(respond(sse_body(text)))


# --- origins ---------------------------------------------------------------------------------


async def test_connections_are_never_shared_between_origins(http: ProviderTransport) -> None:
    with answering(*[keep("from a")] * 4) as (a, _), answering(*[keep("from b")] * 4) as (b, _):
        ca, cb = client_for(a.base_url, http), client_for(b.base_url, http)
        got = [await outcome(c) for c in (ca, cb, ca, cb)]
    assert [g.text for g in got] == ["from a", "from b", "from a", "from b"], got
    assert len(a.requests) == 2 and len(b.requests) == 2
    if is_direct(http):
        assert a.connections == 1 and b.connections == 1  # each reused within its origin


async def test_same_port_other_name_is_another_origin(http: ProviderTransport) -> None:
    """127.0.0.1 and localhost reach the same listener, but are two origins: two connections."""
    with answering(*[keep("x")] * 4) as (server, _):
        by_ip = client_for(f"http://127.0.0.1:{server.port}/v1", http)
        by_name = client_for(f"http://localhost:{server.port}/v1", http)
        for client in (by_ip, by_name, by_ip):
            assert (await outcome(client)).ok
        hosts = [r.header("Host")[0] for r in server.requests]
    assert hosts == [f"127.0.0.1:{server.port}", f"localhost:{server.port}", f"127.0.0.1:{server.port}"]
    if is_direct(http):
        assert [r.connection for r in server.requests] == [1, 2, 1]


async def test_tls_connection_is_not_reused_for_another_name(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A TLS connection verified for `localhost` is not used for `127.0.0.1` (or back)."""
    pki = Pki(tmp_path_factory.mktemp("pool-pki"))
    tls = server_context(*pki.leaf("both", names=("localhost",), ips=("127.0.0.1",)))
    from codex_mcp.agent.model.transport.direct import DirectTransport

    http = DirectTransport(pki.client_context)
    try:
        with answering(*[keep("tls")] * 4, tls=tls) as (server, _):
            for host in ("localhost", "127.0.0.1", "localhost"):
                assert (await outcome(client_for(f"https://{host}:{server.port}/v1", http))).ok
    finally:
        await http.aclose()
    assert [r.connection for r in server.requests] == [1, 2, 1]


async def test_host_override_does_not_choose_the_connection(http: ProviderTransport) -> None:
    with answering(*[keep("x")] * 2) as (a, _), answering(*[keep("y")] * 2) as (b, _):
        assert (await outcome(client_for(a.base_url, http, http_headers={"Host": f"127.0.0.1:{b.port}"}))).ok
        got = await outcome(client_for(b.base_url, http))
    assert got.ok and got.text == "y"
    assert len(a.requests) == 1 and len(b.requests) == 1


# --- half-read connections ------------------------------------------------------------------


class HalfBody:
    """Connection 1 gets a head announcing a long body and only its start, then waits for
    the client to give up; later connections get a whole answer."""

    def __init__(self) -> None:
        self.hung_up = threading.Event()

    def __call__(self, peer: Peer) -> None:
        if peer.read_request() is None:
            return
        if peer.serial == 1:
            start = b"".join(sse_event(e) for e in responses_events("never finished", completed=False)[:2])
            peer.send(ok_head("Content-Length: 100000") + start)
            if peer.wait_hangup(30):
                self.hung_up.set()
            return
        peer.send(respond(sse_body("second")))
        peer.read_request()


async def test_cancelled_turn_leaves_no_half_read_connection(http: ProviderTransport) -> None:
    script = HalfBody()
    with RawServer(script) as server:
        client = client_for(server.base_url, http)
        with anyio.CancelScope() as scope:
            async with aclosing(
                client.stream(simple_prompt(), model="m", thread_id="t", turn_id="u", on_retry=_no_retry)
            ) as events:
                async for event in events:
                    if isinstance(event, OutputTextDelta):
                        scope.cancel()
        assert scope.cancelled_caught
        assert script.hung_up.wait(10), "the cancelled request's connection stayed open"
        second = await outcome(client)
    assert second.ok and second.text == "second", second
    assert [r.connection for r in server.requests] == [1, 2]


async def test_idle_timeout_mid_body_leaves_no_half_read_connection(http: ProviderTransport) -> None:
    script = HalfBody()
    with RawServer(script) as server:
        client = client_for(server.base_url, http, idle_ms=800)
        first = await outcome(client)
        assert not first.ok and "idle timeout" in first.text, first
        assert script.hung_up.wait(10)
        second = await outcome(client)
    assert second.ok and second.text == "second", second
    assert [r.connection for r in server.requests] == [1, 2]


async def test_bytes_left_after_the_completed_event_keep_the_connection_out(http: ProviderTransport) -> None:
    """The client stops at `response.completed`; the framed body goes on (SSE comments).
    The unread rest must not become the start of the next answer."""
    body = sse_body("first") + b": pad\n\n" * 20_000 + b"HTTP/1.1 200 OK\r\n"
    with answering(Answer(respond(body)), keep("second")) as (server, _):
        client = client_for(server.base_url, http)
        a = await outcome(client)
        b = await outcome(client)
    assert a.ok and b.ok and b.text == "second", (a, b)


async def _no_retry(*_: object) -> None:
    raise AssertionError("no retry expected")


# --- bounds and leaks -------------------------------------------------------------------------


class Gated:
    """Holds every answer until released; counts requests in progress (read, not yet
    answered), which the client's connection bound caps."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.cond = threading.Condition()
        self.in_progress = 0
        self.most = 0

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def __call__(self, peer: Peer) -> None:
        while peer.read_request() is not None:
            with self.cond:
                self.in_progress += 1
                self.most = max(self.most, self.in_progress)
                self.cond.notify_all()
            self.release.wait(60)
            with self.cond:
                self.in_progress -= 1
            if not peer.send(respond(sse_body("held"))):
                return


@pytest.mark.parametrize("kind", ["direct", "httpx"])
async def test_300_concurrent_requests_are_bounded_and_leave_no_socket(kind: str) -> None:
    from codex_mcp.agent.model.transport.direct import DirectTransport
    from codex_mcp.agent.model.transport.via_httpx import HttpxTransport

    before = open_fds()
    gate = Gated()
    results: list[bool] = []
    with RawServer(gate) as server:
        http: ProviderTransport = (DirectTransport if kind == "direct" else HttpxTransport)(build_ssl_context)
        client = client_for(server.base_url, http, idle_ms=90_000)

        async def one() -> None:
            results.append((await outcome(client, bound=120)).ok)

        async with anyio.create_task_group() as tg:
            for _ in range(300):
                tg.start_soon(one)
            reached = await anyio.to_thread.run_sync(gate.wait_for, lambda: gate.in_progress >= 200, 60.0)
            assert reached, f"only {gate.in_progress} requests reached the provider"
            # The bound holds: with 200 in progress, no 201st arrives.
            over = await anyio.to_thread.run_sync(gate.wait_for, lambda: gate.in_progress > 200, 1.0)
            assert not over, f"{gate.in_progress} requests in progress at once"
            gate.release.set()
        assert results == [True] * 300
        assert gate.most == 200
        await http.aclose()
        assert tcp_fds_to(server.port) == 0, "sockets to the provider outlived aclose"
    assert open_fds() <= before + 3, (before, open_fds())


async def test_aclose_closes_idle_and_active_connections(http: ProviderTransport) -> None:
    """After `aclose`, no socket to the provider is left: neither the kept idle one nor the
    one a request is still streaming on (that request ends with an error)."""
    hung_up = threading.Event()

    def script(peer: Peer) -> None:
        if peer.read_request() is None:
            return
        if peer.serial == 1:
            peer.send(respond(sse_body("idle later")))
            peer.read_request()
            return
        start = b"".join(sse_event(e) for e in responses_events("streaming", completed=False)[:2])
        peer.send(ok_head("Content-Length: 100000") + start)
        if peer.wait_hangup(30):
            hung_up.set()

    with RawServer(script) as server:
        first = await outcome(client_for(server.base_url, http))
        assert first.ok
        second_client = client_for(server.base_url, http, idle_ms=60_000)
        outcome_box: list[object] = []
        streaming = anyio.Event()

        async def stream_forever() -> None:
            async with aclosing(
                second_client.stream(
                    simple_prompt(), model="m", thread_id="t", turn_id="u", on_retry=_no_retry
                )
            ) as events:
                try:
                    async for event in events:
                        if isinstance(event, OutputTextDelta):
                            streaming.set()
                except Exception as exc:  # the end this test expects
                    outcome_box.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(stream_forever)
            with anyio.fail_after(10):
                await streaming.wait()
            with anyio.fail_after(10):
                await http.aclose()
        assert hung_up.wait(10), "the streaming connection stayed open after aclose"
        assert outcome_box, "the streaming request did not end with an error"
        assert tcp_fds_to(server.port) == 0


async def test_many_failed_requests_leave_no_socket(http: ProviderTransport) -> None:
    """Two hundred requests failing in every way this suite knows: afterwards not one
    socket to the provider is open, before `aclose`."""
    failures = [
        Answer(b"", end="close"),
        Answer(b"", end="reset"),
        Answer(b"garbage\r\n\r\n", end="keep"),
        Answer(b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", end="keep"),
        Answer(ok_head("Content-Length: 50") + b"short", end="close"),
        Answer(ok_head("Transfer-Encoding: gzip") + b"x", end="keep"),
        Answer(b"HTTP/1.1 101 Switching\r\n\r\n", end="keep"),
        Answer(respond(b'{"error": {"message": "no"}}', status=400, reason="Bad"), end="keep"),
    ]
    with answering(*(failures * 25)) as (server, _):
        client = client_for(server.base_url, http)
        for _ in range(len(failures) * 25):
            await outcome(client)
            if len(server.requests) >= len(failures) * 25:
                break
        assert tcp_fds_to(server.port) <= (1 if is_direct(http) else 0), "failed requests left sockets open"


async def test_connecting_to_nothing_leaks_nothing(http: ProviderTransport) -> None:
    from tests.support.model_wire import closed_port

    port = closed_port()
    before = open_fds()
    for _ in range(50):
        result = await outcome(client_for(f"http://127.0.0.1:{port}/v1", http))
        assert not result.ok
    assert open_fds() <= before + 2


async def test_idle_connection_the_provider_closed_is_dropped_on_the_next_request_anywhere(
    http: ProviderTransport,
) -> None:
    """A kept connection whose provider went away is not held open until that provider
    is asked again: the next request to any origin lets it go."""
    if not is_direct(http):
        pytest.skip("the fallback keeps no connection")
    with answering(Answer(respond(sse_body("a")), end="keep")) as (a, _):
        assert (await outcome(client_for(a.base_url, http))).ok
        assert tcp_fds_to(a.port) == 1
    # `a` has stopped: its end of the kept connection is closed.
    with answering(keep("b")) as (b, _):
        assert (await outcome(client_for(b.base_url, http))).ok
    assert tcp_fds_to(a.port) == 0, "a dead idle connection was kept"


@pytest.fixture
async def tls_transport(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[ProviderTransport, ssl.SSLContext]]:
    from codex_mcp.agent.model.transport.direct import DirectTransport

    pki = Pki(tmp_path_factory.mktemp("leak-pki"))
    http = DirectTransport(pki.client_context)
    try:
        yield http, server_context(*pki.leaf("leaf"))
    finally:
        await http.aclose()


async def test_failed_tls_requests_leave_no_socket(
    tls_transport: tuple[ProviderTransport, ssl.SSLContext],
) -> None:
    http, tls = tls_transport
    answers = [
        Answer(b"", end="cut"),
        Answer(b"junk\r\n\r\n", end="keep"),
        Answer(ok_head() + b"x", end="cut"),
    ]
    with answering(*(answers * 20), tls=tls) as (server, _):
        client = client_for(server.base_url, http)
        while len(server.requests) < len(answers) * 20:
            await outcome(client)
        assert tcp_fds_to(server.port) <= 1
