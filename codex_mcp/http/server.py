"""The HTTP listener: accept connections, serve `/mcp`, shut down cleanly on SIGINT/SIGTERM.

Accepting goes through `connections.accept_loop` (one per listening socket: `localhost`
may mean both 127.0.0.1 and ::1), which survives running out of descriptors and keeps the
number of connections within `HttpLimits`.

Task ownership nests so that shutdown can go in order: the session registry's task group
(every session's `McpServer` and its calls) encloses the connections' task group.  On the
first signal we stop accepting, end every session (calls cancelled, turns interrupted,
child processes reaped, open streams finished), then close the remaining connections, and
exit 0.  A second signal kills commands without their grace and cancels everything at once;
a third exits on the spot.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import anyio
from anyio.abc import SocketAttribute, SocketListener, TaskGroup
from anyio.streams.stapled import MultiListener

from codex_mcp.http.connections import ConnectionTable, accept_loop
from codex_mcp.http.endpoint import MCP_PATH, McpEndpoint
from codex_mcp.http.limits import HttpLimits, fd_limit
from codex_mcp.http.security import AccessPolicy, is_loopback_host, url_host
from codex_mcp.http.session import DEFAULT_IDLE_TIMEOUT, SessionManager
from codex_mcp.server import ServerOptions

log = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16


@dataclass
class HttpOptions:
    """How the HTTP transport listens and what it allows."""

    host: str
    port: int
    token: str | None = None
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    port_file: Path | None = None
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    limits: HttpLimits = field(default_factory=HttpLimits)


def run_http(options: ServerOptions, http: HttpOptions) -> int:
    """Serve until a signal; returns the exit code."""
    return anyio.run(serve_http, options, http, backend="asyncio")


async def serve_http(options: ServerOptions, http: HttpOptions) -> int:
    if options.exec_budget is None:
        from codex_mcp.agent.exec.budget import ProcessBudget

        # One count of live command processes for every session's agent: the limit is the
        # server's, however many sessions clients open.
        options = replace(options, exec_budget=ProcessBudget())
    try:
        listener = await anyio.create_tcp_listener(local_host=http.host, local_port=http.port)
    except OSError as exc:
        print(f"codex-mcp-server: cannot listen on {http.host}:{http.port}: {exc}", file=sys.stderr)
        return 2
    port = int(listener.extra(SocketAttribute.local_port))
    url = f"http://{url_host(http.host)}:{port}{MCP_PATH}"
    policy = AccessPolicy(
        loopback=is_loopback_host(http.host), token=http.token, allowed_origins=http.allowed_origins
    )
    if http.port_file is not None:
        _write_port_file(http.port_file, port)
    limits = http.limits
    nofile = fd_limit()
    if nofile is not None and limits.max_connections > nofile:
        log.warning(
            "the connection limit (%d) exceeds the file-descriptor limit (%d): floods will run the "
            "server out of descriptors (it survives, but commands and model calls may fail meanwhile)",
            limits.max_connections,
            nofile,
        )
    if http.token is not None and len(http.token) < MIN_TOKEN_LENGTH:
        log.warning("the bearer token is short (%d characters): use a long random one", len(http.token))
    print(f"codex-mcp-server: listening on {url}", file=sys.stderr, flush=True)

    from codex_mcp.prewarm import start_warm_up

    start_warm_up()
    async with anyio.create_task_group() as root:
        stop = anyio.Event()
        root.start_soon(_watch_signals, stop, root)
        async with SessionManager(
            options, http.idle_timeout, limits.max_sessions, limits.max_sessions_per_client
        ) as sessions:
            endpoint = McpEndpoint(sessions, policy, limits)
            table = ConnectionTable(limits.max_connections, limits.per_peer)
            async with anyio.create_task_group() as connections:
                accepting = anyio.CancelScope()

                async def accept() -> None:
                    with accepting:
                        async with listener, anyio.create_task_group() as loops:
                            serve = endpoint.serve_connection
                            for one in _sockets(listener):
                                loops.start_soon(accept_loop, one, table, serve, connections)

                connections.start_soon(accept)
                await stop.wait()
                log.info("shutting down: %d session(s) open", len(sessions))
                accepting.cancel()
                await sessions.close_all("the server is shutting down")
                connections.cancel_scope.cancel()
        root.cancel_scope.cancel()
    return 0


def _sockets(listener: object) -> list[SocketListener]:
    if isinstance(listener, MultiListener):
        return [one for one in listener.listeners if isinstance(one, SocketListener)]
    assert isinstance(listener, SocketListener)
    return [listener]


async def _watch_signals(stop: anyio.Event, root: TaskGroup) -> None:
    """The first signal ends every session in order; a second one kills commands without
    their grace and cancels what is left (`codex_mcp.signals`)."""
    from codex_mcp import signals

    await signals.watch(lambda _signum: stop.set(), root.cancel_scope.cancel)


def _write_port_file(path: Path, port: int) -> None:
    """Atomically, so a reader never sees a half-written number."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n", encoding="ascii")
    os.replace(tmp, path)
