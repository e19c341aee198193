"""config.toml + profile + overrides -> one frozen `Config`.

I/O is limited to `load_config_tree` (reads and caches config.toml) and reading an
instructions file named by the config; everything else is a pure function of the raw tree,
the overrides and the environment mapping passed in.

Precedence, low -> high: config.toml < server `-c` < the tool's `config` object (both edit
the raw tree) < the selected profile's values (overlaid on the top-level keys) < typed tool
arguments.  So `-c model=x` loses to a profile's `model`, but `-c profiles.p.model=x` wins.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from codex_mcp.agent.config.checks import Reader
from codex_mcp.agent.config.model import (
    DEFAULT_MODEL,
    DEFAULT_PROJECT_DOC_MAX_BYTES,
    Config,
)
from codex_mcp.agent.config.overrides import (
    Override,
    apply_overrides,
    json_overrides,
    parse_key_path,
    parse_override,
)
from codex_mcp.agent.config.permissions import profile_policy
from codex_mcp.agent.config.providers import resolve_providers
from codex_mcp.agent.config.sections import (
    absolute_path,
    expand_home,
    mcp_servers,
    sandbox_policy,
    server_settings,
    shell_env_policy,
)
from codex_mcp.agent.families import family_overrides
from codex_mcp.errors import ConfigError
from codex_mcp.sandbox.policy import (
    APPROVAL_POLICIES,
    SANDBOX_MODES,
    ApprovalPolicy,
    SandboxMode,
)

__all__ = [
    "CallOverrides",
    "ConfigError",
    "config_file",
    "load_config",
    "load_config_tree",
    "resolve_config",
]

logger = logging.getLogger(__name__)

CONFIG_FILE_NAME = "config.toml"
APPROVAL_ALIASES = {"unless-trusted": "untrusted"}
REASONING_SUMMARIES = ("auto", "concise", "detailed", "none")
VERBOSITIES = ("low", "medium", "high")

# Top-level keys this loader reads; any other key is accepted and ignored.
USED_KEYS = frozenset(
    {
        "model", "model_provider", "model_providers", "approval_policy", "sandbox_mode",
        "sandbox_workspace_write", "shell_environment_policy", "model_reasoning_effort",
        "model_reasoning_summary", "model_verbosity", "model_supports_reasoning_summaries",
        "model_context_window", "model_max_output_tokens", "model_auto_compact_token_limit",
        "hide_agent_reasoning", "show_raw_agent_reasoning", "project_doc_max_bytes",
        "project_doc_fallback_filenames", "notify", "instructions", "experimental_instructions_file",
        "model_instructions_file", "developer_instructions", "compact_prompt", "profile", "profiles",
        "mcp_servers", "codex_mcp", "features", "web_search", "tools", "include_apply_patch_tool",
        "default_permissions", "permissions", "experimental_resume",
    }
)  # fmt: skip

# Keys of Codex's own config that only its terminal UI, login or desktop integration read:
# nothing to do for this server, and nothing to warn about.
INAPPLICABLE_KEYS = frozenset(
    {
        "tui", "file_opener", "notice", "history", "hide_full_access_warning", "projects",
        "preferred_auth_method", "forced_login_method", "forced_chatgpt_workspace_id",
        "windows_wsl_setup_acknowledged", "check_for_update_on_startup", "disable_paste_burst",
        "cli_auth_credentials_store", "mcp_oauth_credentials_store", "analytics", "feedback",
        "otel", "chatgpt_base_url", "sandbox_workspace_write", "windows",
    }
)  # fmt: skip


_logged: set[str] = set()


def unused_key_warnings(effective: Mapping[str, Any]) -> list[str]:
    """A warning for every top-level key this server neither reads nor knows to be
    irrelevant to it: a misspelt or unsupported setting is said out loud, not dropped."""
    unknown = sorted(k for k in effective if k not in USED_KEYS and k not in INAPPLICABLE_KEYS)
    return [
        f"config key `{key}` is not supported by codex-mcp and was ignored (misspelt, or a Codex "
        "setting this server does not implement)"
        for key in unknown
    ]


@dataclass(frozen=True)
class CallOverrides:
    """Typed arguments of one `codex` tool call; `None` means "not given"."""

    model: str | None = None
    cwd: str | Path | None = None
    approval_policy: str | None = None
    sandbox_mode: str | None = None
    base_instructions: str | None = None
    developer_instructions: str | None = None
    compact_prompt: str | None = None
    profile: str | None = None


_NO_CALL_OVERRIDES = CallOverrides()

# ---------------------------------------------------------------------------------------------
# Reading config.toml (the I/O edge)
# ---------------------------------------------------------------------------------------------

_FileKey = tuple[int, int, int]
_tree_cache: dict[Path, tuple[_FileKey, dict[str, Any]]] = {}
_text_cache: dict[Path, tuple[_FileKey, str]] = {}
_LOCATION_SUFFIX = re.compile(r"\s+at line \d+ col(?:umn)? \d+\s*$")


def config_file(codex_home: Path) -> Path:
    return Path(codex_home) / CONFIG_FILE_NAME


def _stat_key(path: Path) -> _FileKey | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise ConfigError(f"cannot read config file: {err.strerror or err}", file=path) from None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError("config file is not valid UTF-8", file=path, line=line) from None


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    import tomlkit
    from tomlkit.exceptions import ParseError

    try:
        document = tomlkit.parse(text)
        tree = document.unwrap()
    except ParseError as err:
        message = _LOCATION_SUFFIX.sub("", str(err)) or "syntax error"
        raise ConfigError(f"invalid TOML: {message}", file=path, line=err.line, column=err.col + 1) from None
    except Exception as err:  # tomlkit raises a few non-ParseError errors (duplicate keys, ...)
        raise ConfigError(f"invalid TOML: {err}", file=path) from None
    return tree


def load_config_tree(codex_home: Path) -> dict[str, Any]:
    """The plain-Python tree of `$CODEX_HOME/config.toml` (`{}` when there is no file).

    Cached by (mtime_ns, size, inode): a per-call reload costs one `stat`.  The returned
    dict is shared with the cache, so callers must not modify it (`apply_overrides` and
    `resolve_config` never do).
    """
    path = config_file(codex_home)
    key = _stat_key(path)
    if key is None:
        _tree_cache.pop(path, None)
        return {}
    hit = _tree_cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"cannot read config file: {err.strerror or err}", file=path) from None
    text = _decode(data, path)
    tree = _parse_toml(text, path)
    _tree_cache[path] = (key, tree)
    _text_cache[path] = (key, text)
    return tree


def _config_text(path: Path) -> str | None:
    """The text of config.toml, for locating a key's line in an error message."""
    try:
        key = _stat_key(path)
    except ConfigError:
        return None
    if key is None:
        return None
    hit = _text_cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None


