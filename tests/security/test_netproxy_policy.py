"""The proxy's policy under attack from a proxied command: deny patterns, non-public
addresses in every spelling, a rebinding DNS server, and requests that try to make the
proxy a relay to somewhere it did not allow.

Run in the probe standing in for the server (`netproxy_probe.py`), on both backends, as root
and as `tester`; the person approves everything they are asked (the worst case: only the
policy stands in the way).  Judged from outside: victims listening on 127.0.0.3 and
127.0.0.1 record every connection, the origin records what it served and the Host it was
given, the DNS server records its questions.

Tried / got through, per backend and user: deny wins (5 / 0); non-public addresses, 12
spellings (12 / 0); rebinding and mixed answers (3 / 0); relay abuse (8 / 0).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.backends_support import BACKENDS, USERS, needs_linux, place
from tests.security.netproxy_support import (
    ORIGIN_IP,
    VICTIM_IP,
    RebindingDns,
    drive,
    http_origin,
    probe_spec,
    victim,
)

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.e2e, pytest.mark.timeout(240)]

EVERYTHING = ["approved_for_session"] * 40


def _curl(url: str, *extra: str) -> dict[str, Any]:
    script = f"curl -sS -i --max-time 15 {' '.join(extra)} {url}; code=$?; echo; echo exit=$code"
    return {"exec": ["/bin/sh", "-c", script], "yield_ms": 30_000}


def _py(code: str) -> dict[str, Any]:
    return {"exec": ["/usr/bin/python3", "-I", "-c", code], "yield_ms": 30_000}


def _refused(result: dict[str, Any]) -> bool:
    out = result["output"]
    return "exit=0" not in out or " 403 " in out or " 400 " in out or " 502 " in out


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_deny_pattern_wins_over_every_allow(backend: str, user: str) -> None:
    with place(user, git=False) as where, http_origin() as origin:
        settings = {
            "mode": "ask",
            "allow": ["*.test", "origin.test", "127.0.0.0/8"],
            "deny": ["origin.test", "*.evil.test", "127.0.0.2/32"],
            "allow_local": [ORIGIN_IP],
            "hosts": {"origin.test": ORIGIN_IP, "x.evil.test": ORIGIN_IP, "alias.test": ORIGIN_IP},
        }
        port = origin.port
        steps = [
            _curl(f"http://origin.test:{port}/a"),
            _curl(f"http://ORIGIN.TEST.:{port}/b"),
            _curl(f"http://x.evil.test:{port}/c"),
            _curl(f"http://alias.test:{port}/d"),  # allowed name, denied address (CIDR deny)
            _curl(f"http://{ORIGIN_IP}:{port}/e"),
        ]
        report = drive(
            user, probe_spec(backend, where.ws, steps, settings=settings, answers=EVERYTHING), where.base
        )
        for result in report["results"]:
            assert " 403 " in result["output"], result
        assert origin.hits == []
        assert report["questions"] == [], "a denied host was asked about"
        assert all("deny pattern" in r["reason"] for r in report["reports"]), report["reports"]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_non_public_addresses_are_refused_in_every_spelling(backend: str, user: str) -> None:
    """Only 127.0.0.2 is listed; the person approves everything; nothing else local is reached."""
    with place(user, git=False) as where, http_origin() as origin:
        with victim(VICTIM_IP) as secret, victim("127.0.0.1") as local:
            s, lo = secret.port, local.port
            settings = {"mode": "ask", "allow_local": [ORIGIN_IP],
                        "hosts": {"secret.test": VICTIM_IP, "origin.test": ORIGIN_IP}}  # fmt: skip
            targets = [
                f"http://{VICTIM_IP}:{s}/", f"http://2130706435:{s}/", f"http://0x7f000003:{s}/",
                f"http://0177.0.0.3:{s}/", f"http://127.3:{s}/", f"http://[::ffff:127.0.0.3]:{s}/",
                f"http://secret.test:{s}/", f"http://localhost:{lo}/", f"http://127.0.0.1:{lo}/",
                f"http://0.0.0.0:{lo}/", f"http://[::1]:{lo}/", "http://169.254.169.254/latest/meta-data/",
            ]  # fmt: skip
            # `--noproxy ''`: through the proxy even for the names NO_PROXY lists.
            steps = [_curl(t, "--max-time 5", "--noproxy ''") for t in targets]
            steps.append(_curl(f"http://origin.test:{origin.port}/fine"))
            spec = probe_spec(backend, where.ws, steps, settings=settings, answers=EVERYTHING)
            report = drive(user, spec, where.base)
        *attacks, fine = report["results"]
        for target, result in zip(targets, attacks, strict=True):
            assert _refused(result), (target, result)
        assert "hello through the proxy" in fine["output"]
        assert secret.connections == [] and local.connections == [], "a local address was reached"
        asked = {q["host"] for q in report["questions"]}
        assert asked <= {"secret.test", "localhost", "origin.test"}, "an IP literal was asked about"
        assert origin.hits == ["/fine"]


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rebinding_name_reaches_only_the_address_that_was_checked(backend: str, user: str) -> None:
    """The DNS server answers 127.0.0.2 (listed), then 127.0.0.3 (not listed), in turn; a
    name with a mixed answer is connected to its listed address only."""
    with place(user, git=False) as where, http_origin() as origin:
        with (
            victim(VICTIM_IP, origin.port) as secret,
            RebindingDns("rebind.test", ORIGIN_IP, VICTIM_IP) as dns,
        ):
            settings = {"mode": "ask", "allow_local": [ORIGIN_IP], "dns_servers": [dns.server]}
            url = f"http://rebind.test:{origin.port}"
            steps = [_curl(f"{url}/first"), _curl(f"{url}/second"), _curl(f"{url}/third")]
            spec = probe_spec(backend, where.ws, steps, settings=settings, answers=EVERYTHING)
            report = drive(user, spec, where.base)
        first, second, third = report["results"]
        assert "hello through the proxy" in first["output"] and "hello through the proxy" in third["output"]
        assert " 403 " in second["output"] and "127.0.0.3" in second["output"]
        assert secret.connections == [], "the rebinding answer was connected to"
        assert origin.hits == ["/first", "/third"]
        assert [a for a in dns.asked if a.endswith("/1")] == ["rebind.test/1"] * 3, (
            "one lookup per connection"
        )
        assert len(report["questions"]) == 1
    with place(user, git=False) as where, http_origin() as origin:
        with victim(VICTIM_IP, origin.port) as secret:
            settings = {"mode": "allow-list", "allow": ["mixed.test"], "allow_local": [ORIGIN_IP],
                        "hosts": {"mixed.test": [VICTIM_IP, ORIGIN_IP]}}  # fmt: skip
            steps = [_curl(f"http://mixed.test:{origin.port}/mixed")]
            report = drive(user, probe_spec(backend, where.ws, steps, settings=settings), where.base)
        assert "hello through the proxy" in report["results"][0]["output"]
        assert secret.connections == [] and origin.hits == ["/mixed"]


RELAY_ABUSE = r"""
import socket, sys, os
proxy = os.environ["HTTP_PROXY"].rsplit("/", 1)[1].split(":")
addr = (proxy[0], int(proxy[1]))
origin, secret = sys.argv[1], sys.argv[2]
def ask(data, read=True):
    s = socket.create_connection(addr, timeout=10)
    s.sendall(data)
    out = b""
    while read:
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    return out.split(b"\r\n", 1)[0].decode("latin-1")
print("origin-form", ask(f"GET / HTTP/1.1\r\nHost: {secret}\r\n\r\n".encode()))
hosted = f"http://origin.test:{origin}/hosted"
print("host-header", ask(f"GET {hosted} HTTP/1.1\r\nHost: {secret}\r\n\r\n".encode()))
print("userinfo", ask(f"GET http://origin.test:{origin}@{secret}/ HTTP/1.1\r\n\r\n".encode()))
print("connect", ask(f"CONNECT {secret} HTTP/1.1\r\n\r\n".encode()))
host, port = secret.split(":")
target = socket.inet_aton(host) + int(port).to_bytes(2, "big")
print("socks", ask(b"\x05\x01\x00" + b"\x05\x01\x00\x01" + target))
smuggle = (f"GET http://origin.test:{origin}/first HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
           f"GET http://{secret}/second HTTP/1.1\r\nHost: {secret}\r\n\r\n")
