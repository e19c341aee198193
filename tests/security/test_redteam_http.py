"""Red-team variants of a hostile `--http` peer, judged from outside: the status each raw
request gets, that no session is created for a stranger, and that a fresh client is still
served (`assert_serving`) with the server's peak memory bounded.

Variants the HTTP tests do not cover: request smuggling (Transfer-Encoding with
Content-Length, a request hidden in a body), requests pipelined behind an authenticated one
without the token, `Expect: 100-continue` from a stranger, Host spellings that only look
loopback, Origins that only look loopback, absolute-form and `*` targets, chunk extensions
and trailers without end, a head trickled one byte at a time.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.http_support import (
    TOKEN,
    ResponseReader,
    Spawn,
    assert_serving,
    closed_by_server,
    connect,
    peak_rss_mib,
    read_response,
    request_head,
    send_quietly,
    target_factory,
)

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
    pytest.mark.timeout(120),
]

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
BODY = json.dumps(INIT).encode()


@pytest.fixture
def spawn(codex_home: Path, workspace: Path) -> Iterator[Spawn]:
    with target_factory(codex_home, workspace) as factory:
        yield factory


def _raw(method: str, target: str, fields: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in fields), "", ""]
    return "\r\n".join(lines).encode("utf-8") + body


def test_smuggled_requests_get_no_session(spawn: Spawn) -> None:
    """Transfer-Encoding and Content-Length together, with a complete unauthenticated
    `initialize` hidden where one parser would see a body and another a second request."""
    target = spawn()
    host = ("host", f"127.0.0.1:{target.port}")
    hidden = _raw("POST", "/mcp", [host, ("content-type", "application/json"),
                                   ("content-length", str(len(BODY)))], BODY)  # fmt: skip
    variants = [
        # CL covers the hidden request; TE says the body ends at once.
        _raw(
            "POST",
            "/mcp",
            [host, ("content-length", str(5 + len(hidden))), ("transfer-encoding", "chunked")],
            b"0\r\n\r\n" + hidden,
        ),
        # TE obfuscated: a value only some parsers take as chunked.
        _raw("POST", "/mcp", [host, ("content-length", "0"), ("transfer-encoding", " chunked")], hidden),
        _raw(
            "POST",
            "/mcp",
            [host, ("transfer-encoding", "xchunked"), ("content-length", str(len(hidden)))],
            hidden,
        ),
        _raw("POST", "/mcp", [host, ("transfer-encoding", "chunked, identity")], b"0\r\n\r\n" + hidden),
        # Two different Content-Lengths.
        _raw("POST", "/mcp", [host, ("content-length", "0"), ("content-length", str(len(hidden)))], hidden),
    ]
    for payload in variants:
        with connect(target) as sock:
            send_quietly(sock, payload)
            reader = ResponseReader(sock)
            first = reader.next(5.0)
            assert first is None or first.status in (400, 401, 501), first
            assert first is None or "mcp-session-id" not in first.headers
            second = reader.next(3.0) if first is not None else None
            assert second is None or second.status in (400, 401, 501), second
            assert second is None or "mcp-session-id" not in second.headers
    assert "started for" not in target.server.stderr()
    assert_serving(target)


def test_a_request_pipelined_behind_an_authorised_one_needs_its_own_token(spawn: Spawn) -> None:
    target = spawn()
    auth = request_head(target, extra={"content-length": str(len(BODY))}, authorized=True) + BODY
    stranger = request_head(target, extra={"content-length": str(len(BODY))}) + BODY
    with connect(target) as sock:
        send_quietly(sock, auth + stranger)
        reader = ResponseReader(sock)
        first = reader.next(10.0)
        assert first is not None and first.status == 200 and "mcp-session-id" in first.headers
        second = reader.next(5.0)
        assert second is not None and second.status == 401, second
        assert "mcp-session-id" not in second.headers
    assert target.server.stderr().count("started for") <= 1
    assert_serving(target)


def test_a_stranger_gets_no_100_continue(spawn: Spawn) -> None:
    """A stranger announcing a body with `Expect: 100-continue` is refused before the server
    invites the body."""
    target = spawn()
    with connect(target) as sock:
        head = request_head(target, extra={"content-length": str(64 * 1024 * 1024), "expect": "100-continue"})
        send_quietly(sock, head)
        answer = read_response(sock, 5.0)
        assert answer is not None and answer.status == 401, answer
    assert_serving(target)


@pytest.mark.parametrize(
    "host",
    ["localhost.evil.example", "127.0.0.1.nip.io", "evil.example:80@localhost", "[::ffff:127.0.0.1]",
     "0x7f.0.0.1", "2130706433", "127.1", "localhost:1234:5678", "loc\u0430lhost", "evil.example, localhost"],
)  # fmt: skip
def test_host_headers_that_only_look_loopback_are_refused(host: str, spawn: Spawn) -> None:
    """A loopback server without a token (DNS rebinding is the threat): only the loopback
    names themselves pass."""
    target = spawn(token=None)
    with connect(target) as sock:
        head = _raw("POST", "/mcp", [("host", host), ("content-type", "application/json"),
                                     ("content-length", str(len(BODY)))], BODY)  # fmt: skip
        send_quietly(sock, head)
        answer = read_response(sock, 5.0)
        assert answer is not None and answer.status in (400, 403), (host, answer)
        assert "mcp-session-id" not in answer.headers
    assert_serving(target)


@pytest.mark.parametrize(
    "origin",
    ["null", "http://localhost.evil.example", "http://127.0.0.1@evil.example", "http://evil.example#@localhost",
     "file://", "http://[::ffff:7f00:1]", "http://localhost\\@evil.example", "chrome-extension://abc"],
)  # fmt: skip
def test_origins_that_only_look_loopback_are_refused(origin: str, spawn: Spawn) -> None:
    target = spawn(token=None)
    with connect(target) as sock:
        head = request_head(target, extra={"origin": origin, "content-length": str(len(BODY))})
        send_quietly(sock, head + BODY)
        answer = read_response(sock, 5.0)
        assert answer is not None and answer.status == 403, (origin, answer)
    assert_serving(target)


@pytest.mark.parametrize("path", ["http://evil.example/mcp", "*", "/mcp/../mcp", "//mcp", "/MCP", "/mcp%00"])
def test_odd_request_targets_create_nothing(path: str, spawn: Spawn) -> None:
    target = spawn()
    with connect(target) as sock:
        head = request_head(target, extra={"content-length": str(len(BODY))}, authorized=True, path=path)
        send_quietly(sock, head + BODY)
        answer = read_response(sock, 5.0)
        assert answer is None or answer.status != 200 or "mcp-session-id" not in answer.headers, (
            path,
            answer,
        )
    assert_serving(target)


def test_endless_chunk_extensions_and_trailers_are_cut_off(spawn: Spawn) -> None:
    """An authorised client sends a chunk size line, then trailers, that never end."""
    target = spawn()
    for opener in (b"1;" + b"x" * 1024, b"0\r\nx-trailer: " + b"y" * 1024):
        with connect(target) as sock:
            head = request_head(target, extra={"transfer-encoding": "chunked"}, authorized=True)
            send_quietly(sock, head + opener)
            for _ in range(256):  # 256 KiB more of the same line
                if not send_quietly(sock, b"z" * 1024):
                    break
            assert closed_by_server(sock, 15.0)
    assert peak_rss_mib(target.pid) < 150
    assert_serving(target)


def test_a_head_trickled_byte_by_byte_is_cut_off_in_time(spawn: Spawn) -> None:
    """Each byte arrives in time for an idle timer that restarts; the head's own deadline
    (10 s from its first byte) does not restart."""
    target = spawn()
    head = request_head(target, extra={"x-pad": "p" * 400})
    with connect(target) as sock:
        started = time.monotonic()
        cut = False
        for byte in head:
            if not send_quietly(sock, bytes([byte])):
                cut = True
                break
            sock.settimeout(0.05)
            try:
                if sock.recv(1024) == b"" or time.monotonic() - started > 20:
                    cut = True
                    break
            except TimeoutError:
                pass
            except OSError:
                cut = True
                break
        assert cut, "the server waited for the whole trickled head"
        assert time.monotonic() - started < 20
    assert TOKEN not in target.server.stderr()
    assert_serving(target)


def test_the_token_is_not_left_in_the_process_list(spawn: Spawn) -> None:
    """Another local user reads the server's command line (`ps`): the token given with
    `--http-token` has been blanked out once the server serves."""
    import os
    import shutil
    import subprocess

    target = spawn()
    assert_serving(target)
    argv = ["cat", f"/proc/{target.pid}/cmdline"]
    if os.geteuid() == 0 and shutil.which("runuser"):
        argv = ["runuser", "-u", "tester", "--", *argv]
    seen = subprocess.run(argv, capture_output=True, check=True, timeout=10).stdout
    assert b"--http-token" in seen
    assert TOKEN.encode() not in seen, seen
