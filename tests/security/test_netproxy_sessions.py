"""The network proxy and the model's process sessions (`exec_command`, `write_stdin`), through
the real server, both backends, as root and as `tester`.

A hostile model starts long-lived sessions (an interactive shell on a terminal, a script on
pipes) under `[network_proxy]` and tries to reach a host the deny list names (by name, by
address, through CONNECT and SOCKS5) and a listener directly; keeps a session across turns
and connects between them, when nobody can be asked; and a session's question is answered
every way a client can.  Judged from outside: the victim listener's accepted connections,
what the origin served, the questions the client saw, the namespace of the session's
processes in /proc, and what the model was told.

Tried / got through, per backend and user: a denied host reached from a session, directly
(curl without the proxy, a Python socket) and through the proxy (by name, by address, by
CONNECT, by SOCKS5), on pipes and on a terminal (12 / 0); across turns, an unknown host
between turns, and in the next turn curl without the proxy, a Python socket and a denied
host by name (4 / 0); the bridge outliving its session (exited, killed from outside, ended
by the server) (3 / 0).  As root, per backend: every answer but `approved` (denied,
decline, cancel, abort) letting a session's connection through, from `exec_command` and
from `write_stdin` (8 / 0).
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.execwire_support import exec_command, exit_code_in, session_id_in
from tests.security.backends_support import BACKENDS, USERS, needs_linux, wait_dead
from tests.security.execwire_support import SHELL, go, server, shell_pids, typed
from tests.security.netproxy_sessions_support import (
    Answering,
    held_by_anyone,
    in_netns,
    listening,
    netns_of,
    proxy_port,
    told,
)
from tests.security.netproxy_support import ORIGIN_IP, VICTIM_IP, http_origin, proxy_table, victim
from tests.support.raw_client import RawClient, result_of, text_of, wait_until
from tests.support.scripted_model import Recorded, ScriptedModel, Turn, function_call

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(240)]

HOSTS = {
    "origin.test": ORIGIN_IP,
    "second.test": ORIGIN_IP,
    "other.test": ORIGIN_IP,
    "blocked.test": VICTIM_IP,
}
DENY = ["blocked.test", f"{VICTIM_IP}/32"]
SESSION_GRANT = {"action": "accept", "content": {"decision": "approved_for_session"}}
ONCE = {"action": "accept", "content": {"decision": "approved"}}


def _curl(url: str, marker: str, *extra: str) -> str:
    return f"curl -sS -i --max-time 10 {' '.join(extra)} {url}; echo {marker}=$?"


def attacks(port: int) -> list[str]:
    """Ways to reach the victim (`blocked.test` = VICTIM_IP:port, on the deny list)."""
    return [
        _curl(f"http://{VICTIM_IP}:{port}/direct", "direct", "--noproxy '*'"),
        f"python3 -I -c \"import socket; socket.create_connection(('{VICTIM_IP}', {port}), 5)\"; echo py=$?",
        _curl(f"http://blocked.test:{port}/name", "name"),
        _curl(f"http://{VICTIM_IP}:{port}/literal", "literal", "--noproxy ''"),
        _curl(f"http://blocked.test:{port}/tunnel", "tunnel", "-p"),
        _curl(f"http://blocked.test:{port}/socks", "socks", '--socks5-hostname "${HTTP_PROXY#http://}"'),
    ]


def reply(client: RawClient, first: dict[str, Any], prompt: str = "again") -> dict[str, Any]:
    rid = client.call_tool(
        "codex-reply", {"threadId": first["structuredContent"]["threadId"], "prompt": prompt}
    )
    return result_of(client.wait_response(rid, 120))


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_session_reaches_a_denied_host_neither_directly_nor_through_the_proxy(
    user: str, backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """The person approves every question for the session: only the deny list and the
    sandbox stand between the session and the victim."""
    m = scripted_model
    person = Answering(SESSION_GRANT)
    with http_origin() as origin, victim() as secret:
        ok = _curl(f"http://origin.test:{origin.port}/ok", "ok")
        piped = exec_command(m, "; ".join([ok, *attacks(secret.port)]), yield_ms=60_000)
        shell = exec_command(m, SHELL, tty=True, yield_ms=1500)
        on_tty = typed(m, shell, "; ".join([ok, *attacks(secret.port)]), "all", yield_ms=12_000)
        m.text("done")
        extra = proxy_table(hosts=HOSTS, deny=DENY)
        with server(user, m, tmp_path / "log", backend=backend, extra=extra, policy=person) as (
            client,
            _,
        ):
            assert not go(client, approval="on-request").get("isError")
            outputs = [m.call_output(piped), m.call_output(on_tty)]
        assert secret.connections == [], "a session reached the denied host"
        assert origin.hits == ["/ok", "/ok"], origin.hits
        assert person.hosts() == ["origin.test"], "a denied host was asked about, or the grant was not kept"
        for out in outputs:
            assert "ok=0" in out and "hello through the proxy" in out, out
            assert out.count(" 403 ") >= 2, out  # by name and by address, through the proxy
        assert exit_code_in(outputs[0]) == 0
        assert f"network access to blocked.test:{secret.port} (http) was refused" in told(m)


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_session_living_across_turns_keeps_its_policy(
    user: str, backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """Allow once covers the session's command for its whole life (the next turn, and between
    turns); between turns nobody can be asked, so an unknown host is refused; the deny list
    and the sandbox hold in the next turn."""
    m = scripted_model
    person = Answering(ONCE)
    with http_origin() as origin, victim() as secret:
        port = origin.port
        shell = exec_command(m, SHELL, tty=True, yield_ms=1500)
        between = (
            f"(read go < gate; ({_curl(f'http://other.test:{port}/between', 'b')}) > between.out 2>&1; "
            f"({_curl(f'http://origin.test:{port}/again', 'a')}) > again.out 2>&1; echo ok > between.done) &"
        )
        typed(m, shell, f"mkfifo gate; {between} {_curl(f'http://origin.test:{port}/one', 'one')}", "t1",
              yield_ms=8000)  # fmt: skip
        m.text("first turn")
        later = [_curl(f"http://origin.test:{port}/two", "two"), *attacks(secret.port)[:3]]
        second = typed(m, shell, "; ".join(later), "t2", yield_ms=10_000)
        m.text("second turn")
        extra = proxy_table(hosts=HOSTS, deny=DENY)
        with server(user, m, tmp_path / "log", backend=backend, extra=extra, policy=person) as (
            client,
            p,
        ):
            first = go(client, approval="on-request")
            assert text_of(first) == "first turn", first
            # No turn is running now: the session's background job connects.
            _open_gate(p.ws / "gate")
            wait_until(lambda: (p.ws / "between.done").exists(), 60, "the connections between turns")
            assert " 403 " in (p.ws / "between.out").read_text()
            assert "hello through the proxy" in (p.ws / "again.out").read_text()
            assert text_of(reply(client, first)) == "second turn"
            out = m.call_output(second)
        assert secret.connections == [], "a session reached the denied host in a later turn"
        assert origin.hits == ["/one", "/again", "/two"], origin.hits
        assert person.hosts() == ["origin.test"], "the session was asked again, or between turns"
        assert "two=0" in out and out.count(" 403 ") >= 1, out
        assert "no turn is running" in told(m), "the model was not told why other.test was refused"


def _open_gate(fifo: Path) -> None:
    """Write one line into the session's fifo (its reader waits for it)."""

    def opened() -> bool:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT):  # no reader yet, or not made yet
                return False
            raise
        os.write(fd, b"go\n")
        os.close(fd)
        return True

    wait_until(opened, 30, "the session's reader of the fifo")


