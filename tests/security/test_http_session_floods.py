"""A network peer floods `--http` with sessions.  It used to evict every other client's idle
session (one global LRU of 64); now each client identity (address, and the local user owning
the socket) has a quota within which only its own sessions make room, and a global cap
refuses new sessions instead of ending anyone's.

Judged from outside: the victim's session, opened before the flood, still answers `ping`
afterwards; refusals are 429/503 with Retry-After and say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.security.http_support import (
    Spawn,
    assert_serving,
    client,
    end_session,
    headers,
    initialize,
    open_session,
    ping,
    target_factory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

FLOOD = 100


@pytest.fixture
def spawn(codex_home: Path, workspace: Path) -> Iterator[Spawn]:
    with target_factory(codex_home, workspace) as factory:
        yield factory


def test_a_session_flood_does_not_evict_another_clients_session(spawn: Spawn) -> None:
    """One client (127.0.0.2) opens 100 sessions and never ends them; the victim's idle
    session (127.0.0.1) survives.  The flood only ever replaces its own sessions."""
    target = spawn()
    victim = open_session(target)
    with client("127.0.0.2") as http:
        statuses = [initialize(http, target).status_code for _ in range(FLOOD)]
    assert set(statuses) == {200}, statuses
    assert ping(target, victim) == 200
    target.server.wait_line("this client has too many sessions: ending its longest idle session")
    assert_serving(target)


def test_the_global_cap_refuses_new_sessions_instead_of_ending_others(spawn: Spawn) -> None:
    """Forty addresses open a session each against a cap of 20: once full, newcomers get 503
    with Retry-After and a reason; no existing session is ended; a freed slot is usable."""
    target = spawn("--http-max-sessions", "20")
    victim = open_session(target)
    created: list[str] = []
    refused = []
    for n in range(2, 42):
        with client(f"127.0.0.{n}") as http:
            response = initialize(http, target)
        if response.status_code == 200:
            created.append(response.headers["mcp-session-id"])
        else:
            refused.append(response)
    assert len(created) == 19
    assert refused and all(r.status_code == 503 for r in refused)
    assert all(r.headers.get("retry-after") for r in refused)
    assert "too many sessions" in refused[0].json()["error"]["message"]
    assert ping(target, victim) == 200
    assert all(ping(target, session) == 200 for session in created)
    end_session(target, created[0])
    assert open_session(target, "127.0.0.99")


def test_a_clients_busy_sessions_are_never_replaced(spawn: Spawn) -> None:
    """At its quota with every session in use (a GET stream open on each), a client's next
    session is refused with 429; its streams stay open, other clients are unaffected."""
    target = spawn("--http-max-sessions-per-client", "3")
    with ExitStack() as stack:
        http = stack.enter_context(client("127.0.0.2", timeout=30))
        sessions = [open_session(target, "127.0.0.2") for _ in range(3)]
        for session in sessions:
            stream = stack.enter_context(
                http.stream(
                    "GET", target.url, headers={**headers(target, session), "accept": "text/event-stream"}
                )
            )
            assert stream.status_code == 200
        with client("127.0.0.2") as other:
            refused = initialize(other, target)
        assert refused.status_code == 429, refused.text
        assert "3 sessions" in refused.json()["error"]["message"]
        assert all(ping(target, session, "127.0.0.2") == 200 for session in sessions)
        assert_serving(target)


def test_session_id_guessing_finds_nothing(spawn: Spawn) -> None:
    """Random and malformed session ids (with the token) get 404 and touch no session."""
    target = spawn()
    victim = open_session(target)
    guesses = [os.urandom(16).hex() for _ in range(300)]
    guesses += [victim[:-1] + "0", victim.upper(), victim + " ", "", "../" + victim, victim * 2]
    with client() as http:
        message = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
        for guess in guesses:
            if guess.strip() == victim:
                continue
            response = http.post(target.url, content=message, headers=headers(target, guess))
            assert response.status_code in (400, 404), (guess, response.status_code)
    assert ping(target, victim) == 200


@pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"), reason="needs root to su")
def test_another_local_user_flooding_from_127_0_0_1_is_another_client(spawn: Spawn) -> None:
    """Every local program connects from 127.0.0.1; the socket's owner tells the users
    apart.  A flood by the unprivileged user `tester` evicts nothing of root's."""
    if subprocess.run(["id", "tester"], capture_output=True).returncode != 0:
        pytest.skip("no user 'tester'")
    target = spawn()
    victim = open_session(target)
    flood = textwrap.dedent(
        f"""
        import json, urllib.request
        body = json.dumps({{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {{
            "protocolVersion": "2025-06-18", "capabilities": {{}},
            "clientInfo": {{"name": "flood", "version": "0"}}}}}}).encode()
        codes = []
        for _ in range({FLOOD}):
            request = urllib.request.Request({target.url!r}, data=body, headers={{
                "content-type": "application/json",
                "accept": "application/json, text/event-stream",
                "authorization": "Bearer {target.token}"}})
            with urllib.request.urlopen(request, timeout=10) as response:
                codes.append(response.status)
        print(sorted(set(codes)))
        """
    )
    result = subprocess.run(
        ["su", "tester", "-s", "/bin/sh", "-c", "python3 -"],
        input=flood,
        capture_output=True,
        text=True,
        timeout=90,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "*"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[200]"
    assert ping(target, victim) == 200
    target.server.wait_line("started for 127.0.0.1 uid 1001")