print("pipelined", ask(smuggle.encode()))
print("huge-head", ask(b"GET http://origin.test/ HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"))
print("https-url", ask(f"GET https://{secret}/ HTTP/1.1\r\n\r\n".encode()))
"""


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_proxy_is_no_relay_to_what_it_did_not_allow(backend: str, user: str) -> None:
    """Raw requests to the proxy: origin-form with a Host of the victim, a victim Host on an
    allowed URL, user information, CONNECT and SOCKS5 to the victim, a request pipelined
    behind an allowed one, an oversized head, an https:// URL as a plain request."""
    with place(user, git=False) as where, http_origin() as origin, victim(VICTIM_IP) as secret:
        settings = {"mode": "ask", "allow_local": [ORIGIN_IP], "hosts": {"origin.test": ORIGIN_IP}}
        target = f"{VICTIM_IP}:{secret.port}"
        step = {
            "exec": ["/usr/bin/python3", "-I", "-c", RELAY_ABUSE, str(origin.port), target],
            "yield_ms": 60_000,
        }
        report = drive(
            user, probe_spec(backend, where.ws, [step], settings=settings, answers=EVERYTHING), where.base
        )
        lines = dict(
            line.split(" ", 1) for line in report["results"][0]["output"].splitlines() if " " in line
        )
        assert lines["origin-form"].startswith("HTTP/1.1 400"), lines
        assert lines["host-header"].startswith("HTTP/1.1 200"), lines
        assert lines["userinfo"].startswith("HTTP/1.1 400"), lines
        assert lines["connect"].startswith("HTTP/1.1 403"), lines
        assert lines["pipelined"].startswith("HTTP/1.1 200"), lines
        assert lines["huge-head"].startswith("HTTP/1.1 431"), lines
        assert lines["https-url"].startswith("HTTP/1.1 400"), lines
        assert secret.connections == [], "the proxy relayed to the victim"
        assert origin.hits == ["/hosted", "/first"], origin.hits
        assert origin.hosts == [f"origin.test:{origin.port}"] * 2, "the client's Host reached the origin"
        socks = [r for r in report["reports"] if r["protocol"] == "socks5_tcp"]
        assert len(socks) == 1 and socks[0]["outcome"] == "denied"
