"""Red-team variants of a hostile model provider, judged from outside: where the API key
goes (a listener standing in for the attacker's host), the turn ending with a clean error,
and the server still answering `ping`.

* a redirect (301/302/307/308) to another host, which must not be followed with the key;
* response heads that never end, or hold a header of a megabyte;
* a body compressed twice, or with an encoding the client does not support.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.security.harness import assert_alive, run_call
from tests.support.raw_client import text_of
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(90)

KEY = "provider-redirect-secret-key-31337"


@contextmanager
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener standing in for the attacker's host; records what reaches it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    seen.append(conn.recv(65536))
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@contextmanager
def provider(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A provider whose every POST is answered by `answer`; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0") or 0))
            with suppress(BrokenPipeError, ConnectionResetError):
                answer(self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _config(codex_home: Path, base_url: str) -> None:
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        f'model = "m"\nmodel_provider = "p"\n\n[model_providers.p]\nname = "p"\nbase_url = "{base_url}"\n'
        'env_key = "PROVIDER_KEY"\nwire_api = "responses"\nrequest_max_retries = 0\nstream_max_retries = 0\n'
    )


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_does_not_carry_the_key_elsewhere(
    status: int, spawn_server: ServerFactory, codex_home: Path
) -> None:
    with listener() as (port, seen):

        def redirect(h: BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Location", f"http://127.0.0.1:{port}/v1/responses")
            h.send_header("Content-Length", "0")
            h.end_headers()

        with provider(redirect) as url:
            _config(codex_home, url)
            client = spawn_server(env={"PROVIDER_KEY": KEY})
            result = run_call(client, sandbox="read-only")
            assert result.get("isError"), result
            assert_alive(client)
    assert not any(KEY.encode() in data for data in seen), "the key followed the redirect"
    assert seen == [], "the client followed the redirect"


HOSTILE_HEADS: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}


def _huge_header(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Pad: " + b"a" * (1 << 20) + b"\r\n\r\n"
    )


def _endless_head(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for i in range(200_000):
        h.wfile.write(f"X-H{i}: v\r\n".encode())


def _double_gzip(h: BaseHTTPRequestHandler) -> None:
    import gzip

    body = gzip.compress(gzip.compress(b"data: " + b"x" * 100 + b"\n\n"))
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Content-Encoding", "gzip, gzip")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _brotli(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Content-Encoding", "br")
    h.send_header("Content-Length", "4")
    h.end_headers()
    h.wfile.write(b"\x0b\x00\x80\x03")


HOSTILE_HEADS.update(
    {
        "huge-header": _huge_header,
        "endless-head": _endless_head,
        "double-gzip": _double_gzip,
        "brotli": _brotli,
    }
)


@pytest.mark.parametrize("name", list(HOSTILE_HEADS))
def test_hostile_heads_and_encodings_end_the_turn_cleanly(
    name: str, spawn_server: ServerFactory, codex_home: Path
) -> None:
    with provider(HOSTILE_HEADS[name]) as url:
        _config(codex_home, url)
        client = spawn_server(env={"PROVIDER_KEY": KEY})
        result = run_call(client, sandbox="read-only")
        assert result.get("isError"), result
        assert "internal error" not in text_of(result).lower()
        assert_alive(client)
