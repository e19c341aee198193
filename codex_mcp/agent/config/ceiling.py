"""The person's configuration as the ceiling for what one tool call may change.

The arguments of a `codex` call are chosen by a calling model, which a prompt injection can
steer, so they are treated like any other untrusted input.  What a call may change:

* **the sandbox**, up to `[codex_mcp] max_call_sandbox` (default `workspace-write`) or the
  sandbox the person configured as the default, whichever is wider.  This bounds the
  `sandbox` argument, `sandbox_mode` in the call's `config`, a profile the call selects and a
  client's pushed sandbox state alike;
* **any approval policy**: every policy keeps commands inside the sandbox unless a human
  approves, and `never` approves nothing;
* **a short list of `config` keys** that only choose model behaviour or text
  (`DEFAULT_CALL_KEYS`), plus the ones the person lists in `[codex_mcp] call_config_keys`
  (`["*"]` for all).  Everything else is refused: keys that run programs (`notify`,
  `mcp_servers`), decide where requests and credentials go (`model_provider`,
  `model_providers`, base URLs, `env_key`), what secrets commands see
  (`shell_environment_policy`), what the sandbox may write (`writable_roots`, network), which
  files are read (`model_instructions_file`), profile contents, and this server's settings;
* **the working directory**, unless it would make a place writable that no project lives
  in: `/`, a directory containing the home directory, a hidden directory of the home
  (`~/.ssh`, `~/.config`, `~/.local/bin`...), a system directory, or the server's own
  installation (its package, its Python's prefixes and library directories, its import
  path), whose code the server runs unsandboxed (`sensitive_root_reason`).

The two settings are read from config.toml and the server's `-c` only, never from a call.
A refused override is a `CallRefused` naming the key and the setting that would allow it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from codex_mcp.agent.config.checks import display_key
from codex_mcp.agent.config.code_dirs import first_component_below, inside, installation_dirs
from codex_mcp.agent.config.overrides import json_overrides
from codex_mcp.errors import CallRefused as CallRefused
from codex_mcp.sandbox.policy import ApprovalPolicy, SandboxMode, SandboxPolicy

MAX_CALL_SANDBOX = ("codex_mcp", "max_call_sandbox")
CALL_CONFIG_KEYS = ("codex_mcp", "call_config_keys")
DEFAULT_MAX_CALL_SANDBOX: SandboxMode = "workspace-write"

SANDBOX_RANK: dict[str, int] = {"read-only": 0, "workspace-write": 1, "danger-full-access": 2}

#: `config` keys any call may set: model choice and behaviour, approval, text.  `sandbox_mode`
#: and `profile` are allowed as keys; the sandbox they lead to is bounded separately.
DEFAULT_CALL_KEYS: tuple[str, ...] = (
    "model",
    "review_model",
    "model_reasoning_effort",
    "model_reasoning_summary",
    "model_verbosity",
    "model_supports_reasoning_summaries",
    "model_context_window",
    "model_max_output_tokens",
    "model_auto_compact_token_limit",
    "hide_agent_reasoning",
    "show_raw_agent_reasoning",
    "approval_policy",
    "sandbox_mode",
    "profile",
    "instructions",
    "developer_instructions",
    "compact_prompt",
)

#: Keys a call may set only to the value that narrows the sandbox.
NARROWING_VALUES: dict[tuple[str, ...], object] = {
    ("sandbox_workspace_write", "network_access"): False,
    ("sandbox_workspace_write", "exclude_slash_tmp"): True,
    ("sandbox_workspace_write", "exclude_tmpdir_env_var"): True,
}

#: Why a refused key is dangerous, by its first segment (for the error message).
_WHY: dict[str, str] = {
    "notify": "it runs a program on the server",
    "mcp_servers": "it starts programs or connects to servers",
    "model_provider": "it decides where requests and the API key go",
    "model_providers": "it decides where requests and the API key go",
    "chatgpt_base_url": "it decides where requests and credentials go",
    "shell_environment_policy": "it decides which secrets commands see",
    "sandbox_workspace_write": "it widens what the sandbox lets commands write or reach",
    "model_instructions_file": "it reads a file and sends it to the model provider",
    "experimental_instructions_file": "it reads a file and sends it to the model provider",
    "project_doc_fallback_filenames": "it chooses which files are read and sent to the model provider",
    "profiles": "it defines what a profile sets",
    "web_search": "it decides whether the model may search the live web",
    "features": "it changes which tools the model is offered",
    "tools": "it changes which tools the model is offered",
    "codex_mcp": "it changes this server's own settings",
    "projects": "it changes which projects are trusted",
    "experimental_resume": "it resumes another session's history from a file",
    "default_permissions": "it decides what the sandbox lets commands do",
    "permissions": "it decides what the sandbox lets commands do",
}

#: Directories no call may make writable: the system's own trees.  (`/` and the home
#: directories are handled separately.)
SYSTEM_DIRS: tuple[str, ...] = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib",
    "/var/spool",
    "/var/log",
    "/var/mail",
    "/var/cache",
)


@dataclass(frozen=True)
class CallCeiling:
    """The limits of one server, from config.toml and its `-c` only.

    `limit` is the widest sandbox a call may choose: `max_call_sandbox`, or the person's own
    default sandbox when that is wider (a call asking for the default gains nothing).
    """

    max_call_sandbox: SandboxMode = DEFAULT_MAX_CALL_SANDBOX
    default_sandbox: SandboxMode = "read-only"
    call_config_keys: tuple[tuple[str, ...], ...] = ()
    allow_all_keys: bool = False

    @property
    def limit(self) -> SandboxMode:
        if SANDBOX_RANK[self.default_sandbox] > SANDBOX_RANK[self.max_call_sandbox]:
            return self.default_sandbox
        return self.max_call_sandbox

    @property
    def unbounded(self) -> bool:
        """A call may choose full access anyway: path rules would protect nothing."""
        return self.limit == "danger-full-access"


# --- config keys ----------------------------------------------------------------------------


def _matches(pattern: Sequence[str], path: Sequence[str]) -> bool:
    """`pattern` (segments, `*` matching any one) is a prefix of `path`."""
    if len(pattern) > len(path):
        return False
    return all(p == "*" or p == s for p, s in zip(pattern, path, strict=False))


def _overlaps(a: Sequence[str], b: Sequence[str]) -> bool:
    n = min(len(a), len(b))
    return list(a[:n]) == list(b[:n])


_DEFAULT_PATTERNS: tuple[tuple[str, ...], ...] = tuple((key,) for key in DEFAULT_CALL_KEYS)


def _key_allowed(path: list[str], value: Any, ceiling: CallCeiling) -> bool:
    if ceiling.allow_all_keys:
        return True
    if any(_matches(p, path) for p in _DEFAULT_PATTERNS):
        return True
    if any(_matches(p, path) for p in ceiling.call_config_keys):
        return True
    narrowing = NARROWING_VALUES.get(tuple(path), _MISSING)
    return narrowing is not _MISSING and type(value) is type(narrowing) and value == narrowing


_MISSING = object()


def check_call_config(call_config: Mapping[str, Any] | None, ceiling: CallCeiling) -> None:
    """Raise `CallRefused` for the first key of a call's `config` the ceiling does not allow.

    Keys are checked after parsing, segment by segment, so spelling variants (quoted
    segments, spaces around dots, a nested object instead of a dotted key) are the same key.
    A nested object replaces the whole table at its key, so it is allowed only where the
    whole table is.
    """
    if not call_config:
        return
    for path, value in json_overrides(call_config):
        key = display_key(path)
        if _overlaps(path, MAX_CALL_SANDBOX) or _overlaps(path, CALL_CONFIG_KEYS):
            raise CallRefused(
                f"The call's `config` may not set `{key}`: `[codex_mcp] max_call_sandbox` and "
                "`call_config_keys` are the limits of what a call may change, so only config.toml "
                "or the server's `-c` can set them.",
                key=key,
                setting="config.toml",
            )
        if _key_allowed(path, value, ceiling):
            continue
        why = _WHY.get(path[0], "it is not one of the settings a call may change")
        if tuple(path) in NARROWING_VALUES:
            why = f"only `{key} = {_toml(NARROWING_VALUES[tuple(path)])}` (narrowing the sandbox) is allowed"
        raise CallRefused(
            f"The call's `config` may not set `{key}`: {why}. To let calls set it, add it to "
            f"`[codex_mcp] call_config_keys` in config.toml (for example "
            f'`call_config_keys = ["{key}"]`; `["*"]` allows every key).',
            key=key,
            setting="codex_mcp.call_config_keys",
        )


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# --- the sandbox ----------------------------------------------------------------------------


def check_sandbox(mode: str, ceiling: CallCeiling, *, source: str, key: str) -> None:
    """Raise `CallRefused` when `mode` (asked for by `source`) is wider than the ceiling."""
    if SANDBOX_RANK.get(mode, 0) <= SANDBOX_RANK[ceiling.limit]:
        return
    raise CallRefused(
        f"{source} asks for the `{mode}` sandbox, but this server lets a call choose at most "
        f"`{ceiling.limit}` (config.toml sets `[codex_mcp] max_call_sandbox` to "
        f"`{ceiling.max_call_sandbox}` and the default sandbox to `{ceiling.default_sandbox}`). "
        f'To allow it, set `max_call_sandbox = "{mode}"` in the `[codex_mcp]` table of '
        f"config.toml (or start the server with `-c codex_mcp.max_call_sandbox={mode}`).",
        key=key,
        setting="codex_mcp.max_call_sandbox",
    )


def _homes(env: Mapping[str, str]) -> list[str]:
    """The home directories to protect: `$HOME` and the account's home from the passwd file,
    and, for a server running as root (which every home is writable to), the homes of the
    local accounts of people (uid 0 or >= 1000)."""
    homes: list[str] = []
    candidates = [env.get("HOME") or ""]
    try:
        import pwd

        candidates.append(pwd.getpwuid(os.geteuid()).pw_dir)
    except (ImportError, KeyError, OSError):
        pass
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        candidates.extend(_local_homes())
    for raw in candidates:
        if raw and os.path.isabs(raw):
            real = os.path.realpath(raw)
            if real != "/" and real not in homes:
                homes.append(real)
    return homes


PASSWD = "/etc/passwd"
_PASSWD_LIMIT = 4 * 1024 * 1024
_passwd_cache: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {}


def _local_homes() -> tuple[str, ...]:
    """Home directories of people's accounts in the local passwd file (read bounded, cached
    by mtime; directory services are not enumerated: that could be slow or unbounded)."""
    from codex_mcp.bounded_read import read_regular_file

    try:
        st = os.stat(PASSWD)
        key = (st.st_mtime_ns, st.st_size)
        hit = _passwd_cache.get(PASSWD)
        if hit is not None and hit[0] == key:
            return hit[1]
        data = read_regular_file(PASSWD, limit=_PASSWD_LIMIT, truncate=True)
    except OSError:
        return ()
    homes: list[str] = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) < 7 or not fields[2].isdigit():
            continue
        uid, home = int(fields[2]), fields[5]
        if (uid == 0 or 1000 <= uid < 65534) and os.path.isabs(home) and home != "/":
            homes.append(home)
    _passwd_cache[PASSWD] = (key, tuple(homes))
    return tuple(homes)


def _within(path: str, root: str) -> bool:
    if root == "/":
        return True
    return path == root or path.startswith(root.rstrip("/") + "/")


def sensitive_root_reason(
    path: str | os.PathLike[str], env: Mapping[str, str], programs: Sequence[str] = ()
) -> str | None:
    """Why `path` must not become a writable root chosen by a call, or None if it may.

    Judged on the resolved path, so a symlink or `..` cannot disguise `/` or the home.
    `programs` are directories of programs the person's configuration has the server run
    outside the sandbox (`code_dirs.unsandboxed_program_dirs`).
    """
    real = os.path.realpath(os.fspath(path))
    if real == "/":
        return "it is the root of the filesystem"
    for home in _homes(env):
        if inside(home, real):
            return f"it contains the home directory {home}"
        if inside(real, home) and not inside(home, real):
            first = first_component_below(real, home)
            if first.startswith("."):
                return (
                    f"it lies in {os.path.join(home, first)}, where programs keep their "
                    "configuration, keys and start-up files"
                )
    for system in SYSTEM_DIRS:
        if inside(real, system) or inside(system, real):
            return f"it {'is' if real == system else 'touches'} the system directory {system}"
    for code in [*installation_dirs(env), *programs]:
        if inside(real, code) or inside(code, real):
            return (
                f"it {'lies in' if inside(real, code) else 'contains'} {code}, where the code this "
                "server runs comes from"
            )
    return None


def check_writable_root(
    path: str | os.PathLike[str],
    ceiling: CallCeiling,
    env: Mapping[str, str],
    *,
    what: str,
    key: str,
    programs: Sequence[str] = (),
) -> None:
    """Raise `CallRefused` when a call-chosen writable root (`what`) would expose too much."""
    if ceiling.unbounded:
        return
    reason = sensitive_root_reason(path, env, programs)
    if reason is None:
        return
    raise CallRefused(
        f"{what} `{os.fspath(path)}` would be writable by the sandbox under workspace-write, but "
        f"{reason}. Use a project directory, or the read-only sandbox; a server that lets calls "
        'choose any directory sets `max_call_sandbox = "danger-full-access"` in the `[codex_mcp]` '
        "table of config.toml.",
        key=key,
        setting="codex_mcp.max_call_sandbox",
    )


# --- resuming: a record may only tighten -------------------------------------------------------

#: How much each approval policy lets happen without a person: `untrusted` runs only
#: known-safe commands unasked; `never` runs everything in the sandbox but can never leave
#: it; `on-request` and `on-failure` run everything in the sandbox and may leave it with a
#: person's yes.
APPROVAL_STRICTNESS: dict[str, int] = {"untrusted": 3, "never": 2, "on-failure": 1, "on-request": 1}


def stricter_approval(current: ApprovalPolicy, recorded: object) -> ApprovalPolicy:
    """`recorded` if it is a known policy strictly stricter than `current`, else `current`."""
    if (
        isinstance(recorded, str)
        and recorded in APPROVAL_STRICTNESS
        and APPROVAL_STRICTNESS[recorded] > APPROVAL_STRICTNESS[current]
    ):
        return recorded  # type: ignore[return-value]
    return current


def stricter_sandbox(current: SandboxPolicy, recorded: SandboxPolicy | None) -> SandboxPolicy:
    """The current policy, narrowed by a recorded one; never widened by it.

    A narrower recorded mode wins (as a plain policy of that mode); at the same mode, the
    recorded network and temp-directory choices may only narrow.  Recorded writable roots
    are never used: only the person's configuration adds roots.
    """
    if recorded is None:
        return current
    if SANDBOX_RANK[recorded.mode] < SANDBOX_RANK[current.mode]:
        if recorded.mode == "read-only":
            return SandboxPolicy(mode="read-only", readable_roots=current.readable_roots)
        return SandboxPolicy(
            mode="workspace-write",
            network_access=recorded.network_access,
            exclude_tmpdir_env_var=recorded.exclude_tmpdir_env_var,
            exclude_slash_tmp=recorded.exclude_slash_tmp,
            readable_roots=current.readable_roots,
        )
    if recorded.mode == current.mode == "workspace-write":
        from dataclasses import replace

        return replace(
            current,
            network_access=current.network_access and recorded.network_access,
            exclude_tmpdir_env_var=current.exclude_tmpdir_env_var or recorded.exclude_tmpdir_env_var,
            exclude_slash_tmp=current.exclude_slash_tmp or recorded.exclude_slash_tmp,
        )
    return current
