"""Pieces of the HTTP transport that need no server process: addresses, access rules,
message routing, the session quotas, the connection table and the limits."""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.http.connections import ConnectionTable, State
from codex_mcp.http.limits import BodyBudget, HttpLimits, RateLimitedLog, default_max_connections
from codex_mcp.http.peers import Endpoints, client_identity, peer_key, socket_owner
from codex_mcp.http.routing import RoutingSink
from codex_mcp.http.security import (
    AccessPolicy,
    AddressError,
    is_loopback_host,
    parse_allowed_origins,
    parse_listen_address,
)
from codex_mcp.http.session import SessionManager, SessionRefused
from codex_mcp.server import ServerOptions


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":8080", ("127.0.0.1", 8080)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:9000", ("::1", 9000)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen_address(text) == expected


@pytest.mark.parametrize("text", ["8080", "::1:80", "host:http", "host:70000"])
def test_bad_listen_addresses(text: str) -> None:
    with pytest.raises(AddressError):
        parse_listen_address(text)


def test_loopback_hosts() -> None:
    assert all(is_loopback_host(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost", "[::1]"))
    assert not any(is_loopback_host(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.com"))


def test_access_policy() -> None:
    policy = AccessPolicy(
        loopback=True, allowed_origins=parse_allowed_origins(["https://App.example.com:8443"])
    )
    ok: dict[str, str] = {"host": "127.0.0.1:9", "origin": "http://[::1]:3000"}
    assert policy.check(ok) is None
    assert policy.check({"host": "localhost"}) is None
    assert policy.check({"origin": "https://app.example.com:8443"}) is None
    refused = policy.check({"host": "evil.example:9"})
    assert refused is not None and refused.status == 403
    assert policy.check({"origin": "null"}) is not None
    assert policy.check({"origin": "http://localhost.evil.example"}) is not None
    remote = AccessPolicy(loopback=False, token="t")
    assert remote.check({"host": "build-box:8080", "authorization": "Bearer t"}) is None
    denied = remote.check({"authorization": "Basic t"})
    assert denied is not None and denied.status == 401
    assert remote.check({}, preflight=True) is None
    with pytest.raises(ValueError):
        parse_allowed_origins(["ftp://x"])


async def _drain(stream: Any) -> list[dict[str, Any]]:
    return [m async for m in stream.receive]


@pytest.mark.anyio
async def test_routing_follows_the_request() -> None:
    sink = RoutingSink()
    call = sink.open_route(5, notifications=True)
    other = sink.open_route("5", notifications=False)
    get = sink.open_get_stream()
    assert get is not None and sink.open_get_stream() is None
    # Routing reads only the key each message was queued with: the payloads below say
    # nothing about where they belong (7 and "7" would be told apart the same way).
    await sink.write_batch(
        [
            ({"method": "codex/event", "params": {"msg": {}}}, 5, False),
            ({"method": "notifications/progress", "params": {"progress": 1}}, 5, False),
            ({"id": 0, "method": "elicitation/create", "params": {}}, 5, False),
            ({"method": "notifications/cancelled", "params": {"requestId": 0}}, 5, False),
            ({"method": "codex/event", "params": {"msg": {}}}, "5", False),
            ({"method": "notifications/message", "params": {}}, None, False),
            ({"id": "5", "result": {}}, "5", True),
            ({"id": 5, "result": {"done": True}}, 5, True),
            ({"method": "notifications/progress", "params": {"progress": 2}}, 5, False),
        ]
    )
    sink.close_all()
    on_call = await _drain(call)
    assert [m.get("method") for m in on_call] == [
        "codex/event",
        "notifications/progress",
        "elicitation/create",
        "notifications/cancelled",
        None,
    ]
    assert on_call[-1]["result"] == {"done": True}
    assert await _drain(other) == [{"id": "5", "result": {}}]
    on_get = await _drain(get)
    # The JSON-answered request takes no notifications; after the call ended, its key is unknown.
    assert [m["method"] for m in on_get] == ["codex/event", "notifications/message", "notifications/progress"]


@pytest.mark.anyio
async def test_a_gone_stream_reroutes_and_an_unanswered_request_ends_its_stream() -> None:
    sink = RoutingSink()
    call = sink.open_route(1, notifications=True)
    call.detach()  # the client closed the POST's stream
    get = sink.open_get_stream()
    assert get is not None
    ended = sink.open_route(2, notifications=True)
    await sink.write_batch(
        [
            ({"method": "codex/event", "params": {"msg": {}}}, 1, False),
            ({"id": 1, "result": {}}, 1, True),
            (None, 2, True),
        ]
    )
    assert await _drain(ended) == []
    assert not sink.in_use(1) and not sink.in_use(2)
    sink.close_all()
    assert [m.get("method") for m in await _drain(get)] == ["codex/event"]  # never the response


@pytest.mark.anyio
async def test_a_client_at_its_quota_replaces_only_its_own_idle_sessions(tmp_path: Path) -> None:
    options = ServerOptions(codex_home=tmp_path, cwd=tmp_path, env={})
    with anyio.fail_after(20):
        async with SessionManager(options, max_sessions=10, max_per_client=2) as sessions:
            other = await sessions.create("10.0.0.9")
            first = await sessions.create("10.0.0.1")
            second = await sessions.create("10.0.0.1")
            second.touch()
            third = await sessions.create("10.0.0.1")  # the client's own longest idle goes
            await first.done.wait()
            assert sessions.get(first.id) is None
            assert sessions.get(second.id) is second and sessions.get(third.id) is third
            assert sessions.get(other.id) is other  # another client's idle session stays
            get = third.sink.open_get_stream()  # an open stream makes a session busy
            assert get is not None
            route = second.sink.open_route(1, notifications=False)
            with pytest.raises(SessionRefused) as refused:
                await sessions.create("10.0.0.1")
            assert refused.value.status == 429
            get.detach()
            route.detach()


@pytest.mark.anyio
async def test_the_global_cap_refuses_instead_of_ending_other_clients(tmp_path: Path) -> None:
    options = ServerOptions(codex_home=tmp_path, cwd=tmp_path, env={})
    with anyio.fail_after(20):
        async with SessionManager(options, max_sessions=2, max_per_client=5) as sessions:
            victim = await sessions.create("victim")
            flood = await sessions.create("flood")
            with pytest.raises(SessionRefused) as refused:
                await sessions.create("newcomer")
            assert refused.value.status == 503 and refused.value.retry_after > 0
            replacement = await sessions.create("flood")  # its own idle session makes room
            await flood.done.wait()
            assert sessions.get(victim.id) is victim and sessions.get(replacement.id) is replacement


@pytest.mark.anyio
async def test_the_connection_table_makes_room_from_the_biggest_peer() -> None:
    table = ConnectionTable(max_connections=4, per_peer=3)
    legit = table.admit("10.0.0.1", None)
    assert legit is not None
    legit.set_state(State.BUSY)
    flood = [table.admit("10.0.0.2", None) for _ in range(3)]
    assert all(flood)
    # The flooder's 4th connection: its own oldest idle one makes room (per-peer cap).
    extra = table.admit("10.0.0.2", None)
    assert extra is not None and flood[0] is not None and flood[0].scope.cancel_called
    assert table.count("10.0.0.2") == 3 and len(table) == 4
    # A newcomer at the global cap: an idle connection of the biggest peer goes, never the busy one.
    newcomer = table.admit("10.0.0.3", None)
    assert newcomer is not None and not legit.scope.cancel_called
    assert table.count("10.0.0.2") == 2
    for entry in [e for e in [*flood, extra, newcomer] if e is not None]:
        entry.set_state(State.BUSY)
    assert table.admit("10.0.0.4", None) is None  # every connection busy: refuse
    table.release(legit)
    assert table.admit("10.0.0.4", None) is not None


def test_limits_follow_the_descriptor_limit() -> None:
    assert default_max_connections(None) == 512
    assert default_max_connections(1024) == 512
    assert default_max_connections(256) == 128
    assert default_max_connections(4) == 8
    limits = HttpLimits(max_connections=100)
    assert limits.per_peer == 50 and limits.body_budget == 4 * limits.max_body
    budget = BodyBudget(10)
    assert budget.reserve(6) and not budget.reserve(5)
    budget.release(6)
    assert budget.reserve(10)


def test_rate_limited_log_holds_back_repeats(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("codex_mcp.tests.ratelog")
    limited = RateLimitedLog(logger, logging.WARNING, interval=3600)
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for n in range(100):
            limited("flood", "refused %d", n)
        limited("other", "another condition")
    assert [r.getMessage() for r in caplog.records] == ["refused 0", "another condition"]


def test_peer_keys_and_identities() -> None:
    assert peer_key("192.0.2.7") == "192.0.2.7"
    assert peer_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert peer_key("::1") == "::1"
    assert peer_key("2001:db8:1:2:3:4:5:6") == peer_key("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    ends = Endpoints(("192.0.2.7", 5000), ("192.0.2.1", 8080))
    assert socket_owner(ends) is None  # not loopback: no local user to ask about
    assert client_identity(ends, None) == "192.0.2.7"
    assert client_identity(ends, 1001) == "192.0.2.7 uid 1001"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp")
def test_the_owner_of_a_local_client_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()):
        accepted, _ = server.accept()
        with accepted:
            ends = Endpoints(accepted.getpeername()[:2], accepted.getsockname()[:2])
            assert socket_owner(ends) == os.getuid()
