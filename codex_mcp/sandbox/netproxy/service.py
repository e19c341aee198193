"""`NetworkProxy`: one session's proxy between its sandboxed commands and the network.

There is no listening socket on the host.  Each command gets a *channel* (`attach`): an
AF_UNIX seqpacket pair whose one end goes into the sandbox, where the bridge
(`netbridge.py`) passes every connection it accepts on its loopback listener; the server
keeps the other end and serves each received socket here.  The channel remembers which
command it belongs to: that is "the command that asked" in questions and events, and the
scope of an "allow once" answer.

For each connection: read the request (`wire`), decide (`rules`, the session's and the
command's memory, or a question), resolve the name only once it is allowed, check every
address, connect to a checked address, answer the client, relay (`conn.Relay`), report.
Questions are deduplicated per (protocol, host, port): whoever asks while a question is
open waits for the same answer, and that answer is recorded for every command that waited
before any of them resumes.  Every wait is bounded; `close()` (the thread closed) answers
the open questions with a denial and cancels every connection at once.
"""

from __future__ import annotations

import array
import contextlib
import itertools
import logging
import os
import socket
import time
from collections.abc import Sequence

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup

from codex_mcp.pending import PendingMap, Waiter
from codex_mcp.sandbox.netbridge import channel_pair
from codex_mcp.sandbox.netproxy.conn import Conn, Relay, connect
from codex_mcp.sandbox.netproxy.model import CLOSED_REASON as CLOSED_REASON
from codex_mcp.sandbox.netproxy.model import Answer as Answer
from codex_mcp.sandbox.netproxy.model import ConnectionReport as ConnectionReport
from codex_mcp.sandbox.netproxy.model import HostUsage as HostUsage
from codex_mcp.sandbox.netproxy.model import Key as Key
from codex_mcp.sandbox.netproxy.model import ProxyHooks as ProxyHooks
from codex_mcp.sandbox.netproxy.model import Question as Question
from codex_mcp.sandbox.netproxy.resolver import ResolveError, Resolver
from codex_mcp.sandbox.netproxy.rules import (
    IPAddress,
    ProxySettings,
    Rules,
    ip_of,
    shown_target,
    usable_addresses,
)
from codex_mcp.sandbox.netproxy.wire import (
    CONNECT_OK,
    SOCKS_HOST_UNREACHABLE,
    SOCKS_NOT_ALLOWED,
    SOCKS_REFUSED,
    BadRequest,
    ClosingResponseHeads,
    Request,
    http_refusal,
    read_request,
    socks_reply,
)
from codex_mcp.uuids import uuid4

log = logging.getLogger(__name__)

HEAD_TIMEOUT_SEC = 10.0
ENDING_GRACE_SEC = 2.0
"""After its command ended, how long a connection may take to see its end and report it."""


