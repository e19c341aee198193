"""`codex-mcp-server`: command line, logging, startup checks, then the stdio server.

Everything here runs before the first byte of JSON-RPC output, so a broken server-level
configuration is reported on stderr and the process exits non-zero instead of serving a
half-working server.  Imports are kept to the minimum the start path needs.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

from codex_mcp._version import __version__

LOG_ENV = "CODEX_MCP_LOG"
LOG_FILE_NAME = "codex-mcp.log"


def codex_home(env: dict[str, str] | os._Environ[str]) -> Path:
    value = env.get("CODEX_HOME")
    return Path(value).expanduser() if value else Path.home() / ".codex"


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="codex-mcp-server",
        description="Serve the Codex coding agent over MCP (stdio). Configuration: $CODEX_HOME/config.toml "
        "(default ~/.codex).",
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
    config: list[str] = field(default_factory=list)
    log_level: str | None = None
    log_file: bool = False


def parse_args(argv: list[str]) -> Options:
    # The usual invocation has no arguments; argparse costs ~10 ms of start-up, so it is only
    # loaded when there is something to parse.
    if not argv:
        return Options()
    ns = build_parser().parse_args(argv)
    return Options(config=ns.config, log_level=ns.log_level, log_file=ns.log_file)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = os.environ
    home = codex_home(env)
    cwd = Path.cwd()

    from codex_mcp.agent.config import ConfigError, parse_override

    try:
        overrides = [parse_override(text) for text in args.config]
        config = check_startup_config(home, overrides, cwd)
    except ConfigError as exc:
        print(f"codex-mcp-server: error in configuration: {exc}", file=sys.stderr)
        return 2
    rules_problem = check_rules(home)
    if rules_problem is not None:
        print(f"codex-mcp-server: error in rules: {rules_problem}", file=sys.stderr)
        return 2

    level = args.log_level or env.get(LOG_ENV) or "warning"
    want_file = args.log_file or config.server.log_file
    try:
        setup_logging(level, home / "log" / LOG_FILE_NAME if want_file else None)
    except (ValueError, OSError) as exc:
        print(f"codex-mcp-server: {exc}", file=sys.stderr)
        return 2

    from codex_mcp.handshake import ConnectionState, run_handshake

    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    state = ConnectionState(version=__version__)
    pending, eof = run_handshake(stdin, stdout, state)
    if eof and not pending.strip():
        return 0

    import anyio

    from codex_mcp.outgoing import Outgoing, StdioSink
    from codex_mcp.server import McpServer, ServerOptions
    from codex_mcp.stdio import FdReader, FdWriter

    options = ServerOptions(codex_home=home, cwd=cwd, cli_overrides=overrides, env=env, version=__version__)

    reader, writer = FdReader(stdin), FdWriter(stdout)

    async def serve() -> int:
        server = McpServer(options, Outgoing(StdioSink(writer)), state)
        return await server.serve(reader, prefix=pending, prefix_eof=eof)

    try:
        return anyio.run(serve, backend="asyncio")
    except KeyboardInterrupt:
        return 130
    finally:
        # Reverse order: stdin and stdout may share one open file description (a terminal),
        # in which case the writer saw the reader's change as its "original" mode.
        writer.restore()
        reader.restore()
