"""`codex-mcp-server`: command line, logging, startup checks, then the stdio (or HTTP) server.

Everything here runs before the first byte of JSON-RPC output, so a broken server-level
configuration is reported on stderr and the process exits non-zero instead of serving a
half-working server.  Imports are kept to the minimum the start path needs: nothing of the
HTTP transport is imported unless `--http` is given.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

from codex_mcp._version import __version__

HTTP_LIMIT_FLAGS = (
    (
        "--http-max-connections",
        "N",
        "open connections at most (default 512, at most half the file-descriptor limit); when full, "
        "idle ones are closed to make room, else new ones get 503",
    ),
    (
        "--http-max-connections-per-peer",
        "N",
        "open connections from one address at most (default: half of --http-max-connections)",
    ),
    ("--http-max-body", "BYTES", "largest request body accepted (default 16777216)"),
    ("--http-max-sessions", "N", "sessions at most (default 64); when full, new ones get 503"),
    (
        "--http-max-sessions-per-client",
        "N",
        "sessions per client (address and local user) at most (default 16); at the limit the "
        "client's own longest-idle session makes room",
    ),
)
LOG_ENV = "CODEX_MCP_LOG"
LOG_FILE_NAME = "codex-mcp.log"
HTTP_TOKEN_ENV = "CODEX_MCP_HTTP_TOKEN"


def codex_home(env: dict[str, str] | os._Environ[str]) -> Path:
    """CODEX_HOME as a symlink-free path, fixed for the server's lifetime: a symlink on the
    way to it that lies where a sandboxed command may write could otherwise be re-pointed
    at a directory of the command's making (and its config.toml) between two reads."""
    value = env.get("CODEX_HOME")
    path = Path(value).expanduser() if value else Path.home() / ".codex"
    return Path(os.path.realpath(path))


def ensure_codex_home(home: Path) -> None:
    """Create CODEX_HOME (0700) if missing: a missing one inside a sandbox-writable root could
    be created by a command, config.toml included (the sandbox refuses to run then)."""
    # A failure is reported where it matters: no rollout, or a sandbox that refuses to run.
    with contextlib.suppress(OSError):
        home.mkdir(mode=0o700, parents=True, exist_ok=True)


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="codex-mcp-server",
        description="Serve the Codex coding agent over MCP (stdio, or Streamable HTTP with --http). "
        "Configuration: $CODEX_HOME/config.toml (default ~/.codex).",
    )
    parser.add_argument(
        "-c",
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help='override a config.toml setting for every session (dotted key, TOML value), e.g. -c model="o3"',
    )
    parser.add_argument(
        "--log-level",
        default=None,
        help=f"stderr log level: error, warning, info, debug (default: ${LOG_ENV} or warning)",
    )
    parser.add_argument(
        "--log-file",
        action="store_true",
        help=f"also write the log to $CODEX_HOME/log/{LOG_FILE_NAME} (mode 0600)",
    )
    http = parser.add_argument_group("Streamable HTTP (instead of stdio)")
    http.add_argument(
        "--http",
        metavar="HOST:PORT",
        default=None,
        help="serve MCP Streamable HTTP at http://HOST:PORT/mcp; ':PORT' means 127.0.0.1, port 0 picks "
        "a free port (the URL is printed on stderr)",
    )
    http.add_argument(
        "--http-token",
        default=None,
        metavar="TOKEN",
        help=f"require 'Authorization: Bearer TOKEN' (default: ${HTTP_TOKEN_ENV}); required for a "
        f"non-loopback HOST.  Prefer ${HTTP_TOKEN_ENV}: a command line is readable by every local user "
        "(the server blanks it out once started)",
    )
    http.add_argument(
        "--http-allowed-origins",
        action="append",
        default=[],
        metavar="ORIGINS",
        help="comma-separated browser origins to accept besides http(s)://localhost, 127.0.0.1 and [::1]",
    )
    http.add_argument("--http-port-file", default=None, metavar="PATH", help="write the bound port here")
    http.add_argument(
        "--http-session-idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="end a session after this long without requests, calls or open streams (default 1800)",
    )
    for flag, meta, text in HTTP_LIMIT_FLAGS:
        http.add_argument(flag, type=int, default=None, metavar=meta, help=text)
    parser.add_argument("--version", action="version", version=f"codex-mcp-server {__version__}")
    return parser


def setup_logging(level_name: str, log_file: Path | None) -> None:
    level = getattr(logging, level_name.upper(), None)
    if not isinstance(level, int):
        raise ValueError(f"unknown log level {level_name!r} (use error, warning, info or debug)")
    root = logging.getLogger()
    root.setLevel(min(level, logging.INFO) if log_file else level)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(level)
    stderr.setFormatter(fmt)
    root.addHandler(stderr)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
        handler.setLevel(min(level, logging.INFO))
        handler.setFormatter(fmt)
        root.addHandler(handler)