_instructions_cache: dict[Path, tuple[_FileKey, str]] = {}


def _read_instructions(
    reader: Reader, key_path: list[str], raw: str, codex_home: Path, env: Mapping[str, str]
) -> str:
    path = expand_home(raw, env)
    if not path.is_absolute():
        path = codex_home / path
    try:
        file_key = _stat_key(path)
    except ConfigError as err:
        reader.fail(key_path, "cannot read the `{key}` file {file}: {why}", file=path, why=err.detail)
    if file_key is None:
        reader.fail(key_path, "cannot read the `{key}` file {file}: no such file", file=path)
    hit = _instructions_cache.get(path)
    if hit is not None and hit[0] == file_key:
        return hit[1]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = getattr(err, "strerror", None) or err
        reader.fail(key_path, "cannot read the `{key}` file {file}: {why}", file=path, why=why)
    if not text.strip():
        reader.fail(key_path, "the `{key}` file {file} is empty", file=path)
    _instructions_cache[path] = (file_key, text)
    return text


# ---------------------------------------------------------------------------------------------
# Resolution (pure apart from an instructions file)
# ---------------------------------------------------------------------------------------------


def _normalize_cli(items: Iterable[str | Override | tuple[Sequence[str], Any]]) -> list[Override]:
    result: list[Override] = []
    for item in items:
        if isinstance(item, str):
            try:
                result.append(parse_override(item))
            except ConfigError as err:
                raise ConfigError(err.detail, key=err.key, origin="cli") from None
        else:
            path, value = item
            result.append((parse_key_path(path) if isinstance(path, str) else list(path), value))
    return result


