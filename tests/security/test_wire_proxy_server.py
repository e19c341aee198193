"""The real server behind an HTTP proxy named by its environment (`HTTP_PROXY`/`HTTPS_PROXY`,
`NO_PROXY` emptied): a multi-step turn reaches the scripted model through the loopback proxy
(`tests/support/http_proxy.py`) over one kept connection, and a proxy that refuses the
credentials makes a clear error whose text, events and server log never hold them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.harness import assert_alive, run_call
from tests.security.wire_pki_support import Pki, server_context
from tests.security.wire_support import Answer, answering, respond
from tests.support.http_proxy import HttpProxy
from tests.support.model_turns import Turn, function_call, responses_frames
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, write_config

PASSWORD = "hunter2-proxy-pw"


@pytest.fixture
def proxy() -> Iterator[HttpProxy]:
    with HttpProxy() as p:
        yield p


def proxy_env(url: str) -> dict[str, str]:
    return {"HTTP_PROXY": url, "HTTPS_PROXY": url, "NO_PROXY": "", "no_proxy": ""}


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_multi_step_turn_goes_through_one_proxy_connection(
    codex_home: Path,
    spawn_server: ServerFactory,
    proxy: HttpProxy,
    scheme: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Five model requests (four plan updates, then the answer), each answer framed by its
    length so the connection can be kept: one proxy connection, one provider connection.
    An http provider gets them forwarded; an https one through one CONNECT tunnel, with the
    test CA trusted through `SSL_CERT_FILE`."""
    plan = [{"step": "look", "status": "in_progress"}]
    steps = [Turn("calls", calls=[function_call("update_plan", {"plan": plan})]) for _ in range(4)]
    steps.append(Turn("text", text="done through the proxy"))
    answers = [Answer(respond(b"".join(responses_frames(t)))) for t in steps]
    env = proxy_env(proxy.url())
    tls = None
    if scheme == "https":
        pki = Pki(tmp_path_factory.mktemp("proxy-e2e-pki"))
        tls = server_context(*pki.leaf("provider"))
        env["SSL_CERT_FILE"] = str(pki.ca)
    with answering(*answers, tls=tls) as (server, script):
        write_config(codex_home, script)  # type: ignore[arg-type]
        client = spawn_server(env=env)
        result = run_call(client, sandbox="read-only")
    assert not result.get("isError"), result
    assert "done through the proxy" in json.dumps(result)
    assert len(server.requests) == 5 and server.connections == 1
    assert not proxy.refused and proxy.connections == 1
    if scheme == "https":
        assert [c.target for c in proxy.connects] == [f"127.0.0.1:{server.port}"] and not proxy.forwarded
        return
    assert len(proxy.forwarded) == 5
    assert all(s.target == f"http://127.0.0.1:{server.port}/v1/responses" for s in proxy.forwarded)
    assert {s.connection for s in proxy.forwarded} == {1}, "the turn's steps did not share one connection"


def test_refused_credentials_never_show(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, proxy: HttpProxy
) -> None:
    proxy.require_auth = "Basic not-these"
    scripted_model.text("never reached")
    client = spawn_server(env=proxy_env(proxy.url("alice", PASSWORD)))
    result = run_call(client, sandbox="read-only", timeout=120)
    assert result.get("isError") is True, result
    text = json.dumps(result)
    # A forwarding proxy answers for the provider: its 407 is the answer to the request.
    assert "407 Proxy Authentication Required" in text, text
    assert not scripted_model.requests
    assert_alive(client)
    everything = json.dumps(client.notifications()) + text + client.stderr_text()
    assert PASSWORD not in everything and "alice" not in everything
    assert len(proxy.forwarded) >= 1
    assert all(
        s.header("Proxy-Authorization") and "aHVudGVy" not in json.dumps(result) for s in proxy.forwarded
    )


def test_a_malformed_proxy_variable_is_a_clear_error_without_its_password(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    scripted_model.text("never reached")
    client = spawn_server(env=proxy_env(f"http://alice:{PASSWORD}@proxy.invalid:notaport"))
    result = run_call(client, sandbox="read-only")
    assert result.get("isError") is True, result
    text = json.dumps(result)
    assert "HTTP_PROXY" in text and "cannot be used" in text, text
    everything = json.dumps(client.notifications()) + text + client.stderr_text()
    assert PASSWORD not in everything and "alice" not in everything
    assert not scripted_model.requests
    assert_alive(client)
