"""The network proxy's pure parts: host spellings, patterns, address classes, request heads,
DNS answers, the config section and what a call may change of it; and the proxy's
decisions and question dedup driven in process (a socketpair stands in for the bridge)."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp.agent.config.ceiling import CallCeiling, check_call_config
from codex_mcp.errors import CallRefused, ConfigError
from codex_mcp.sandbox.netproxy.conn import Conn
from codex_mcp.sandbox.netproxy.resolver import NotOurs, build_query, parse_answer
from codex_mcp.sandbox.netproxy.rules import (
    PatternError,
    ProxySettings,
    Rules,
    is_public,
    normalise_host,
    parse_hosts,
    parse_pattern,
)
from codex_mcp.sandbox.netproxy.service import Answer, ConnectionReport, NetworkProxy, Question
from codex_mcp.sandbox.netproxy.wire import BadRequest, read_request


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Example.COM.", "example.com"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::FFFF:127.0.0.1]", "::ffff:7f00:1"),
        ("[fe80::1%eth0]", "fe80::1"),
        ("under_score.test", "under_score.test"),
        ("bad host", None),
        ("a..b", None),
        ("ex\u00e4mple.com", None),
        ("-lead.example", None),
        ("", None),
        ("a" * 64 + ".com", None),
    ],
)
def test_host_spellings_are_normalised_once(raw: str, expected: str | None) -> None:
    assert normalise_host(raw) == expected


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("127.0.0.2", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("64:ff9b::7f00:1", False),
        ("2002:7f00:1::", False),
        ("2606:4700:4700::1111", True),
    ],
)
def test_address_classes(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_patterns_deny_wins_and_local_addresses_need_listing() -> None:
    rules = Rules.from_settings(
        ProxySettings(
            mode="ask",
            allow=["*.example.com", "pypi.org", "10.0.0.0/8"],
            deny=["evil.example.com", "192.0.2.0/24"],
            allow_local=["127.0.0.2"],
        )
    )
    assert rules.allowed_host("files.example.com") and not rules.allowed_host("example.com")
    assert rules.denied_host("evil.example.com") is not None
    assert rules.allowed_host("pypi.org") and not rules.allowed_host("pypi.org.evil.test")
    assert rules.refused_address(ipaddress.ip_address("127.0.0.2")) is None
    assert rules.refused_address(ipaddress.ip_address("127.0.0.3")) is not None
    assert rules.refused_address(ipaddress.ip_address("10.9.9.9")) is None  # listed in `allow`
    assert "deny" in (rules.refused_address(ipaddress.ip_address("192.0.2.7")) or "")
    assert rules.refused_address(ipaddress.ip_address("::ffff:127.0.0.2")) is None


@pytest.mark.parametrize("bad", ["*.", "exa mple.com", "*.10.0.0.1", "http://x", "a/b"])
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(PatternError):
        parse_pattern(bad)


def test_hosts_table_is_checked() -> None:
    assert parse_hosts({"A.test": "127.0.0.2", "b.test": ["::1", "10.0.0.1"]}) == (
        ("a.test", ("127.0.0.2",)),
        ("b.test", ("::1", "10.0.0.1")),
    )
    for bad in ({"a.test": "not-an-ip"}, {"10.0.0.1": "10.0.0.2"}, {"a.test": []}):
        with pytest.raises(PatternError):
            parse_hosts(bad)


class _Stub:
    """A `Conn` fed from bytes (head parsing needs only `pending` and `recv`)."""

    def __init__(self, data: bytes) -> None:
        a, b = socket.socketpair()
        a.sendall(data)
        a.shutdown(socket.SHUT_WR)
        self.keep = a
        self.conn = Conn(b)


async def _parse(data: bytes) -> Any:
    stub = _Stub(data)
    try:
        return await read_request(stub.conn)
    finally:
        stub.keep.close()
        stub.conn.close()


@pytest.mark.anyio
async def test_plain_http_heads_are_rewritten_for_the_origin() -> None:
    head = (
        b"GET http://Example.com:8080/a/b?c=1#frag HTTP/1.1\r\nHost: victim.internal\r\n"
        b"Proxy-Authorization: Basic eA==\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n"
        b"Accept: */*\r\n\r\n"
    )
    request = await _parse(head + b"body")
    assert (request.protocol, request.host, request.port) == ("http", "example.com", 8080)
    text = request.forward.decode()
    assert text.startswith("GET /a/b?c=1 HTTP/1.1\r\nHost: Example.com:8080\r\n")
    assert "victim" not in text and "Proxy-Authorization" not in text and "X-Drop" not in text
    assert "Accept: */*" in text and text.endswith("Connection: close\r\n\r\n")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET https://x/ HTTP/1.1\r\n\r\n", 400),
        (b"GET http://u:p@x/ HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT x HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT x:0 HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT ::1:443 HTTP/1.1\r\n\r\n", 400),
        (b"GET http://x/ HTTP/2.0\r\n\r\n", 400),
        (b"GET http://x/ HTTP/1.1\r\n folded: yes\r\n\r\n", 400),
        (b"GET http://x/ HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
        (b"GET http://x/ HTTP/1.1\r\nX: " + b"a" * 17000 + b"\r\n\r\n", 431),
    ],
)
async def test_requests_the_proxy_does_not_serve(head: bytes, status: int) -> None:
    with pytest.raises(BadRequest) as caught:
        await _parse(head)
    assert caught.value.status == status and caught.value.socks_code is None


@pytest.mark.anyio
async def test_connect_and_socks5_targets() -> None:
    request = await _parse(b"CONNECT [2606:4700::1]:443 HTTP/1.1\r\nUser-Agent: x\r\n\r\n\x16\x03")
    assert (request.protocol, request.host, request.port) == ("https", "2606:4700::1", 443)
    socks = b"\x05\x01\x00" + b"\x05\x01\x00\x03" + bytes([8]) + b"pypi.org" + struct.pack("!H", 443)
    request = await _parse(socks)
    assert (request.protocol, request.host, request.port) == ("socks5_tcp", "pypi.org", 443)
    with pytest.raises(BadRequest) as caught:
        await _parse(b"\x05\x01\x00" + b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")  # BIND
    assert caught.value.socks_code == 7


def test_dns_answers_are_matched_to_the_question() -> None:
    query = build_query(0x1234, "a.test", 1)
    answer = (
        struct.pack("!HHHHHH", 0x1234, 0x8180, 1, 2, 0, 0)
        + query[12:]
        + b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 0, 2) + b"\xc0\x0c"  # a CNAME, skipped
        + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + bytes([10, 0, 0, 7])
    )  # fmt: skip
    assert parse_answer(answer, 0x1234, query, 1) == [ipaddress.ip_address("10.0.0.7")]
    with pytest.raises(NotOurs):
        parse_answer(answer, 0x4321, query, 1)
    with pytest.raises(NotOurs):
        parse_answer(answer, 0x1234, build_query(0x1234, "b.test", 1), 1)
    with pytest.raises(ValueError):
        parse_answer(answer[:-2], 0x1234, query, 1)


def _load(tmp_path: Path, table: str) -> Any:
    from codex_mcp.agent.config.loader import load_config

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(table)
    return load_config(codex_home=home, cwd=tmp_path, env={"HOME": str(tmp_path)})


def test_config_section(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        '[network_proxy]\nmode = "ask"\nallow = ["pypi.org"]\nallow_local = ["10.0.0.0/8"]\n'
        'max_connections = 8\n[network_proxy.hosts]\n"pkgs.test" = "10.0.0.5"\n',
    )
    settings = config.network_proxy
    assert settings.mode == "ask" and settings.allow == ("pypi.org",) and settings.max_connections == 8
    assert settings.hosts == (("pkgs.test", ("10.0.0.5",)),)
    assert _load(tmp_path, "").network_proxy.mode == "off"
    for bad in ('mode = "sometimes"', 'allow = ["exa mple"]', 'allow_local = ["pypi.org"]',
                'dns_servers = ["nope"]', "idle_timeout_sec = 0", "max_connections = 0"):  # fmt: skip
        with pytest.raises(ConfigError):
            _load(tmp_path, f"[network_proxy]\n{bad}\n")


def test_a_call_may_only_turn_the_proxy_off() -> None:
    ceiling = CallCeiling()
    check_call_config({"network_proxy.mode": "off"}, ceiling)
    for widening in ({"network_proxy.mode": "ask"}, {"network_proxy.allow": ["*"]},
                     {"network_proxy": {"mode": "off", "allow": ["*"]}}):  # fmt: skip
        with pytest.raises(CallRefused):
            check_call_config(widening, ceiling)


# ---- the proxy in process -----------------------------------------------------------------------


class _Hooks:
    def __init__(self, answer: Answer, gate: anyio.Event | None = None, begins: int = 0) -> None:
        self.answer = answer
        self.gate = gate
        self.questions: list[Question] = []
        self.ended: list[ConnectionReport] = []
        self.begun = 0
        self.all_begun = anyio.Event()
        self.begins = begins

    async def ask(self, question: Question) -> Answer:
        self.questions.append(question)
        if self.gate is not None:
            await self.gate.wait()
        return self.answer

    async def report(self, report: ConnectionReport, ended: bool) -> None:
        if ended:
            self.ended.append(report)
            return
        self.begun += 1
        if self.begun >= self.begins:
            self.all_begun.set()


@pytest.fixture
def listener() -> Any:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


async def _through(listener: socket.socket, channel_fd: int, request: bytes) -> bytes:
    """A client connection handed to the proxy as the bridge hands it, and the answer."""
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    with socket.socket(fileno=os.dup(channel_fd)) as channel:
        socket.send_fds(channel, [b"c"], [accepted.fileno()])
    accepted.close()
    client.sendall(request)
    client.settimeout(10)

    def read_all() -> bytes:
        data = b""
        while chunk := client.recv(65536):
            data += chunk
        client.close()
        return data

    return await anyio.to_thread.run_sync(read_all)


@pytest.mark.anyio
async def test_concurrent_requests_share_one_question_and_a_denial_is_remembered(
    listener: socket.socket,
) -> None:
    gate = anyio.Event()
    hooks = _Hooks(Answer("denied", "no"), gate, begins=10)
    request = b"GET http://h.test/ HTTP/1.1\r\n\r\n"
    async with anyio.create_task_group() as tg:
        proxy = NetworkProxy(ProxySettings(mode="ask"), hooks, tg, approval_timeout=10)
        channel = proxy.attach(["curl"], "/")
        answers: list[bytes] = []

        async def one() -> None:
            answers.append(await _through(listener, channel.sandbox_fd, request))

        async with anyio.create_task_group() as clients:
            for _ in range(10):
                clients.start_soon(one)
            with anyio.fail_after(10):
                await hooks.all_begun.wait()
            gate.set()
        answers.append(await _through(listener, channel.sandbox_fd, request))
        assert len(hooks.questions) == 1
        assert len(answers) == 11 and all(a.startswith(b"HTTP/1.1 403 ") for a in answers)
        assert channel.take_notes() == ["network access to h.test:80 (http) was refused: no"]
        assert [u.denied for u in proxy.take_usage()] == [11]
        channel.close()
        proxy.close()
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_closed_proxy_denies_its_open_question_and_takes_no_connection(
    listener: socket.socket,
) -> None:
    hooks = _Hooks(Answer("approved"), anyio.Event(), begins=1)
    request = b"GET http://h.test/ HTTP/1.1\r\n\r\n"
    async with anyio.create_task_group() as tg:
        proxy = NetworkProxy(ProxySettings(mode="ask"), hooks, tg, approval_timeout=10)
        channel = proxy.attach(["curl"], "/")
        async with anyio.create_task_group() as clients:
            result: list[bytes] = []

            async def one() -> None:
                result.append(await _through(listener, channel.sandbox_fd, request))

            clients.start_soon(one)
            with anyio.fail_after(10):
                await hooks.all_begun.wait()
            proxy.close()
        assert result == [b""] or result[0].startswith(b"HTTP/1.1 403")
        assert hooks.ended and hooks.ended[0].outcome != "completed"
        late = proxy.attach(["curl"], "/")
        assert late.sandbox_fd >= 0
        late.close()
        tg.cancel_scope.cancel()


# ---- the thread's side ----------------------------------------------------------------------------


def _config(tmp_path: Path, **changes: Any) -> Any:
    import dataclasses

    from codex_mcp.agent.config.model import Config
    from codex_mcp.sandbox.policy import SandboxPolicy

    base = Config(
        codex_home=tmp_path,
        cwd=tmp_path,
        sandbox_policy=SandboxPolicy(mode="workspace-write"),
        network_proxy=ProxySettings(mode="ask"),
    )
    return dataclasses.replace(base, **changes)


def test_the_proxy_is_wanted_only_when_the_sandbox_keeps_the_network_off(tmp_path: Path) -> None:
    from codex_mcp.agent.network import proxy_wanted
    from codex_mcp.sandbox.policy import SandboxPolicy

    assert proxy_wanted(_config(tmp_path))
    assert proxy_wanted(_config(tmp_path, sandbox_policy=SandboxPolicy(mode="read-only")))
    assert not proxy_wanted(_config(tmp_path, network_proxy=ProxySettings()))
    with_network = SandboxPolicy(mode="workspace-write", network_access=True)
    assert not proxy_wanted(_config(tmp_path, sandbox_policy=with_network))
    assert not proxy_wanted(_config(tmp_path, sandbox_policy=SandboxPolicy(mode="danger-full-access")))


def test_the_model_is_told_how_to_reach_hosts_when_the_proxy_is_on(tmp_path: Path) -> None:
    """The permissions message names the proxy only when commands get their network
    through it; with the network on (or no sandbox) it says nothing of it."""
    from codex_mcp.agent.context_items import thread_context_items
    from codex_mcp.sandbox.policy import SandboxPolicy

    def developer_text(config: Any) -> str:
        items = thread_context_items(config, personal_instructions=None, project_docs=None, env={})
        return "".join(part["text"] for part in items[0]["content"])

    asked = developer_text(_config(tmp_path))
    assert "Network access is restricted, except through a proxy (the person is asked" in asked
    listed = developer_text(
        _config(tmp_path, network_proxy=ProxySettings(mode="allow-list", allow=("x.test",)))
    )
    assert "except through a proxy (an allow list decides" in listed
    assert "proxy" not in developer_text(_config(tmp_path, network_proxy=ProxySettings()))
    with_network = SandboxPolicy(mode="workspace-write", network_access=True)
    assert "proxy" not in developer_text(_config(tmp_path, sandbox_policy=with_network))


@pytest.mark.anyio
async def test_the_thread_asks_on_its_running_turn_only(tmp_path: Path) -> None:
    from codex_mcp.agent.approvals import Decision
    from codex_mcp.agent.network import NEVER_REASON, NO_TURN_REASON, ThreadNetwork

    asked: list[tuple[str, dict[str, Any]]] = []
    turn: list[str | None] = [None]

    async def ask(turn_id: str, msg: Any) -> Decision:
        asked.append((turn_id, dict(msg)))
        return Decision("abort")

    async def emit(turn_id: str, msg: Any) -> None:
        pass

    question = Question("network-1", "https", "pypi.org", 443, ("pip", "download", "x"), "/w")
    async with anyio.create_task_group() as tg:
        network = ThreadNetwork(_config(tmp_path), tg, current_turn=lambda: turn[0], ask=ask, emit=emit)
        assert await network.ask(question) == Answer("denied", NO_TURN_REASON)
        turn[0] = "t1"
        answer = await network.ask(question)
        assert answer.decision == "denied", "an abort only denies the connection"
        ((turn_id, msg),) = asked
        assert turn_id == "t1" and msg["network_approval_context"] == {
            "host": "pypi.org", "protocol": "https", "port": 443,
        }  # fmt: skip
        assert msg["type"] == "exec_approval_request" and msg["command"] == ["pip", "download", "x"]
        never = ThreadNetwork(
            _config(tmp_path, approval_policy="never"), tg, current_turn=lambda: "t1", ask=ask, emit=emit
        )
        assert await never.ask(question) == Answer("denied", NEVER_REASON)
        network.close()
        channel = network.attach(["true"], "/")
        assert channel.sandbox_fd >= 0
        channel.close()


@pytest.mark.anyio
async def test_a_channel_message_without_one_connection_closes_the_channel() -> None:
    """The bridge sends exactly one connection per message; a command that got hold of the
    channel and sends anything else loses it (and floods nothing)."""
    hooks = _Hooks(Answer("approved"))
    async with anyio.create_task_group() as tg:
        proxy = NetworkProxy(ProxySettings(mode="ask"), hooks, tg, approval_timeout=10)
        channel = proxy.attach(["curl"], "/")
        with socket.socket(fileno=os.dup(channel.sandbox_fd)) as stolen:
            stolen.send(b"x")
            with anyio.fail_after(10):
                await channel.done.wait()
            with pytest.raises(OSError):
                socket.send_fds(stolen, [b"c"], [os.dup(0)])
        assert hooks.questions == [] and proxy.take_usage() == []
        channel.close()
        proxy.close()
        tg.cancel_scope.cancel()