def _overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `top` over `base` (tables merge, everything else is replaced)."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = _overlay(below, value)
        else:
            merged[key] = value
    return merged


def _select_profile(reader: Reader, raw: Mapping[str, Any], typed: CallOverrides) -> tuple[str | None, Any]:
    if typed.profile:
        name: Any = typed.profile
        typed_origin = True
    else:
        name = raw.get("profile")
        typed_origin = False
        if name is None:
            return None, None
        if not isinstance(name, str):
            reader.type_error(["profile"], "a string", name)
    profiles = reader.table(["profiles"]) or {}
    if name not in profiles:
        known = ", ".join(f"`{p}`" for p in sorted(profiles)) or "none are defined"
        reader.fail(
            ["profile"],
            "config profile `{name}` not found (known profiles: {known})",
            name=name,
            known=known,
            origin="typed" if typed_origin else None,
        )
    table = profiles[name]
    if not isinstance(table, Mapping):
        reader.type_error(["profiles", name], "a table", table)
    return name, table


def resolve_config(
    tree: Mapping[str, Any],
    *,
    codex_home: Path,
    cwd: Path,
    cli_overrides: Iterable[str | Override | tuple[Sequence[str], Any]] = (),
    call_overrides_json: Mapping[str, Any] | None = None,
    typed: CallOverrides | None = None,
    env: Mapping[str, str],
) -> Config:
    """Build the `Config` of one thread.  Raises `ConfigError` for any invalid value.

    `cli_overrides` items are `-c` strings or already-parsed `(path, value)` pairs;
    `call_overrides_json` is the tool's `config` object; `typed` the typed tool arguments.
    """
    codex_home = Path(codex_home)
    typed = typed or _NO_CALL_OVERRIDES
    cli = _normalize_cli(cli_overrides)
    call = json_overrides(call_overrides_json) if call_overrides_json else []
    raw: Mapping[str, Any] = tree
    if cli:
        raw = apply_overrides(raw, cli)
    if call:
        raw = apply_overrides(raw, call)
    reader = Reader(
        raw,
        config_file=config_file(codex_home),
        cli_paths=[p for p, _ in cli],
        call_paths=[p for p, _ in call],
        read_text=_config_text,
    )
    profile, profile_table = _select_profile(reader, raw, typed)
    if profile is not None:
        reader.effective = _overlay(raw, profile_table)
        reader.profile, reader.profile_table = profile, profile_table
    return _build(reader, typed, codex_home=codex_home, cwd=cwd, env=env, profile=profile)


