"""A lean JSON-RPC client for load: O(1) work per message, whatever the run length.

`RawClient` keeps every message and rescans them on each wait, which is right for
functional tests and quadratic under load.  This client keeps only counters, routes each
response to the thread waiting for its id, and drops notifications after counting them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any


class SoakClient:
    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
            cwd=str(cwd),
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._waiting: dict[int, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self.counts: Counter[str] = Counter()
        self.bad_lines = 0
        self.stray: list[dict[str, Any]] = []
        self.eof = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                continue
            if "method" in msg:
                self.counts["server requests" if "id" in msg else "notifications"] += 1
                if "id" in msg:  # nothing here should ask us anything: refuse it
                    self._send(
                        {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "no"}}
                    )
                continue
            with self._lock:
                entry = self._waiting.pop(msg.get("id"), None) if isinstance(msg.get("id"), int) else None
            if entry is None:
                self.stray.append(msg)
                continue
            self.counts["responses"] += 1
            entry[1].append(msg)
            entry[0].set()
        self.eof.set()
        for event, _ in list(self._waiting.values()):
            event.set()

    def _send(self, msg: dict[str, Any]) -> None:
        data = json.dumps(msg).encode() + b"\n"
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def call(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        rid = next(self._ids)
        event: threading.Event = threading.Event()
        slot: list[dict[str, Any]] = []
        with self._lock:
            self._waiting[rid] = (event, slot)
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self._send(msg)
        if not event.wait(timeout) or not slot:
            with self._lock:
                self._waiting.pop(rid, None)
            raise TimeoutError(f"no response to {method} #{rid} within {timeout} s (eof={self.eof.is_set()})")
        return slot[0]

    def initialize(self) -> None:
        response = self.call(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "soak", "version": "0"},
            },
        )
        assert "result" in response, response
        self._send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def close_stdin(self) -> None:
        with self._write_lock, contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._reader.join(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()
        self._log.close()
