"""Helpers for the ceiling attacks: the person's config, a listener that must stay silent,
and what a refusal looks like from the client's side."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from pathlib import Path
from typing import Any

from tests.support.raw_client import text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import write_config

ACCEPT_WINDOW = 0.05
"""How long the accept loop blocks before looking at its stop flag (not a synchronisation)."""


def person_config(
    home: Path,
    model: ScriptedModel,
    *,
    sandbox: str = "read-only",
    approval: str = "untrusted",
    ceiling: str | None = None,
    server: str = "",
    extra: str = "",
) -> Path:
    """The person's own config.toml: their sandbox and approval policy, no ceiling setting
    unless given, `server` lines in `[codex_mcp]`, `extra` tables after."""
    table = f"[codex_mcp]\n{server}\n" if server else ""
    return write_config(
        home,
        model,
        extra=f'sandbox_mode = "{sandbox}"\napproval_policy = "{approval}"\n{table}{extra}',
        ceiling=ceiling,
    )


def assert_refused(result: dict[str, Any], *fragments: str) -> str:
    """A refused call: an isError result, before any thread exists, naming `fragments`."""
    assert result.get("isError") is True, result
    assert "structuredContent" not in result, "a refused call must not start a thread"
    text = text_of(result)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return text


class Listener:
    """A TCP listener on 127.0.0.1 recording every connection and the first bytes it sends.

    Judges "no request and no API key reached this host" from outside the server."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], ACCEPT_WINDOW)
            if not ready:
                continue
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2.0)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data and len(data) < 65536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                with self._lock:
                    self.received.append(data)

    def connections(self) -> list[bytes]:
        with self._lock:
            return list(self.received)

    def __enter__(self) -> Listener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