class _Channel:
    """One command's way in (implements `boundary.NetworkChannel`)."""

    def __init__(self, proxy: NetworkProxy, command: Sequence[str], cwd: str) -> None:
        self._proxy = proxy
        self.command = tuple(command)
        self.cwd = cwd
        self.sock, self._sandbox_fd = channel_pair()
        self.scope = anyio.CancelScope()
        """Everything of this channel: its accepting and its connections."""
        self.accepting = anyio.CancelScope()
        self.allowed: set[Key] = set()
        self.denied: dict[Key, str] = {}
        self.questions = 0
        self._notes: list[str] = []
        self._noted: set[Key] = set()
        self.closed = False
        self.done = anyio.Event()
        """Set when the channel's task has ended (its connections reported)."""
        self.served = False
        """A task serves the channel: that task closes the socket (never closed under a waiter)."""

    @property
    def sandbox_fd(self) -> int:
        return self._sandbox_fd

    def started(self) -> None:
        if self._sandbox_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._sandbox_fd)
            self._sandbox_fd = -1

    def close(self) -> None:
        """The command is over: no new connection; those still open (their sandbox is gone,
        they are seeing their end) get `ENDING_GRACE_SEC` to finish their report."""
        self.closed = True
        self.started()
        self.accepting.cancel()
        if self.served:
            self._proxy._ending.add(self)
            try:
                self.scope.deadline = min(self.scope.deadline, anyio.current_time() + ENDING_GRACE_SEC)
            except RuntimeError:  # not on the event loop's thread: no grace
                self.scope.cancel()
        else:
            self.scope.cancel()
            with contextlib.suppress(OSError):
                self.sock.close()
        self._proxy._channels.discard(self)

    def cut(self) -> None:
        """The session is closed: everything of this channel ends now."""
        self.close()
        self.scope.cancel()

    def note(self, key: Key, text: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            self._notes.append(text)

    def take_notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes


class NetworkProxy:
    """The proxy of one session (implements `boundary.NetworkAttacher`).  Its tasks run in
    `task_group` (one that outlives turns); `close()` ends them all."""

    def __init__(
        self,
        settings: ProxySettings,
        hooks: ProxyHooks,
        task_group: TaskGroup,
        *,
        approval_timeout: float,
    ) -> None:
        self.settings = settings
        self.rules = Rules.from_settings(settings)
        self.resolver = Resolver(settings.hosts, settings.dns_servers)
        self._hooks = hooks
        self._tg = task_group
        self._approval_timeout = approval_timeout
        self._session_allowed: set[Key] = set()
        self._questions: PendingMap[Key, Answer] = PendingMap()
        self._channels: set[_Channel] = set()
        self._ending: set[_Channel] = set()
        self._scopes: set[anyio.CancelScope] = set()
        self._usage: dict[Key, HostUsage] = {}
        self._ids = itertools.count(1)
        self.active = 0
        self.closed = False

    # -- the session's side ----------------------------------------------------------------

    def attach(self, command: Sequence[str], cwd: str) -> _Channel:
        """A channel for one command (call on the event loop's thread)."""
        channel = _Channel(self, command, cwd)
        if self.closed:
            # Nobody serves it: the bridge's first hand-over fails and it stops accepting.
            channel.closed = True
            with contextlib.suppress(OSError):
                channel.sock.close()
            return channel
        self._channels.add(channel)
        channel.served = True
        self._tg.start_soon(self._serve_channel, channel)
        return channel

    def close(self) -> None:
        """No more traffic: every question denied, every channel and connection ended."""
        self.closed = True
        self._questions.close(Answer("denied", CLOSED_REASON))
        for channel in list(self._channels):
            channel.cut()
        for scope in list(self._scopes):
            scope.cancel()

    async def settle(self) -> None:
        """Wait (bounded by the grace) until the connections of the commands that ended have
        seen their end and reported: a turn's summary then counts all its commands' traffic."""
        with anyio.move_on_after(ENDING_GRACE_SEC + 1):
            for channel in list(self._ending):
                await channel.done.wait()

    def take_usage(self) -> list[HostUsage]:
        """Traffic since the last call, per (protocol, host, port)."""
        usage, self._usage = list(self._usage.values()), {}
        return usage

    # -- channels and connections ----------------------------------------------------------

    async def _serve_channel(self, channel: _Channel) -> None:
        try:
            with channel.scope:
                async with anyio.create_task_group() as connections:
                    with channel.accepting:
                        while not channel.closed:
                            fds = await _receive_fds(channel.sock)
                            if fds is None:
                                break
                            if len(fds) != 1:
                                # The bridge sends one connection per message: anything else
                                # is a command playing with the channel, which it loses.
                                for fd in fds:
                                    os.close(fd)
                                log.info("a channel of `%s` broke its protocol; closed", channel.command[:1])
                                break
                            self._accept(connections, channel, fds[0])
                            await anyio.lowlevel.checkpoint()  # a flood of connections shares the loop
        finally:
            with contextlib.suppress(OSError):
                channel.sock.close()
            self._channels.discard(channel)
            self._ending.discard(channel)
            channel.done.set()

    def _accept(self, connections: TaskGroup, channel: _Channel, fd: int) -> None:
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            return
        if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
            sock.close()  # the bridge passes accepted TCP sockets only
            return
        if self.active >= self.settings.max_connections or self.closed:
            limit = self.settings.max_connections
            Conn(sock).send_now(http_refusal(503, f"too many connections through the proxy (limit {limit})"))
            sock.close()
            return
        self.active += 1
        connections.start_soon(self._serve_connection, channel, sock)

    async def _serve_connection(self, channel: _Channel, sock: socket.socket) -> None:
        client = Conn(sock)
        upstream: Conn | None = None
        report: ConnectionReport | None = None
        try:
            request = await self._read(client)
            if request is None:
                return
            report = ConnectionReport(
                f"net-{next(self._ids)}", request.protocol, request.host, request.port, channel.command
            )
            await self._hooks.report(report, False)
            upstream = await self._open(channel, request, client, report)
            if upstream is None:
                return
            answers = ClosingResponseHeads() if request.protocol == "http" else None
            relay = Relay(client, upstream, self.settings.idle_timeout_sec, answers)
            try:
                await relay.run()
            finally:
                report.bytes_sent += relay.up
                report.bytes_received += relay.down
            report.outcome = "completed" if relay.failure is None else "failed"
            report.reason = relay.failure
            if relay.timed_out:
                report.reason = f"idle for {self.settings.idle_timeout_sec:g} s"
        finally:
            self.active -= 1
            client.close()
            if upstream is not None:
                upstream.close()
            if report is not None:
                await self._finish(report)

    async def _read(self, client: Conn) -> Request | None:
        with anyio.move_on_after(HEAD_TIMEOUT_SEC):
            try:
                return await read_request(client)
            except BadRequest as exc:
                if exc.socks_code is None:
                    client.send_now(http_refusal(exc.status, str(exc)))
                elif exc.socks_code:
                    client.send_now(socks_reply(exc.socks_code))
                return None
            except (EOFError, OSError):
                return None
        client.send_now(http_refusal(408, f"no complete request within {HEAD_TIMEOUT_SEC:g} s"))
        return None

    async def _open(
        self, channel: _Channel, request: Request, client: Conn, report: ConnectionReport
    ) -> Conn | None:
        """Decide, resolve, check, connect and answer the client; None when refused (the
        client has been told why)."""
        key: Key = (request.protocol, request.host, request.port)
        shown = shown_target(*key)
        refusal = await self._decide(channel, key)
        if refusal is None:
            addresses, refusal, status = await self._addresses(request)
        else:
            addresses, status = [], 403
        if refusal is not None:
            report.outcome, report.reason = "denied", refusal
            channel.note(key, f"network access to {shown} was refused: {refusal}")
            code = SOCKS_NOT_ALLOWED if status == 403 else SOCKS_HOST_UNREACHABLE
            await _refuse(client, request, status, f"Network access to {shown} refused: {refusal}", code)
            return None
        try:
            upstream, ip = await connect(addresses, request.port, self.settings.connect_timeout_sec)
        except (OSError, TimeoutError) as exc:
            why = (
                f"no connection within {self.settings.connect_timeout_sec:g} s"
                if isinstance(exc, TimeoutError)
                else str(exc)
            )
            report.outcome, report.reason = "failed", why
            status = 504 if isinstance(exc, TimeoutError) else 502
            await _refuse(client, request, status, f"Cannot reach {shown}: {why}", SOCKS_REFUSED)
            return None
        report.address = str(ip)
        try:
            if request.socks:
                await client.send_all(socks_reply(0))
            elif request.protocol == "https":
                await client.send_all(CONNECT_OK)
            else:
                await upstream.send_all(request.forward)
                report.bytes_sent += len(request.forward)
        except OSError:
            upstream.close()
            report.outcome, report.reason = "failed", "the client went away"
            return None
        return upstream

    async def _addresses(self, request: Request) -> tuple[list[IPAddress], str | None, int]:
        literal = ip_of(request.host)
        try:
            if literal is not None:
                found = [literal]
            else:
                found = await self.resolver.resolve(request.host, request.port)
        except ResolveError as exc:
            return [], str(exc), 502
        usable, why = usable_addresses(self.rules, found)
        if not usable:
            return [], "; ".join(why), 403
        return list(usable), None, 200

    async def _finish(self, report: ConnectionReport) -> None:
        report.duration_s = time.monotonic() - report.started
        if report.outcome is None:
            report.outcome, report.reason = "failed", report.reason or CLOSED_REASON
        key: Key = (report.protocol, report.host, report.port)
        usage = self._usage.setdefault(key, HostUsage(*key))
        usage.connections += 1
        usage.denied += report.outcome == "denied"
        usage.bytes_sent += report.bytes_sent
        usage.bytes_received += report.bytes_received
        with anyio.CancelScope(shield=True), anyio.move_on_after(2):
            await self._hooks.report(report, True)

    # -- decisions -------------------------------------------------------------------------

    async def _decide(self, channel: _Channel, key: Key) -> str | None:
        """None when `key` may be reached, else why not (before any name is resolved)."""
        _protocol, host, _port = key
        reason = self.rules.denied_host(host)
        if reason is not None:
            return reason
        ip = ip_of(host)
        if ip is not None and (why := self.rules.refused_address(ip)) is not None:
            return why
        if self.rules.allowed_host(host) or key in self._session_allowed or key in channel.allowed:
            return None
        if key in channel.denied:
            return channel.denied[key]
        if self.rules.mode != "ask":
            return f"{host} is not in the allow list of `[network_proxy]`"
        answer = await self._ask(channel, key)
        return None if answer.decision != "denied" else (answer.reason or "the person denied it")

    async def _ask(self, channel: _Channel, key: Key) -> Answer:
        waiter = self._questions.get(key)
        if waiter is None:
            if self._questions.is_closed:
                return Answer("denied", CLOSED_REASON)
            limit = self.settings.max_questions_per_command
            if channel.questions >= limit:
                return Answer("denied", f"this command already asked about {limit} destinations")
            channel.questions += 1
            # Registered before anything can yield: whoever asks next finds this question.
            entry = contextlib.ExitStack()
            waiter = entry.enter_context(self._questions.expect(key, tag=set()))
            self._tg.start_soon(self._question, key, channel, waiter, entry)
        waiter.tag.add(channel)
        try:
            return await waiter.wait(self._approval_timeout + 5)
        except TimeoutError:
            return Answer("denied", f"no answer within {self._approval_timeout:g} s")

    async def _question(
        self, key: Key, asker: _Channel, waiter: Waiter[Answer], entry: contextlib.ExitStack
    ) -> None:
        """Ask once for `key`; record the answer for every command that waited, then answer.
        `entry` holds the question's place in the map until the answer is in."""
        scope = anyio.CancelScope()
        self._scopes.add(scope)
        try:
            with entry, scope:
                question = Question(f"network-{uuid4()}", *key, asker.command, asker.cwd)
                answer = Answer("denied", CLOSED_REASON)
                try:
                    with anyio.fail_after(self._approval_timeout):
                        answer = await self._hooks.ask(question)
                except TimeoutError:
                    answer = Answer("denied", f"no answer within {self._approval_timeout:g} s")
                except Exception:
                    log.exception("asking about %s failed", shown_target(*key))
                    answer = Answer("denied", "the question could not be asked")
                finally:
                    self._record(key, answer, waiter.tag)
                    waiter.resolve(answer)
        finally:
            self._scopes.discard(scope)

    def _record(self, key: Key, answer: Answer, channels: set[_Channel]) -> None:
        if answer.decision == "approved_for_session":
            self._session_allowed.add(key)
        for channel in channels:
            if answer.decision == "denied":
                channel.denied[key] = answer.reason or "the person denied it"
            else:
                channel.allowed.add(key)


async def _receive_fds(sock: socket.socket) -> list[int] | None:
    """The descriptors of the next message (None at the end of the channel)."""
    space = socket.CMSG_SPACE(4 * array.array("i").itemsize)
    flags = socket.MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT
    while True:
        try:
            msg, ancdata, _flags, _addr = sock.recvmsg(16, space, flags)
        except (BlockingIOError, InterruptedError):
            await anyio.wait_readable(sock)
            continue
        except OSError:
            return None
        fds: list[int] = []
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                numbers = array.array("i")
                numbers.frombytes(data[: len(data) - len(data) % numbers.itemsize])
                fds.extend(numbers)
        if not msg and not fds:
            return None
        return fds


async def _refuse(client: Conn, request: Request, status: int, message: str, socks_code: int) -> None:
    with contextlib.suppress(OSError), anyio.move_on_after(5):
        await client.send_all(socks_reply(socks_code) if request.socks else http_refusal(status, message))