def check_startup_config(home: Path, overrides: list[tuple[list[str], Any]], cwd: Path) -> Any:
    """Load the server-level config once: a broken file or override stops the server here."""
    from codex_mcp.agent.config import load_config

    return load_config(home, cwd=cwd, cli_overrides=overrides)


def provider_needs_tls(provider: Any) -> bool:
    """Whether calls to the configured provider will need the TLS context: an https base
    URL, or a provider that may use a ChatGPT login (whose backend is https)."""
    return bool(provider.requires_openai_auth) or not str(provider.base_url).lower().startswith("http://")


def check_rules(home: Path) -> str | None:
    """A malformed `$CODEX_HOME/rules/*.rules` file stops the server, naming file and line."""
    if not (home / "rules").exists():
        return None
    from codex_mcp.sandbox.rules import RulesError, rules_for_home

    try:
        rules_for_home(home)
    except RulesError as exc:
        return str(exc)
    return None


@dataclass
class Options:
    """The command line, parsed."""

    config: list[str] = field(default_factory=list)
    log_level: str | None = None
    log_file: bool = False
    http: str | None = None
    http_token: str | None = None
    http_allowed_origins: list[str] = field(default_factory=list)
    http_port_file: str | None = None
    http_session_idle_timeout: float | None = None
    http_max_connections: int | None = None
    http_max_connections_per_peer: int | None = None
    http_max_body: int | None = None
    http_max_sessions: int | None = None
    http_max_sessions_per_client: int | None = None


def parse_args(argv: list[str]) -> Options:
    # The usual invocation has no arguments; argparse costs ~10 ms of start-up, so it is only
    # loaded when there is something to parse.
    if not argv:
        return Options()
    ns = build_parser().parse_args(argv)
    return Options(
        config=ns.config,
        log_level=ns.log_level,
        log_file=ns.log_file,
        http=ns.http,
        http_token=ns.http_token,
        http_allowed_origins=ns.http_allowed_origins,
        http_port_file=ns.http_port_file,
        http_session_idle_timeout=ns.http_session_idle_timeout,
        http_max_connections=ns.http_max_connections,
        http_max_connections_per_peer=ns.http_max_connections_per_peer,
        http_max_body=ns.http_max_body,
        http_max_sessions=ns.http_max_sessions,
        http_max_sessions_per_client=ns.http_max_sessions_per_client,
    )


def harden_process() -> None:
    """Make this process non-dumpable, first thing: another process of the same user (a
    command run without a sandbox, or anything else on the machine) can then neither ptrace
    the server nor read its /proc/<pid>/environ, mem or fds, where the API key lives.
    Only root (CAP_SYS_PTRACE) still can.  Core dumps are off as a consequence."""
    if not sys.platform.startswith("linux"):
        return
    from codex_mcp.sandbox.procs import set_dumpable

    try:
        set_dumpable(False)
    except OSError as exc:  # cannot really happen; never worth refusing to start over
        print(f"codex-mcp-server: warning: cannot make the process non-dumpable: {exc}", file=sys.stderr)


