"""Every way a person can answer a proxied command's request for a host, through the real
server, its MCP elicitation and both sandbox backends.

A scripted model runs `curl` (plain HTTP, HTTPS through CONNECT with a self-signed
certificate, SOCKS5) and `pip download` against local origins on 127.0.0.2, reached by
names the proxy's `hosts` table maps there.  Judged from outside: what the origin served,
the questions the client saw, the events, and what the model was told.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.security.harness import run_call
from tests.security.netproxy_support import (
    ORIGIN_IP,
    Person,
    build_wheel,
    established_in_sandbox,
    http_origin,
    network_events,
    proxy_table,
    simple_index,
    tls_material,
    wait_until,
)
from tests.security.policy_support import require_backend
from tests.support.raw_client import result_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, write_config

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(180)]

BACKENDS = ["bwrap", "landlock"]
HOSTS = {"origin.test": ORIGIN_IP, "pkgs.test": ORIGIN_IP}


def _configure(codex_home: Path, model: ScriptedModel, table: str, codex_mcp: str = "") -> None:
    write_config(codex_home, model, extra=table + (f"\n[codex_mcp]\n{codex_mcp}\n" if codex_mcp else ""))


def _curl(url: str, out: str = "-", *extra: str) -> str:
    return f"curl -sS --max-time 20 {' '.join(extra)} -o {out} {url}; echo exit=$?"


@pytest.mark.parametrize("backend", BACKENDS)
def test_allow_once_covers_the_command_that_asked_and_no_other(
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
    codex_home: Path,
) -> None:
    person = Person("approved")
    with http_origin() as origin:
        _configure(codex_home, scripted_model, proxy_table(hosts=HOSTS))
        url = origin.url("origin.test", "/one")
        first = scripted_model.shell(["bash", "-c", f"{_curl(url, 'a')}; {_curl(url, 'b')}"])
        second = scripted_model.shell(["bash", "-c", _curl(url, "c")])
        scripted_model.text("done")
        client = spawn_server(env=require_backend(backend), policy=person)
        run_call(client, approval="on-request")
        assert origin.hits == ["/one"] * 3
        assert len(person.asked) == 2, "one question per command (allow once is per command)"
        assert person.contexts()[0] == {"host": "origin.test", "port": origin.port, "protocol": "http"}
        shown = person.asked[0]["params"]
        assert "origin.test" in shown["message"] and str(origin.port) in shown["message"]
        assert "curl" in shown["message"] and shown["codex_command"][0] == "bash"
        for call in (first, second):
            assert "exit=0" in scripted_model.call_output(call)
        ends = network_events(client, "network_access_end")
        assert [e["outcome"] for e in ends] == ["completed"] * 3
        assert all(e["address"] == ORIGIN_IP and e["bytes_received"] > 0 for e in ends)
        begins = network_events(client, "network_access_begin")
        assert sorted(b["connection_id"] for b in begins) == sorted(e["connection_id"] for e in ends)
        (usage,) = network_events(client, "network_usage")
        (host,) = usage["hosts"]
        assert host["host"] == "origin.test" and host["connections"] == 3 and host["denied"] == 0
        assert host["bytes_received"] == sum(e["bytes_received"] for e in ends)


@pytest.mark.parametrize("backend", BACKENDS)
def test_allow_for_session_holds_across_commands_and_turns(
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
    codex_home: Path,
) -> None:
    person = Person("approved_for_session")
    with http_origin() as origin:
        _configure(codex_home, scripted_model, proxy_table(hosts=HOSTS))
        url = origin.url("origin.test", "/s")
        scripted_model.shell(["bash", "-c", _curl(url)])
        scripted_model.shell(["bash", "-c", _curl(url)])
        scripted_model.text("first turn")
        scripted_model.shell(["bash", "-c", _curl(url)])
        scripted_model.text("second turn")
        client = spawn_server(env=require_backend(backend), policy=person)
        result = run_call(client, approval="on-request")
        thread = result["structuredContent"]["threadId"]
        rid = client.call_tool("codex-reply", {"threadId": thread, "prompt": "again"})
        assert not result_of(client.wait_response(rid, 60)).get("isError")
        assert origin.hits == ["/s"] * 3
        assert len(person.asked) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_deny_refuses_the_host_and_the_model_is_told(
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
    codex_home: Path,
) -> None:
    person = Person("denied")
    with http_origin() as origin:
        _configure(codex_home, scripted_model, proxy_table(hosts=HOSTS))
        url = origin.url("origin.test", "/no")
        call = scripted_model.shell(["bash", "-c", f"{_curl(url, '-', '-i')}; {_curl(url, '-', '-i')}"])
        scripted_model.text("done")
        client = spawn_server(env=require_backend(backend), policy=person)
        run_call(client, approval="on-request")
        assert origin.hits == []
        assert len(person.asked) == 1, "the command's retry is not asked again"
        output = scripted_model.call_output(call)
        assert "403" in output
        assert f"[network proxy] network access to origin.test:{origin.port} (http) was refused" in output
        ends = network_events(client, "network_access_end")
        assert [e["outcome"] for e in ends] == ["denied", "denied"] and ends[0]["address"] is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_ten_concurrent_connections_share_one_question(
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
    codex_home: Path,
) -> None:
    """Ten connections to the same host at once: one elicitation, and all ten wait for it."""
    person = Person(None)
    with http_origin() as origin:
        _configure(codex_home, scripted_model, proxy_table(hosts=HOSTS))
        url = origin.url("origin.test", "/many")
        burst = " ".join(f"(curl -sS --max-time 60 -o out{i} {url}) &" for i in range(10))
        call = scripted_model.shell(["bash", "-c", f"{burst} wait; cat out* | wc -l"], timeout_ms=90_000)
        scripted_model.text("done")
        client = spawn_server(env=require_backend(backend), policy=person)
        rid = client.call_tool(
            "codex", {"prompt": "go", "approval-policy": "on-request", "sandbox": "workspace-write"}
        )
        # All ten are connected and waiting (seen from outside, in the sandbox's namespace).
        wait_until(lambda: established_in_sandbox("/many") >= 20, 60, "ten waiting connections")
        wait_until(lambda: len(person.asked) >= 1, 30, "the question")
        assert len(person.asked) == 1
        question = person.asked[0]
        client.send({"jsonrpc": "2.0", "id": question["id"], "result": {"action": "accept",
                     "content": {"decision": "approved"}}})  # fmt: skip
        assert not result_of(client.wait_response(rid, 90)).get("isError")
        assert origin.hits == ["/many"] * 10
        assert len(person.asked) == 1
        begins = network_events(client, "network_access_begin")
        assert len(begins) == 10 and all(b["host"] == "origin.test" for b in begins)
        assert scripted_model.call_output(call).count("10") >= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_https_through_connect_and_socks5(
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
    codex_home: Path,
) -> None:
    person = Person("approved")
    cert, key = tls_material(workspace.parent)
    (workspace / "ca.pem").write_bytes(cert.read_bytes())
    with http_origin(tls=(cert, key)) as origin:
        _configure(codex_home, scripted_model, proxy_table(hosts=HOSTS))
        https = origin.url("origin.test", "/tls", scheme="https")
        tls_call = scripted_model.shell(["bash", "-c", _curl(https, "-", "--cacert ca.pem")])
        socks = "--socks5-hostname $(echo $HTTP_PROXY | sed 's,http://,,') --cacert ca.pem"
        socks_call = scripted_model.shell(["bash", "-c", _curl(https, "-", socks)])
        scripted_model.text("done")
        client = spawn_server(env=require_backend(backend), policy=person)
        run_call(client, approval="on-request")
        for call in (tls_call, socks_call):
            output = scripted_model.call_output(call)
            assert "hello through the proxy" in output and "exit=0" in output, output
        assert [c["protocol"] for c in person.contexts()] == ["https", "socks5_tcp"]
        assert origin.hits == ["/tls", "/tls"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_pip_download_from_a_local_index_after_approval(
    backend: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
    codex_home: Path,
) -> None:
    person = Person("approved_for_session")
    wheel = build_wheel(workspace.parent)
    with http_origin(files=simple_index(wheel)) as origin:
        _configure(codex_home, scripted_model, proxy_table(hosts=HOSTS))
        index = origin.url("pkgs.test", "/simple/")
        pip = (
            f"PIP_CONFIG_FILE=/dev/null {sys.executable} -m pip download --no-deps --no-cache-dir "
            f"--disable-pip-version-check --retries 0 --timeout 20 --index-url {index} "
            f"--trusted-host pkgs.test -d dl netproxy-demo; echo exit=$?"
        )
        call = scripted_model.shell(["bash", "-c", pip], timeout_ms=120_000)
        scripted_model.text("done")
        client = spawn_server(env=require_backend(backend), policy=person)
        run_call(client, approval="on-request", timeout=150)
        output = scripted_model.call_output(call)
        assert "exit=0" in output, output
        assert (workspace / "dl" / wheel.name).read_bytes() == wheel.read_bytes()
        assert [c["host"] for c in person.contexts()] == ["pkgs.test"]
        assert "/simple/netproxy-demo/" in origin.hits and f"/files/{wheel.name}" in origin.hits


@pytest.mark.parametrize(
    ("capabilities", "codex_mcp", "approval", "reason"),
    [
        pytest.param({}, "", "on-request", "does not support approval requests", id="no-elicitation"),
        pytest.param(None, "elicitation_timeout_sec = 2", "on-request", "within 2 s", id="unanswered"),
        pytest.param(None, "", "never", "approval policy is `never`", id="policy-never"),
    ],
)
def test_no_answer_denies_and_says_why(
    capabilities: dict[str, Any] | None,
    codex_mcp: str,
    approval: str,
    reason: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
    codex_home: Path,
) -> None:
    person = Person(None)
    with http_origin() as origin:
        _configure(codex_home, scripted_model, proxy_table(hosts=HOSTS, allow=["listed.test"]), codex_mcp)
        call = scripted_model.shell(["bash", "-c", _curl(origin.url("origin.test", "/x"))])
        scripted_model.text("done")
        client = spawn_server(env=require_backend("bwrap"), policy=person, capabilities=capabilities)
        result = run_call(client, approval=approval, timeout=60)
        assert not result.get("isError"), result
        assert origin.hits == []
        output = scripted_model.call_output(call)
        assert "was refused" in output and reason in output, output
        if approval == "never" or capabilities == {}:
            assert person.asked == []
