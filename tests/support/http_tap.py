"""A recording reverse proxy on 127.0.0.1 for Streamable HTTP: what a client really got.

A client-matrix test puts it between a third-party client and `codex-mcp-server --http`, so
it can check what crossed the wire, and when: the client's requests (e.g. the
`progressToken` it sent) and every JSON-RPC message of every response, SSE streams included,
in arrival order.  Responses are passed on as they arrive (SSE chunk by chunk), so the
client sees the server's timing, not the proxy's.

Every wait is on a condition and bounded; nothing sleeps to synchronise.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "host",
    }
)
UPSTREAM_TIMEOUT = 120.0


@dataclass(frozen=True)
class Seen:
    """One JSON-RPC message on the wire."""

    at: float
    """`time.monotonic()` when the proxy saw it."""
    direction: str
    """`client` (sent by the client) or `server`."""
    message: dict[str, Any]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-stream is normal here


class HttpTap:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname is not None and parts.port is not None, upstream
        self.host = parts.hostname
        self.port = parts.port
        self.path = parts.path or "/"
        self.seen: list[Seen] = []
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> HttpTap:
        tap = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                tap._forward(self)

            def do_GET(self) -> None:
                tap._forward(self)

            def do_DELETE(self) -> None:
                tap._forward(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HttpTap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    # -- inspection --------------------------------------------------------------------

    def messages(self, direction: str | None = None) -> list[Seen]:
        with self._cond:
            return [s for s in self.seen if direction is None or s.direction == direction]

    def wait_for(self, predicate: Callable[[Seen], bool], timeout: float, what: str) -> Seen:
        """The first message matching `predicate`, waiting (bounded) for it to arrive."""
        found: list[Seen] = []

        def match() -> bool:
            found.extend(s for s in self.seen if predicate(s))
            return bool(found)

        with self._cond:
            if not self._cond.wait_for(match, timeout):
                raise AssertionError(f"no {what} crossed the proxy within {timeout} s")
        return found[0]

    def _record(self, direction: str, payload: Any) -> None:
        items = payload if isinstance(payload, list) else [payload]
        now = time.monotonic()
        with self._cond:
            self.seen.extend(Seen(now, direction, m) for m in items if isinstance(m, dict))
            self._cond.notify_all()

    # -- forwarding --------------------------------------------------------------------

    def _forward(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else None
        if body:
            with contextlib.suppress(ValueError):
                self._record("client", json.loads(body))
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(self.host, self.port, timeout=UPSTREAM_TIMEOUT)
        try:
            upstream.request(h.command, h.path, body=body, headers=headers)
            response = upstream.getresponse()
            h.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    h.send_header(key, value)
            stream = (response.getheader("content-type") or "").startswith("text/event-stream")
            if stream:
                h.send_header("Transfer-Encoding", "chunked")
                h.send_header("Connection", "close")
                h.end_headers()
                self._relay_stream(h, response)
            else:
                data = response.read()
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
                if data and (response.getheader("content-type") or "").startswith("application/json"):
                    with contextlib.suppress(ValueError):
                        self._record("server", json.loads(data))
        except (OSError, http.client.HTTPException):
            h.close_connection = True
        finally:
            upstream.close()

    def _relay_stream(self, h: BaseHTTPRequestHandler, response: http.client.HTTPResponse) -> None:
        h.close_connection = True
        buffer = b""
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            # Recorded before it is passed on, so a test that saw a message knows the client
            # cannot have acted on it yet.
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                data = b"\n".join(
                    line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")
                )
                if data:
                    with contextlib.suppress(ValueError):
                        self._record("server", json.loads(data))
            h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            h.wfile.flush()
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
