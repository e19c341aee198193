"""The HTTP listener: accept connections, serve `/mcp`, shut down cleanly on SIGINT/SIGTERM.

Task ownership nests so that shutdown can go in order: the session registry's task group
(every session's `McpServer` and its calls) encloses the connections' task group.  On the
first signal we stop accepting, end every session (calls cancelled, turns interrupted,
child processes reaped, open streams finished), then close the remaining connections.  A
second signal cancels everything at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import SocketAttribute, TaskGroup

from codex_mcp.http.endpoint import MCP_PATH, McpEndpoint
from codex_mcp.http.security import AccessPolicy, is_loopback_host, url_host
from codex_mcp.http.session import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SESSIONS, SessionManager
from codex_mcp.http.wire import DEFAULT_MAX_BODY
from codex_mcp.server import ServerOptions

log = logging.getLogger(__name__)


@dataclass
class HttpOptions:
    host: str
    port: int
    token: str | None = None
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    port_file: Path | None = None
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_sessions: int = DEFAULT_MAX_SESSIONS
    max_body: int = DEFAULT_MAX_BODY


def run_http(options: ServerOptions, http: HttpOptions) -> int:
    """Serve until a signal; returns the exit code."""
    return anyio.run(serve_http, options, http, backend="asyncio")


async def serve_http(options: ServerOptions, http: HttpOptions) -> int:
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
    print(f"codex-mcp-server: listening on {url}", file=sys.stderr, flush=True)

    from codex_mcp.prewarm import start_warm_up

    start_warm_up()
    async with anyio.create_task_group() as root:
        stop = anyio.Event()
        root.start_soon(_watch_signals, stop, root)
        async with SessionManager(options, http.idle_timeout, http.max_sessions) as sessions:
            endpoint = McpEndpoint(sessions, policy, http.max_body)
            async with anyio.create_task_group() as connections:
                accepting = anyio.CancelScope()

                async def accept() -> None:
                    with accepting:
                        async with listener:  # closed once accepting is cancelled
                            await listener.serve(endpoint.serve_connection, task_group=connections)

                connections.start_soon(accept)
                await stop.wait()
                log.info("shutting down: %d session(s) open", len(sessions))
                accepting.cancel()
                await sessions.close_all("the server is shutting down")
                connections.cancel_scope.cancel()
        root.cancel_scope.cancel()
    return 0


async def _watch_signals(stop: anyio.Event, root: TaskGroup) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if stop.is_set():
                log.warning("second signal: exiting now")
                root.cancel_scope.cancel()
                return
            log.info("%s: shutting down", signal.Signals(signum).name)
            stop.set()


def _write_port_file(path: Path, port: int) -> None:
    """Atomically, so a reader never sees a half-written number."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{port}\n", encoding="ascii")
    os.replace(tmp, path)
