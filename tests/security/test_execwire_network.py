"""The network of process sessions, through the real server, both backends, root and `tester`.

Without network access (workspace-write's default), `curl` from a session reaches no
listener on loopback outside the sandbox, and a server started in one session cannot even
listen; with `network_access = true` in the person's config, a server started in one turn
answers `curl` from the next (the dev-server workflow).  Judged from outside: the listener's
accepted connections, and what the model was told.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.execwire_support import exec_command, exit_code_in
from tests.security.backends_support import BACKENDS, USERS, needs_linux
from tests.security.execwire_support import go, listener, server
from tests.support.raw_client import result_of, text_of
from tests.support.scripted_model import ScriptedModel

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(240)]

SERVER = (
    'python3 -c "import http.server as h\n'
    "class H(h.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'hello from a session')\n"
    "    def log_message(self, *a): pass\n"
    "srv = h.HTTPServer(('127.0.0.1', 0), H)\n"
    "open('port', 'w').write(str(srv.server_address[1]))\n"
    "print('listening', flush=True)\n"
    'srv.serve_forever()"'
)
FETCH = 'curl -s -m 5 "http://127.0.0.1:$(cat port)/"'


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_without_network_a_session_reaches_nothing(
    user: str, backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    m = scripted_model
    with listener() as (port, accepted):
        fetch = exec_command(m, f"curl -sS -m 5 http://127.0.0.1:{port}/", yield_ms=10_000)
        on_tty = exec_command(m, f"curl -sS -m 5 http://127.0.0.1:{port}/", tty=True, yield_ms=10_000)
        serve = exec_command(m, SERVER, yield_ms=3000)
        m.text("done")
        with server(user, m, tmp_path / "server.log", backend=backend) as (client, _):
            go(client)
            for call in (fetch, on_tty):
                out = m.call_output(call)
                assert exit_code_in(out) not in (None, 0), out
            served = m.call_output(serve)
            assert "listening" not in served and exit_code_in(served) not in (None, 0), served
        assert accepted == []


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_with_network_a_server_started_in_one_turn_answers_the_next(
    user: str, backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    m = scripted_model
    serve = exec_command(m, SERVER, yield_ms=3000)
    m.text("serving")
    fetch = exec_command(m, FETCH, yield_ms=10_000)
    m.text("fetched")
    extra = "[sandbox_workspace_write]\nnetwork_access = true\n"
    with server(user, m, tmp_path / "server.log", backend=backend, extra=extra) as (client, _):
        first = go(client)
        assert "listening" in m.call_output(serve), m.call_output(serve)
        rid = client.call_tool(
            "codex-reply", {"threadId": first["structuredContent"]["threadId"], "prompt": "fetch"}
        )
        assert text_of(result_of(client.wait_response(rid, 60))) == "fetched"
        out = m.call_output(fetch)
        assert exit_code_in(out) == 0 and "hello from a session" in out, out
