"""The proxy's limits against a command that holds connections: the connection cap, the idle
timeout of a tunnel, the time a request head may take.  Both backends (as root: the limits
are the proxy's, not the sandbox's).  Judged from outside where the origin can tell (what it
served, how many streams at once), and by the command's own view of the proxy's answers.

Tried / got through, per backend: connections over the cap (1 / 0), an idle tunnel kept
open (1 / 0), a silent client holding a connection (1 / 0); a busy download is not cut by
the idle timeout (control).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.backends_support import BACKENDS, needs_linux, place
from tests.security.netproxy_support import ORIGIN_IP, drive, http_origin, probe_spec

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.e2e, pytest.mark.timeout(240)]

ALLOW = {"mode": "allow-list", "allow": [ORIGIN_IP], "allow_local": [ORIGIN_IP]}


def _sh(script: str) -> dict[str, Any]:
    return {"exec": ["/bin/bash", "-c", script], "yield_ms": 30_000}


@pytest.mark.parametrize("backend", BACKENDS)
def test_connections_over_the_cap_are_refused(backend: str) -> None:
    with place("root", git=False) as where, http_origin() as origin:
        base = f"http://{ORIGIN_IP}:{origin.port}"
        script = (
            f"curl -s --max-time 20 -o s1 {base}/slow & curl -s --max-time 20 -o s2 {base}/slow & "
            "until [ -s s1 ] && [ -s s2 ]; do sleep 0.05; done; "
            f"curl -sS -i --max-time 5 {base}/third; echo; kill %1 %2"
        )
        settings = {**ALLOW, "max_connections": 2}
        report = drive("root", probe_spec(backend, where.ws, [_sh(script)], settings=settings), where.base)
        out = report["results"][0]["output"]
        assert "503" in out and "too many connections" in out, out
        assert "/third" not in origin.hits and origin.hits.count("/slow") == 2


TUNNEL = r"""
import os, socket, sys, time
host, port = os.environ["HTTP_PROXY"].rsplit("/", 1)[1].split(":")
s = socket.create_connection((host, int(port)), timeout=30)
s.sendall(f"CONNECT {sys.argv[1]} HTTP/1.1\r\n\r\n".encode())
head = s.recv(4096)
started = time.monotonic()
rest = s.recv(4096)  # nothing is sent: the proxy ends the idle tunnel
print(head.split(b"\r\n")[0].decode(), "closed-after", round(time.monotonic() - started, 1), rest)
"""

SILENT = r"""
import os, socket, time
host, port = os.environ["HTTP_PROXY"].rsplit("/", 1)[1].split(":")
s = socket.create_connection((host, int(port)), timeout=30)
started = time.monotonic()
answer = s.recv(4096)
print("answered-after", round(time.monotonic() - started, 1), answer.split(b"\r\n")[0].decode())
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_idle_tunnels_and_silent_clients_are_let_go(backend: str) -> None:
    with place("root", git=False) as where, http_origin() as origin:
        target = f"{ORIGIN_IP}:{origin.port}"
        steps = [
            {"exec": ["/usr/bin/python3", "-I", "-c", TUNNEL, target], "yield_ms": 30_000},
            {"exec": ["/usr/bin/python3", "-I", "-c", SILENT], "yield_ms": 30_000},
            _sh(f"curl -s --max-time 3 -o busy http://{target}/slow; echo exit=$?"),
        ]
        settings = {**ALLOW, "idle_timeout_sec": 1}
        report = drive("root", probe_spec(backend, where.ws, steps, settings=settings), where.base)
        tunnel, silent, busy = (r["output"] for r in report["results"])
        assert tunnel.startswith("HTTP/1.1 200"), tunnel
        waited = float(tunnel.split("closed-after ")[1].split()[0])
        # Loose upper bounds (a loaded machine is slow); unbounded, these would wait 30 s.
        assert 0.5 <= waited < 20, tunnel
        waited = float(silent.split("answered-after ")[1].split()[0])
        assert 8 <= waited < 25 and "408" in silent, silent
        # Cut by curl's own 3 s limit (28), not by the proxy's 1 s idle timeout.
        assert "exit=28" in busy, f"a busy download was cut by the idle timeout: {busy}"
