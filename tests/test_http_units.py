"""Pieces of the HTTP transport that need no server process: addresses, access rules,
message routing, and the session registry's limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.http.routing import END_OF_REQUEST, RoutingSink
from codex_mcp.http.security import (
    AccessPolicy,
    AddressError,
    is_loopback_host,
    parse_allowed_origins,
    parse_listen_address,
)
from codex_mcp.http.session import SessionManager
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
    call = sink.open_route(5, "tok", notifications=True)
    other = sink.open_route("5", None, notifications=False)
    get = sink.open_get_stream()
    assert get is not None and sink.open_get_stream() is None
    await sink.write_batch(
        [
            {"method": "codex/event", "params": {"_meta": {"requestId": 5}, "msg": {}}},
            {"method": "notifications/progress", "params": {"progressToken": "tok", "progress": 1}},
            {"id": 0, "method": "elicitation/create", "params": {"codex_mcp_tool_call_id": "5"}},
            {"method": "notifications/cancelled", "params": {"requestId": 0}},
            {"method": "codex/event", "params": {"_meta": {"requestId": "5"}, "msg": {}}},
            {"method": "notifications/message", "params": {}},
            {"id": "5", "result": {}},
            {"id": 5, "result": {"done": True}},
            {"method": "notifications/progress", "params": {"progressToken": "tok", "progress": 2}},
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
    # The JSON-answered request takes no notifications; after the call ended, its token is unknown.
    assert [m["method"] for m in on_get] == ["codex/event", "notifications/message", "notifications/progress"]


@pytest.mark.anyio
async def test_a_gone_stream_reroutes_and_an_unanswered_request_ends_its_stream() -> None:
    sink = RoutingSink()
    call = sink.open_route(1, None, notifications=True)
    call.detach()  # the client closed the POST's stream
    get = sink.open_get_stream()
    assert get is not None
    ended = sink.open_route(2, None, notifications=True)
    await sink.write_batch(
        [
            {"method": "codex/event", "params": {"_meta": {"requestId": 1}, "msg": {}}},
            {"id": 1, "result": {}},
            {"method": END_OF_REQUEST, "id": 2},
        ]
    )
    assert await _drain(ended) == []
    assert not sink.in_use(1) and not sink.in_use(2)
    sink.close_all()
    assert [m.get("method") for m in await _drain(get)] == ["codex/event"]  # never the response


@pytest.mark.anyio
async def test_the_session_limit_makes_room_by_ending_the_longest_idle(tmp_path: Path) -> None:
    options = ServerOptions(codex_home=tmp_path, cwd=tmp_path, env={})
    with anyio.fail_after(20):
        async with SessionManager(options, max_sessions=2) as sessions:
            first = await sessions.create()
            second = await sessions.create()
            assert first is not None and second is not None
            second.touch()
            third = await sessions.create()
            assert third is not None
            await first.done.wait()
            assert sessions.get(first.id) is None
            assert sessions.get(second.id) is second
            get = third.sink.open_get_stream()  # an open stream makes a session busy
            assert get is not None
            second_route = second.sink.open_route(1, None, notifications=False)
            assert await sessions.create() is None
            get.detach()
            second_route.detach()
