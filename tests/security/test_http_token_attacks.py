"""A network peer without the bearer token: guessing it, smuggling it, and flooding with
refused requests.

Judged from outside: every guess is refused with 401 (never 200, never a 500 or a crash),
no session is ever created for it, the refusals do not flood the log, and the server
serves the real token throughout.  The comparison itself is checked to take the same path
whatever the guess (fixed-size digests), so its timing says nothing about the token.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_mcp.http import security
from tests.security.http_support import (
    TOKEN,
    Spawn,
    assert_serving,
    client,
    connect,
    read_response,
    request_head,
    send_quietly,
    target_factory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "x", "version": "0"},
    },
}


@pytest.fixture
def spawn(codex_home: Path, workspace: Path) -> Iterator[Spawn]:
    with target_factory(codex_home, workspace) as factory:
        yield factory


def test_the_comparison_does_not_depend_on_the_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the guess (empty, a prefix, longer, one byte off), the same fixed-size
    comparison runs; only the exact token passes."""
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    policy = security.AccessPolicy(loopback=False, token=TOKEN)
    guesses = ["", "h", TOKEN[:-1], TOKEN + "x", TOKEN[:-1] + "X", TOKEN.upper(), "x" * 10_000, "é" * 40]
    for guess in guesses:
        refusal = policy.check({"authorization": f"Bearer {guess}"})
        assert refusal is not None and refusal.status == 401
    assert policy.check({"authorization": f"Bearer {TOKEN}"}) is None
    assert compared == [(32, 32)] * (len(guesses) + 1)


def test_wrong_and_smuggled_tokens_are_refused(spawn: Spawn) -> None:
    """Guesses, other schemes, the token in the wrong place, odd bytes: 401, no session."""
    target = spawn(host="0.0.0.0")
    attempts: list[dict[str, str]] = [
        {},
        {"authorization": "Bearer"},
        {"authorization": "Bearer "},
        {"authorization": f"Bearer {TOKEN[:-1]}"},
        {"authorization": f"Bearer {TOKEN}x"},
        {"authorization": f"Bearer {TOKEN.upper()}"},
        {"authorization": f"Basic {TOKEN}"},
        {"authorization": TOKEN},
        {"x-authorization": f"Bearer {TOKEN}"},
        {"proxy-authorization": f"Bearer {TOKEN}"},
        {"cookie": f"token={TOKEN}"},
        {"authorization": "Bearer \xff\xfe" + TOKEN[2:]},
    ]
    body = json.dumps(INIT).encode()
    for extra in attempts:
        with connect(target) as sock:
            head = request_head(target, extra={**extra, "content-length": str(len(body))})
            send_quietly(sock, head + body)
            answer = read_response(sock, 5.0)
            assert answer is not None and answer.status == 401, (extra, answer)
            assert "mcp-session-id" not in answer.headers
    with connect(target) as sock:  # the token in the query string is not a token either
        head = request_head(target, extra={"content-length": str(len(body))}, path=f"/mcp?token={TOKEN}")
        send_quietly(sock, head + body)
        answer = read_response(sock, 5.0)
        assert answer is not None and answer.status == 401
    assert "started for" not in target.server.stderr()
    assert_serving(target)


def test_a_flood_of_refused_requests_is_logged_rate_limited(spawn: Spawn) -> None:
    """2,000 unauthenticated requests (keep-alive is cut after each refusal): all 401, the
    log gets about one line per 10 s, not 2,000."""
    target = spawn()
    started = time.monotonic()
    with client() as http:
        statuses = {
            http.post(
                target.url, content=json.dumps(INIT), headers={"content-type": "application/json"}
            ).status_code
            for _ in range(2000)
        }
    assert statuses == {401}
    assert_serving(target)
    refused = [line for line in target.server.lines if "refused POST" in line]
    assert 1 <= len(refused) <= 2 + (time.monotonic() - started) / 10, refused
