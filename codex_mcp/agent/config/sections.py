"""Readers for the table-shaped sections: sandbox, shell environment, MCP servers, `[codex_mcp]`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from codex_mcp.agent.config.checks import Reader
from codex_mcp.agent.config.model import (
    DEFAULT_ELICITATION_TIMEOUT_SEC,
    DEFAULT_EXEC_SERVER_MAX_PROCESSES,
    DEFAULT_EXEC_SESSION_MAX_LIFETIME_SEC,
    DEFAULT_TURN_TIMEOUT_SEC,
    DeltaEvents,
    EnvInherit,
    EventStream,
    ServerSettings,
    ShellEnvironmentPolicy,
)
from codex_mcp.agent.config.overrides import parse_key_path
from codex_mcp.errors import ConfigError
from codex_mcp.sandbox.netproxy import PROXY_MODES, ProxyMode, ProxySettings, check_settings
from codex_mcp.sandbox.policy import SANDBOX_MODES, SandboxMode, SandboxPolicy

ENV_INHERITS = ("all", "core", "none")
EVENT_STREAMS = ("full", "minimal", "off")
DELTA_EVENTS = ("content", "legacy", "both")


def expand_home(raw: str | Path, env: Mapping[str, str]) -> Path:
    text = str(raw)
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME") or str(Path.home())
        text = home + text[1:]
    return Path(text)


def absolute_path(raw: str | Path, base: Path, env: Mapping[str, str]) -> Path:
    path = expand_home(raw, env)
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def sandbox_policy(r: Reader, mode: SandboxMode, cwd: Path, env: Mapping[str, str]) -> SandboxPolicy:
    table = ["sandbox_workspace_write"]
    r.table(table)
    roots = r.string_list([*table, "writable_roots"]) or ()
    network = r.boolean([*table, "network_access"], False)
    no_tmpdir = r.boolean([*table, "exclude_tmpdir_env_var"], False)
    no_slash_tmp = r.boolean([*table, "exclude_slash_tmp"], False)
    if mode != "workspace-write":
        return SandboxPolicy(mode=mode)
    return SandboxPolicy(
        mode=mode,
        writable_roots=tuple(str(absolute_path(root, cwd, env)) for root in roots),
        network_access=network,
        exclude_tmpdir_env_var=no_tmpdir,
        exclude_slash_tmp=no_slash_tmp,
    )


def shell_env_policy(r: Reader) -> ShellEnvironmentPolicy:
    table = ["shell_environment_policy"]
    if r.table(table) is None:
        return ShellEnvironmentPolicy()
    r.boolean([*table, "experimental_use_profile"], False)  # accepted, not used
    return ShellEnvironmentPolicy(
        inherit=cast(EnvInherit, r.enum([*table, "inherit"], ENV_INHERITS, "all")),
        ignore_default_excludes=r.boolean([*table, "ignore_default_excludes"], False),
        exclude=r.string_list([*table, "exclude"]) or (),
        set=r.string_map([*table, "set"]) or {},
        include_only=r.string_list([*table, "include_only"]) or (),
    )


def mcp_servers(r: Reader) -> dict[str, dict[str, Any]]:
    servers = r.table(["mcp_servers"])
    if not servers:
        return {}
    for name in servers:
        r.table(["mcp_servers", name])
    return {name: dict(entry) for name, entry in servers.items()}


def server_settings(r: Reader) -> ServerSettings:
    table = ["codex_mcp"]
    if r.table(table) is None:
        return ServerSettings()
    timeout = r.number([*table, "elicitation_timeout_sec"], DEFAULT_ELICITATION_TIMEOUT_SEC)
    if not timeout > 0 or timeout != timeout or timeout == float("inf"):
        r.fail(
            [*table, "elicitation_timeout_sec"],
            "invalid value for `{key}`: expected a positive number, got {value}",
            value=timeout,
        )
    keys, all_keys = call_config_keys(r)
    turn_timeout = r.number([*table, "turn_timeout_sec"], DEFAULT_TURN_TIMEOUT_SEC)
    if not 0 < turn_timeout < float("inf"):
        r.fail(
            [*table, "turn_timeout_sec"],
            "invalid value for `{key}`: expected a positive number, got {value}",
            value=turn_timeout,
        )
    lifetime_key = [*table, "exec_session_max_lifetime_sec"]
    lifetime = r.number(lifetime_key, DEFAULT_EXEC_SESSION_MAX_LIFETIME_SEC)
    if not 0 < lifetime < float("inf"):
        r.fail(
            lifetime_key, "invalid value for `{key}`: expected a positive number, got {value}", value=lifetime
        )
    max_processes = r.integer(
        [*table, "exec_server_max_processes"], DEFAULT_EXEC_SERVER_MAX_PROCESSES, minimum=1
    )
    return ServerSettings(
        turn_timeout_sec=turn_timeout,
        exec_session_max_lifetime_sec=lifetime,
        exec_server_max_processes=max_processes,
        elicitation_timeout_sec=timeout,
        log_file=r.boolean([*table, "log_file"], False),
        event_stream=cast(EventStream, r.enum([*table, "event_stream"], EVENT_STREAMS, "full")),
        max_call_sandbox=cast(
            SandboxMode, r.enum([*table, "max_call_sandbox"], SANDBOX_MODES, "workspace-write")
        ),
        call_config_keys=keys,
        call_config_keys_all=all_keys,
        delta_events=cast(DeltaEvents, r.enum([*table, "delta_events"], DELTA_EVENTS, "content")),
        originator=r.string([*table, "originator"], None),
    )


def call_config_keys(r: Reader) -> tuple[tuple[tuple[str, ...], ...], bool]:
    """`[codex_mcp] call_config_keys`: dotted keys (a `*` segment matches any one segment),
    and whether `"*"` alone allows every key."""
    path = ["codex_mcp", "call_config_keys"]
    raw = r.string_list(path) or ()
    keys: list[tuple[str, ...]] = []
    for entry in raw:
        if entry.strip() == "*":
            return (), True
        try:
            keys.append(tuple(parse_key_path(entry)))
        except ConfigError as err:
            r.fail(path, "invalid entry {entry!r} in `{key}`: {why}", entry=entry, why=err.detail)
    return tuple(keys), False


def network_proxy(r: Reader) -> ProxySettings:
    """`[network_proxy]`: network access for sandboxed commands through the server's proxy,
    host by host (see `docs/security.md`).  Every pattern, address and server is checked
    here, so a typo is an error at start-up rather than a host silently allowed or refused."""
    table = ["network_proxy"]
    if r.table(table) is None:
        return ProxySettings()
    from codex_mcp.sandbox.netproxy.rules import PatternError, parse_hosts

    hosts = r.table([*table, "hosts"]) or {}
    try:
        fixed = parse_hosts(hosts)
    except PatternError as exc:
        r.fail([*table, "hosts"], "invalid value for `{key}`: {problem}", problem=str(exc))
    numbers = {}
    for name, default in (("idle_timeout_sec", 300.0), ("connect_timeout_sec", 15.0)):
        value = r.number([*table, name], default)
        if not 0 < value < float("inf"):
            r.fail([*table, name], "invalid value for `{key}`: expected a positive number, got {value}",
                   value=value)  # fmt: skip
        numbers[name] = value
    settings = ProxySettings(
        mode=cast(ProxyMode, r.enum([*table, "mode"], PROXY_MODES, "off")),
        allow=r.string_list([*table, "allow"]) or (),
        deny=r.string_list([*table, "deny"]) or (),
        allow_local=r.string_list([*table, "allow_local"]) or (),
        hosts=fixed,
        dns_servers=r.string_list([*table, "dns_servers"]) or (),
        max_connections=r.integer([*table, "max_connections"], 64, minimum=1),
        idle_timeout_sec=numbers["idle_timeout_sec"],
        connect_timeout_sec=numbers["connect_timeout_sec"],
        max_questions_per_command=r.integer([*table, "max_questions_per_command"], 16, minimum=0),
    )
    problems = check_settings(settings)
    if problems:
        r.fail(table, "invalid value for `{key}`: {problems}", problems="; ".join(problems))
    return settings