def skip_httpx_command_line() -> None:
    """Keep httpx from importing its command-line tool: whenever click is installed, `import
    httpx` loads click and pygments (15-25 ms of a first call here) only to find rich missing,
    or to offer a `main` the server never runs.  httpx expects the import to fail and does
    without it."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def start_checks(
    args: Options, env: os._Environ[str], home: Path, cwd: Path, report: Callable[[str], None]
) -> tuple[list[tuple[list[str], Any]], int]:
    """The server-level configuration, rules and logging, checked before any JSON-RPC output:
    (the `-c` overrides, 0), or ([], exit code) after `report`ing the problem."""
    from codex_mcp.agent.config import ConfigError, parse_override

    try:
        overrides = [parse_override(text) for text in args.config]
        config = check_startup_config(home, overrides, cwd)
    except ConfigError as exc:
        report(f"codex-mcp-server: error in configuration: {exc}")
        return [], 2
    rules_problem = check_rules(home)
    if rules_problem is not None:
        report(f"codex-mcp-server: error in rules: {rules_problem}")
        return [], 2
    ensure_codex_home(home)
    if not provider_needs_tls(config.model_provider):
        from codex_mcp import tls

        tls.not_expected()

    level = args.log_level or env.get(LOG_ENV) or "warning"
    want_file = args.log_file or config.server.log_file
    try:
        setup_logging(level, home / "log" / LOG_FILE_NAME if want_file else None)
    except (ValueError, OSError) as exc:
        report(f"codex-mcp-server: {exc}")
        return [], 2
    return overrides, 0


def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """The program: returns an exit code for a configuration error; once it has served, it
    ends the process itself (`exit_now`)."""
    from codex_mcp import dataclass_cache

    dataclass_cache.install()
    harden_process()
    skip_httpx_command_line()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = os.environ
    home = codex_home(env)
    cwd = Path.cwd()

    from codex_mcp import signals

    # `split_start.SPLIT_START_ENV`, read here: the default path never imports the module.
    if args.http is None and env.get("CODEX_MCP_SPLIT_START", "0") != "0":
        from codex_mcp import split_start

        if split_start.enabled(env):
            signals.raise_on_stop_signals()
            try:
                code = main_split(args, env, home, cwd)
            except signals.Interrupted as stopped:
                code = signals.exit_code(stopped.signum)
            except KeyboardInterrupt:
                code = signals.exit_code(2)
            exit_now(code)

    from codex_mcp.prewarm import hold_gc

    hold_gc()  # until the call path is imported (the split start does the same in its way)
    overrides, code = start_checks(args, env, home, cwd, _to_stderr)
    if code:
        return code

    signals.raise_on_stop_signals()
    try:
        if args.http is not None:
            code = serve_http(args, env, home, cwd, overrides)
        else:
            code = handshake_and_serve_stdio(env, home, cwd, overrides)
    except signals.Interrupted as stopped:
        code = signals.exit_code(stopped.signum)
    except KeyboardInterrupt:
        code = signals.exit_code(2)
    exit_now(code)


def exit_now(code: int) -> NoReturn:
    """End the process once the server is done: its turns ended, its processes (the sandbox
    fork server and everything below it) reaped, its rollouts and output flushed.  What is
    left is the interpreter's own teardown (freeing every module and object: tens of
    milliseconds), which nothing needs, while a client that stops us (SIGINT, then SIGTERM
    100 ms later) waits for our exit."""
    spawn = sys.modules.get("codex_mcp.agent.exec.spawn")
    if spawn is not None:  # commands ran: reap the fork server, which reaps what is below it
        spawn.close_and_reap()
    cache = sys.modules.get("codex_mcp.dataclass_cache")
    if cache is not None:  # classes first made in this process: kept for the next one
        cache.save()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def handshake_and_serve_stdio(
    env: os._Environ[str], home: Path, cwd: Path, overrides: list[tuple[list[str], Any]]
) -> int:
    """The handshake (synchronous), then the server on the event loop (`serve_stdio`)."""
    from codex_mcp.connection import ConnectionState
    from codex_mcp.handshake import run_handshake

    state = ConnectionState(version=__version__)
    pending, eof = run_handshake(sys.stdin.fileno(), sys.stdout.fileno(), state)
    return serve_stdio(env, home, cwd, overrides, state, pending, eof)


def main_split(args: Options, env: os._Environ[str], home: Path, cwd: Path) -> int:
    """The handshake in a forked child while this process warms the call path
    (`codex_mcp.split_start`); the child reports start-up problems, this process only
    checks them again for itself."""
    from codex_mcp import split_start

    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    child = split_start.fork_handshake(
        stdin, stdout, lambda: start_checks(args, env, home, cwd, _to_stderr)[1], __version__
    )
    if child is None:
        overrides, code = start_checks(args, env, home, cwd, _to_stderr)
        if code:
            return code
        from codex_mcp.connection import ConnectionState
        from codex_mcp.handshake import run_handshake

        state = ConnectionState(version=__version__)
        pending, eof = run_handshake(stdin, stdout, state)
        return serve_stdio(env, home, cwd, overrides, state, pending, eof)

    problems: list[str] = []
    checked: list[tuple[list[tuple[list[str], Any]], int]] = []

    def check() -> None:
        checked.append(start_checks(args, env, home, cwd, problems.append))

    from codex_mcp import prewarm, tls

    tls.start_building()
    steps: list[Callable[[], object]] = [check]
    steps += [functools.partial(prewarm.run_step, step) for step in prewarm.warm_steps(tool_path=False)]
    split_start.prepare_while_child_answers(steps, child)
    handoff = child.take_over(__version__)
    overrides, code = checked[0]
    if handoff.exit_code is not None:
        return handoff.exit_code
    if code:  # the child's checks passed, ours did not: the files changed in between
        for problem in problems:
            _to_stderr(problem)
        return code
    assert handoff.state is not None
    # What only a tool call needs is warmed afterwards, like the one-process warm-up: paused
    # while a call waits (the server resumes it once no call runs).
    if handoff.pending.strip():
        prewarm.pause_warm_up()
    prewarm.start_warm_up(prewarm.warm_steps(call_path=False))
    return serve_stdio(env, home, cwd, overrides, handoff.state, handoff.pending, handoff.eof)


def serve_stdio(
    env: os._Environ[str],
    home: Path,
    cwd: Path,
    overrides: list[tuple[list[str], Any]],
    state: Any,
    pending: bytes,
    eof: bool,
) -> int:
    """Serve stdin/stdout from where the handshake left off (`pending`: its unprocessed input)."""
    if eof and not pending.strip():
        return 0

    import anyio

    from codex_mcp import signals
    from codex_mcp.outgoing import Outgoing, StdioSink
    from codex_mcp.server import McpServer, ServerOptions
    from codex_mcp.stdio import FdReader, FdWriter

    options = ServerOptions(codex_home=home, cwd=cwd, cli_overrides=overrides, env=env, version=__version__)

    reader, writer = FdReader(sys.stdin.fileno()), FdWriter(sys.stdout.fileno())
    stopped_by: list[int] = []

    async def serve() -> int:
        server = McpServer(options, Outgoing(StdioSink(writer)), state)

        def stop(signum: int) -> None:
            stopped_by.append(signum)
            server.stop(f"the server received {signals.signal_name(signum)}")

        async with anyio.create_task_group() as group:
            group.start_soon(signals.watch, stop)
            code = await server.serve(reader, prefix=pending, prefix_eof=eof)
            group.cancel_scope.cancel()
        return signals.exit_code(stopped_by[0]) if stopped_by else code

    try:
        return anyio.run(serve, backend="asyncio")
    finally:
        # Reverse order: stdin and stdout may share one open file description (a terminal),
        # in which case the writer saw the reader's change as its "original" mode.
        writer.restore()
        reader.restore()


def serve_http(
    args: Options, env: os._Environ[str], home: Path, cwd: Path, overrides: list[tuple[list[str], Any]]
) -> int:
    """`--http`: check the HTTP options (refusing an unprotected non-loopback bind), then serve."""
    from codex_mcp.http.limits import HttpLimits, default_max_connections, fd_limit
    from codex_mcp.http.security import is_loopback_host, parse_allowed_origins, parse_listen_address
    from codex_mcp.http.server import HttpOptions, run_http
    from codex_mcp.server import ServerOptions

    assert args.http is not None
    try:
        host, port = parse_listen_address(args.http)
        origins = parse_allowed_origins(args.http_allowed_origins)
    except ValueError as exc:
        print(f"codex-mcp-server: --http: {exc}", file=sys.stderr)
        return 2
    token = args.http_token or env.get(HTTP_TOKEN_ENV) or None
    if args.http_token:
        from codex_mcp.http.cmdline import hide_from_cmdline

        hide_from_cmdline(args.http_token)  # other local users could read it in `ps`
    if not is_loopback_host(host) and token is None:
        print(
            f"codex-mcp-server: refusing to serve on non-loopback address {host!r} without a bearer token: "
            f"anyone who can reach it could run commands as you.  Set --http-token or ${HTTP_TOKEN_ENV}.",
            file=sys.stderr,
        )
        return 2
    idle = args.http_session_idle_timeout
    if idle is not None and not idle > 0:
        print("codex-mcp-server: --http-session-idle-timeout must be positive", file=sys.stderr)
        return 2
    counts = {
        "--http-max-connections": args.http_max_connections,
        "--http-max-connections-per-peer": args.http_max_connections_per_peer,
        "--http-max-body": args.http_max_body,
        "--http-max-sessions": args.http_max_sessions,
        "--http-max-sessions-per-client": args.http_max_sessions_per_client,
    }
    for flag, value in counts.items():
        if value is not None and value < 1:
            print(f"codex-mcp-server: {flag} must be at least 1", file=sys.stderr)
            return 2
    limits = HttpLimits(
        max_connections=args.http_max_connections or default_max_connections(fd_limit()),
        max_connections_per_peer=args.http_max_connections_per_peer,
    )
    limits.max_body = args.http_max_body or limits.max_body
    limits.max_sessions = args.http_max_sessions or limits.max_sessions
    limits.max_sessions_per_client = args.http_max_sessions_per_client or limits.max_sessions_per_client
    http = HttpOptions(
        host=host,
        port=port,
        token=token,
        allowed_origins=origins,
        port_file=Path(args.http_port_file) if args.http_port_file else None,
        limits=limits,
    )
    if idle is not None:
        http.idle_timeout = idle
    options = ServerOptions(codex_home=home, cwd=cwd, cli_overrides=overrides, env=env, version=__version__)
    return run_http(options, http)