def _build(
    r: Reader,
    typed: CallOverrides,
    *,
    codex_home: Path,
    cwd: Path,
    env: Mapping[str, str],
    profile: str | None,
) -> Config:
    base_cwd = absolute_path(cwd, Path.cwd(), env) if not Path(cwd).is_absolute() else Path(cwd)
    if typed.cwd is not None and str(typed.cwd) != "":
        resolved_cwd = absolute_path(typed.cwd, base_cwd, env)
    else:
        resolved_cwd = base_cwd

    model: str = typed.model if typed.model else r.string(["model"], DEFAULT_MODEL)

    providers = resolve_providers(r, env)
    provider_id = r.string(["model_provider"], "openai")
    if provider_id not in providers:
        known = ", ".join(f"`{p}`" for p in sorted(providers))
        r.fail(
            ["model_provider"],
            "unknown model provider `{name}` for `{key}`, expected one of {known}",
            name=provider_id,
            known=known,
        )

    if typed.approval_policy is not None:
        approval = r.check_enum(
            ["approval_policy"],
            typed.approval_policy,
            APPROVAL_POLICIES,
            aliases=APPROVAL_ALIASES,
            origin="typed",
        )
    else:
        approval = r.enum(["approval_policy"], APPROVAL_POLICIES, "on-request", aliases=APPROVAL_ALIASES)

    if typed.sandbox_mode is not None:
        mode = r.check_enum(["sandbox_mode"], typed.sandbox_mode, SANDBOX_MODES, origin="typed")
    else:
        mode = r.enum(["sandbox_mode"], SANDBOX_MODES, "read-only")
    sandbox = sandbox_policy(r, cast(SandboxMode, mode), resolved_cwd, env)
    warnings: list[str] = []
    if typed.sandbox_mode is None and r.string(["sandbox_mode"], None) is None:
        profile_sandbox = profile_policy(r, resolved_cwd)
        if profile_sandbox is not None:
            sandbox = profile_sandbox
    elif r.string(["default_permissions"], None) is not None:
        warnings.append(
            "`default_permissions` was ignored: `sandbox_mode` (or the `sandbox` argument) is "
            "set, and the older sandbox settings win, as in Codex"
        )

    if typed.base_instructions is not None:
        base_instructions: str | None = typed.base_instructions
    else:
        base_instructions = None
        for key in ("model_instructions_file", "experimental_instructions_file"):
            file_name = r.string([key], None)
            if file_name is not None:
                base_instructions = _read_instructions(r, [key], file_name, codex_home, env)
                break

    notify = r.string_list(["notify"])
    overrides, override_warnings = family_overrides(r.effective)
    warnings += override_warnings + unused_key_warnings(r.effective)
    for warning in warnings:
        if warning not in _logged:  # each config is resolved per call: say it once
            _logged.add(warning)
            logger.warning("%s", warning)
    resume = r.string(["experimental_resume"], None)
    return Config(
        codex_home=codex_home,
        cwd=resolved_cwd,
        model=model,
        model_provider_id=provider_id,
        model_provider=providers[provider_id],
        approval_policy=cast(ApprovalPolicy, approval),
        sandbox_policy=sandbox,
        shell_environment_policy=shell_env_policy(r),
        model_reasoning_effort=r.string(["model_reasoning_effort"], None),
        model_reasoning_summary=r.enum(["model_reasoning_summary"], REASONING_SUMMARIES, "auto"),
        model_verbosity=r.enum(["model_verbosity"], VERBOSITIES, None),
        model_supports_reasoning_summaries=r.boolean(["model_supports_reasoning_summaries"], None),
        model_context_window=r.integer(["model_context_window"], None),
        model_max_output_tokens=r.integer(["model_max_output_tokens"], None),
        model_auto_compact_token_limit=r.integer(["model_auto_compact_token_limit"], None, minimum=None),
        hide_agent_reasoning=r.boolean(["hide_agent_reasoning"], False),
        show_raw_agent_reasoning=r.boolean(["show_raw_agent_reasoning"], False),
        project_doc_max_bytes=r.integer(["project_doc_max_bytes"], DEFAULT_PROJECT_DOC_MAX_BYTES),
        project_doc_fallback_filenames=r.string_list(["project_doc_fallback_filenames"]) or (),
        notify=notify,
        user_instructions=r.string(["instructions"], None),
        base_instructions=base_instructions,
        developer_instructions=(
            typed.developer_instructions
            if typed.developer_instructions is not None
            else r.string(["developer_instructions"], None)
        ),
        compact_prompt=(
            typed.compact_prompt if typed.compact_prompt is not None else r.string(["compact_prompt"], None)
        ),
        profile=profile,
        mcp_servers=mcp_servers(r),
        server=server_settings(r),
        family_overrides=overrides,
        config_warnings=tuple(warnings),
        experimental_resume=Path(resume) if resume else None,
    )


def load_config(
    codex_home: Path,
    *,
    cwd: Path,
    cli_overrides: Iterable[str | Override | tuple[Sequence[str], Any]] = (),
    call_config: Mapping[str, Any] | None = None,
    typed: CallOverrides | None = None,
    env: Mapping[str, str] = os.environ,
) -> Config:
    """`load_config_tree` + `resolve_config` in one call."""
    return resolve_config(
        load_config_tree(codex_home),
        codex_home=codex_home,
        cwd=cwd,
        cli_overrides=cli_overrides,
        call_overrides_json=call_config,
        typed=typed,
        env=env,
    )
