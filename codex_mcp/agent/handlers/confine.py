"""A session's boundary, its commands' environment, and running outside the sandbox safely.

Three things the shell and patch tools share:

* `session_boundary`: what the session's commands and the server's own patch writes may
  touch, computed from the session's configured cwd and policy only, never from the directory
  one command runs in.
* `command_env`: the environment a command gets: `[shell_environment_policy]` with its secret
  scrub, minus the variables that hold the model provider's credentials.
* `harden_unsandboxed`: when the person approved running a command *outside* the sandbox, the
  command must not pick up files the sandbox could have planted: PATH entries inside writable
  roots are dropped (a planted `wc` in `./bin` is not the `wc` the person approved), and a
  shell whose startup files (profile, rc files, `$BASH_ENV`) are writable by the sandbox runs
  without them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from codex_mcp.agent.apply_patch.fsops import resolve_real
from codex_mcp.agent.config.model import Config
from codex_mcp.sandbox.boundary import Boundary, NetworkAttacher, compute_boundary, is_within
from codex_mcp.sandbox.env_policy import build_command_env
from codex_mcp.sandbox.startup import StartupFilesRefused, without_startup_files

_STARTUP_NAMES = (".bash_profile", ".bash_login", ".profile", ".bashrc", ".bash_logout", ".zshenv",
                  ".zprofile", ".zshrc", ".zlogin", ".zlogout", ".kshrc", ".mkshrc")  # fmt: skip
_SYSTEM_STARTUP = ("/etc/profile", "/etc/profile.d", "/etc/bash.bashrc", "/etc/bashrc", "/etc/zsh",
                   "/etc/zshenv", "/etc/zprofile", "/etc/zshrc", "/etc/zlogin")  # fmt: skip


class UnsandboxedRefused(Exception):
    """The approved command cannot be run outside the sandbox without trusting planted files."""


def session_boundary(
    config: Config, env: Mapping[str, str], network: NetworkAttacher | None = None
) -> Boundary:
    """The session's boundary (raises `BoundaryError` when it cannot be kept).

    `network`: the thread's proxy (`HandlerContext.network`); with the network off, every
    command prepared from this boundary reaches hosts through it, and only through it.
    """
    boundary = compute_boundary(
        config.sandbox_policy,
        config.cwd,
        codex_home=config.codex_home,
        env=env,
        identities=config.root_identities,
    )
    if network is None or boundary.network or boundary.is_full_access:
        return boundary
    return replace(boundary, network_proxy=network)


def _provider_secret_vars(config: Config) -> set[str]:
    provider = config.model_provider
    names = {"OPENAI_API_KEY", "CODEX_API_KEY"}
    if provider.env_key:
        names.add(provider.env_key)
    names.update(provider.env_http_headers.values())
    return names


def command_env(config: Config, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a command of this session.

    The provider's credential variables are removed whatever the policy says (unless the
    person sets one explicitly in `shell_environment_policy.set`): the model must not be able
    to read the key it is being served with.
    """
    policy = config.shell_environment_policy
    env = build_command_env(policy, os.environ if base is None else base)
    for name in _provider_secret_vars(config):
        if name not in policy.set:
            env.pop(name, None)
    return env


@dataclass
class Hardened:
    """An approved command prepared to run without the sandbox; `notes` say what changed."""

    argv: list[str]
    env: dict[str, str]
    notes: list[str] = field(default_factory=list)


def _in_writable_root(boundary: Boundary, path: str) -> bool:
    try:
        real = resolve_real(path)
    except (OSError, ValueError):
        return True  # cannot tell: do not trust it
    return any(is_within(real, root) for root in boundary.writable_roots)


def harden_unsandboxed(argv: Sequence[str], env: Mapping[str, str], cwd: str, boundary: Boundary) -> Hardened:
    """Prepare an approved command to run outside the sandbox of `boundary`.

    Under danger-full-access there is no sandbox and nothing to distrust: unchanged.
    Raises `UnsandboxedRefused` when argv[0] is only found in a sandbox-writable PATH entry.
    """
    out = Hardened(list(argv), dict(env))
    if boundary.is_full_access or not argv:
        return out
    _filter_path(out, cwd, boundary)
    if "/" not in argv[0]:
        found = shutil.which(argv[0], path=out.env["PATH"])
        if found is None:
            raise UnsandboxedRefused(
                f"`{argv[0]}` was not found on PATH outside the directories the sandbox can write, "
                "so it is not run outside the sandbox"
            )
        out.argv[0] = found
    for var in ("BASH_ENV", "ENV"):
        value = out.env.get(var)
        if value and _in_writable_root(boundary, os.path.join(cwd, value)):
            del out.env[var]
            out.notes.append(f"${var} ({value}) is writable by the sandbox and was not passed on")
    if _startup_files_writable(out.env, boundary):
        try:
            out.argv, changed = without_startup_files(out.argv)
        except StartupFilesRefused as exc:
            raise UnsandboxedRefused(str(exc)) from None
        if changed:
            out.notes.append(
                "the shell runs without its profile and rc files: they lie where the sandbox can write, "
                "so they cannot be trusted outside it"
            )
    return out


def _filter_path(out: Hardened, cwd: str, boundary: Boundary) -> None:
    entries = out.env.get("PATH", os.defpath).split(os.pathsep)
    kept: list[str] = []
    dropped: list[str] = []
    for entry in entries:
        full = os.path.join(cwd, entry) if entry else cwd
        (dropped if _in_writable_root(boundary, full) else kept).append(entry)
    out.env["PATH"] = os.pathsep.join(kept)
    if dropped:
        out.notes.append(
            "PATH entries the sandbox can write were left out: " + ", ".join(e or "." for e in dropped)
        )


def _startup_files_writable(env: Mapping[str, str], boundary: Boundary) -> bool:
    homes = [h for h in (env.get("HOME") or os.path.expanduser("~"), env.get("ZDOTDIR")) if h]
    candidates: list[str] = list(_SYSTEM_STARTUP)
    for home in homes:
        candidates.append(home)
        candidates.extend(os.path.join(home, name) for name in _STARTUP_NAMES)
    return any(_in_writable_root(boundary, path) for path in candidates)