ANSWERS = [
    pytest.param({"action": "accept", "content": {"decision": "denied"}}, id="denied"),
    pytest.param({"action": "decline"}, id="decline"),
    pytest.param({"action": "cancel"}, id="cancel"),
    pytest.param({"action": "accept", "content": {"decision": "abort"}}, id="abort"),
    pytest.param(ONCE, id="approved"),
]


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_sessions_question_answered_every_way(
    answer: dict[str, Any], backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """From `exec_command` (the call still waiting) and from `write_stdin` (typed into a
    terminal session), each asking twice for its host: one question per session."""
    m = scripted_model
    person = Answering(answer)
    approved = answer == ONCE
    with http_origin() as origin:
        port = origin.port
        twice = [_curl(f"http://origin.test:{port}/{p}", p) for p in ("c1", "c1b")]
        piped = exec_command(m, "; ".join(twice), yield_ms=60_000)
        shell = exec_command(m, SHELL, tty=True, yield_ms=1500)
        twice = [_curl(f"http://second.test:{port}/{p}", p) for p in ("c2", "c2b")]
        on_tty = typed(m, shell, "; ".join(twice), "t", yield_ms=10_000)
        m.text("done")
        extra = proxy_table(hosts=HOSTS, deny=DENY)
        with server("root", m, tmp_path / "log", backend=backend, extra=extra, policy=person) as (
            client,
            _,
        ):
            result = go(client, approval="on-request")
            assert text_of(result) == "done", result  # an `abort` of a connection ends no turn
            outputs = [m.call_output(piped), m.call_output(on_tty)]
        assert person.hosts() == ["origin.test", "second.test"], person.hosts()
        if approved:
            assert origin.hits == ["/c1", "/c1b", "/c2", "/c2b"]
            return
        assert origin.hits == [], "a connection went through without approval"
        for out in outputs:
            assert out.count(" 403 ") == 2, out
        said = told(m)
        for host in ("origin.test", "second.test"):
            assert f"network access to {host}:{port} (http) was refused" in said, said[-3000:]


ENDINGS = {"exit": ("exit\n", 5000), "killed": ("", 3000), "ended-by-server": ("", 30_000)}
"""How the session ends: what the last `write_stdin` types, and how long it waits."""


@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_bridge_goes_with_its_session(
    ending: str, user: str, backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """While the session runs, its bridge listens in the session's own namespace; once the
    session has exited, been killed from outside, or been ended by the server (its lifetime),
    no process is left in that namespace and nothing holds it."""
    m = scripted_model
    seen: dict[str, Any] = {}
    server_pid: list[int] = []
    with http_origin() as origin:
        shell = exec_command(m, SHELL, tty=True, yield_ms=1500)
        fetch = typed(m, shell, _curl(f"http://origin.test:{origin.port}/b", "b"), "f", yield_ms=6000)

        def look_then_end(rec: Recorded) -> Turn:
            """Seen from outside while the turn runs and the session lives; then ended."""
            try:
                (pid,) = shell_pids(server_pid[0])
                netns = netns_of(pid)
                seen.update(pid=pid, netns=netns, members=in_netns(netns))
                seen["listening"] = listening(pid, proxy_port(pid))
            except (OSError, ValueError, AssertionError) as exc:
                seen["error"] = repr(exc)
            if ending == "killed" and "pid" in seen:
                os.kill(seen["pid"], signal.SIGKILL)
            chars, wait = {"exit": ("exit\n", 5000), "killed": ("", 3000), "ended-by-server": ("", 30_000)}[
                ending
            ]
            args = {
                "session_id": session_id_in(str(rec.call_output(shell))),
                "chars": chars,
                "yield_time_ms": wait,
            }
            return Turn("calls", calls=[function_call("write_stdin", args, "call_end")])

        m.later(look_then_end)
        m.text("done")
        extra = proxy_table(mode="allow-list", allow=["origin.test"], hosts=HOSTS)
        if ending == "ended-by-server":
            extra = "[codex_mcp]\nexec_session_max_lifetime_sec = 12\n" + extra
        with server(user, m, tmp_path / "log", backend=backend, extra=extra) as (client, _):
            server_pid.append(client.proc.pid)
            assert text_of(go(client)) == "done"
            assert "error" not in seen, seen
            assert "hello through the proxy" in m.call_output(fetch)
            assert seen["netns"] != netns_of(os.getpid()), "the session shares the host's network"
            assert seen["listening"], "the bridge was not listening in the session's namespace"
            assert len(seen["members"]) >= 2, seen  # the command and the bridge at least
            ended = m.call_output("call_end")
            if ending == "exit":
                assert exit_code_in(ended) == 0, ended
            elif ending == "ended-by-server":
                assert "exec_session_max_lifetime_sec" in ended, ended
            wait_until(lambda: not held_by_anyone(seen["netns"]), 20, "the session's namespace to go")
            assert not wait_dead(seen["members"], 5)
        assert origin.hits == ["/b"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_shell_tool_and_safe_command_goes_through_the_proxy(
    backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """`shell`, `shell_command` and `exec_command` each reach the origin through the proxy
    (one question each: allow once is per command); under `untrusted` a known-safe command
    runs in the proxied sandbox (its own namespace, the bridge listening on the port its
    `HTTP_PROXY` names), while a command the person approved runs outside the sandbox and so
    outside the proxy, as the reference runs approved escalations: no proxy variables, no
    second question."""
    m = scripted_model
    person = Answering(ONCE)
    with http_origin() as origin:
        url = f"http://origin.test:{origin.port}"
        m.shell(["bash", "-c", _curl(f"{url}/shell", "s")])
        m.function("shell_command", {"command": _curl(f"{url}/shell_command", "sc")})
        exec_command(m, _curl(f"{url}/exec", "e"), yield_ms=60_000)
        m.text("first")
        safe = m.function("shell_command", {"command": "cat /proc/self/environ /proc/net/tcp"})
        direct = f"http://{ORIGIN_IP}:{origin.port}/approved"
        names = "env | grep -io '^[a-z_]*proxy[a-z_]*=' | tr '\\n' ' '; echo"
        approved = m.function("shell_command", {"command": f"{names}; {_curl(direct, 'ap')}"})
        m.text("second")
        extra = proxy_table(hosts=HOSTS)
        with server("root", m, tmp_path / "log", backend=backend, extra=extra, policy=person) as (
            client,
            _,
        ):
            assert text_of(go(client, approval="on-request")) == "first"
            assert text_of(go(client, approval="untrusted")) == "second"
            environ, out = m.call_output(safe), m.call_output(approved)
        assert origin.hits == ["/shell", "/shell_command", "/exec", "/approved"], origin.hits
        assert person.hosts() == ["origin.test"] * 3, (
            "a proxied command was not asked, or one was asked twice"
        )
        port = int(environ.split("HTTP_PROXY=http://127.0.0.1:")[1].split("\0")[0].split()[0].rstrip("/"))
        assert f":{port:04X} 00000000:0000 0A" in environ, "the safe command's bridge is not listening"
        assert "ap=0" in out and "hello through the proxy" in out, out
        assert len(person.others) == 1, "the known-safe command was asked about (or the other was not)"
        first_line = _output_body(out).splitlines()[0]
        assert "HTTP_PROXY" not in first_line.upper() and "ACTIVE" not in first_line, out


def _output_body(formatted: str) -> str:
    """The command's own output inside `shell_command`'s framing."""
    return formatted.split("Output:\n", 1)[-1]
