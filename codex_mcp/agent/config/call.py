"""Where a thread's config comes from: the person's settings, a tool call, or a rollout.

`ConfigSource` is the person's side: their CODEX_HOME, the directory the agent was started
in, the server's `-c` overrides and the environment.  `load_config` builds whatever its inputs
say; this module is where the inputs of a call (arguments, a client's pushed sandbox state,
a rollout's record) are checked first against `ceiling.CallCeiling`, built from config.toml
and the server's `-c` alone.  Every config built for a call or a resume is built here.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codex_mcp.agent.config.ceiling import (
    CallCeiling,
    check_call_config,
    check_sandbox,
    check_writable_root,
    stricter_approval,
    stricter_sandbox,
)
from codex_mcp.agent.config.code_dirs import unsandboxed_program_dirs
from codex_mcp.agent.config.loader import CallOverrides, load_config_tree, resolve_config
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.config.overrides import Override
from codex_mcp.sandbox.boundary import root_identities
from codex_mcp.sandbox.policy import (
    SandboxPolicy,
    SandboxPolicyError,
    parse_sandbox_policy_json,
    with_writes_readable,
)

CliOverrides = Iterable[str | Override | tuple[Sequence[str], Any]]


def default_codex_home(env: Mapping[str, str] = os.environ) -> Path:
    """`$CODEX_HOME`, else `~/.codex` (the directory Codex itself uses)."""
    value = env.get("CODEX_HOME")
    return Path(value).expanduser() if value else Path.home() / ".codex"


@dataclass(frozen=True)
class ConfigSource:
    """The person's configuration inputs, from which every thread's config is built."""

    codex_home: Path
    cwd: Path
    cli_overrides: tuple[Any, ...] = ()
    env: Mapping[str, str] = dataclasses.field(default_factory=lambda: os.environ)

    @classmethod
    def from_environment(
        cls,
        *,
        codex_home: Path | None = None,
        cwd: Path | None = None,
        cli_overrides: CliOverrides = (),
        env: Mapping[str, str] | None = None,
    ) -> ConfigSource:
        """Defaults: `$CODEX_HOME` or `~/.codex`, the process's cwd, `os.environ`."""
        env = os.environ if env is None else env
        return cls(
            codex_home=Path(codex_home) if codex_home is not None else default_codex_home(env),
            cwd=Path(cwd) if cwd is not None else Path.cwd(),
            cli_overrides=tuple(cli_overrides),
            env=env,
        )

    def load(self, typed: CallOverrides | None = None) -> Config:
        """The person's config, with `typed` settings on top (the embedding API's choices)."""
        from codex_mcp.agent.config.loader import load_config

        return load_config(
            self.codex_home, cwd=self.cwd, cli_overrides=self.cli_overrides, typed=typed, env=self.env
        )

    def for_call(
        self,
        *,
        call_config: Mapping[str, Any] | None = None,
        typed: CallOverrides | None = None,
        pushed: PushedSandbox | None = None,
    ) -> Config:
        """The config of a new thread for one tool call, within the ceiling (`load_call_config`)."""
        return load_call_config(
            self.codex_home,
            cwd=self.cwd,
            cli_overrides=self.cli_overrides,
            call_config=call_config,
            typed=typed,
            pushed=pushed,
            env=self.env,
        )

    def for_resume(self, recorded: Mapping[str, Any]) -> Config:
        """The config of a thread resumed from its rollout (`resume_config`)."""
        return resume_config(
            self.codex_home, recorded, cwd=self.cwd, cli_overrides=self.cli_overrides, env=self.env
        )


@dataclass(frozen=True)
class PushedSandbox:
    """A client's pushed sandbox state; `source` names it in a refusal."""

    policy: SandboxPolicy
    cwd: Path | None = None
    source: str = "The client's pushed sandbox state"


def ceiling_of(person: Config) -> CallCeiling:
    """The ceiling of a server whose own configuration (no call overrides) is `person`."""
    server = person.server
    return CallCeiling(
        max_call_sandbox=server.max_call_sandbox,
        default_sandbox=person.sandbox_policy.mode,
        call_config_keys=server.call_config_keys,
        allow_all_keys=server.call_config_keys_all,
    )


def _person(tree: Mapping[str, Any], home: Path, cwd: Path, cli: list[Any], env: Mapping[str, str]) -> Config:
    return resolve_config(tree, codex_home=home, cwd=cwd, cli_overrides=cli, env=env)


def load_call_config(
    codex_home: Path,
    *,
    cwd: Path,
    cli_overrides: CliOverrides = (),
    call_config: Mapping[str, Any] | None = None,
    typed: CallOverrides | None = None,
    pushed: PushedSandbox | None = None,
    env: Mapping[str, str] = os.environ,
) -> Config:
    """The config of a new thread for one `codex` call.

    Raises `CallRefused` when the call (its `config`, `sandbox`, `profile`, `cwd`, or the
    client's pushed sandbox state) asks for more than the ceiling, `ConfigError` for an
    invalid value.  `pushed` applies when the call has no `sandbox` argument.
    """
    home = Path(codex_home)
    cli = list(cli_overrides)
    typed = typed or CallOverrides()
    tree = load_config_tree(home)
    person = _person(tree, home, cwd, cli, env)
    ceiling = ceiling_of(person)

    check_call_config(call_config, ceiling)
    if typed.sandbox_mode is not None:
        check_sandbox(typed.sandbox_mode, ceiling, source="The `sandbox` argument", key="sandbox")
    config_mode = _call_sandbox_mode(call_config)
    if config_mode is not None:
        check_sandbox(
            config_mode, ceiling, source="`sandbox_mode` in the call's `config`", key="sandbox_mode"
        )

    use_pushed = pushed if typed.sandbox_mode is None else None
    cwd_what = "The `cwd` argument"
    if (typed.cwd is None or str(typed.cwd) == "") and pushed is not None and pushed.cwd is not None:
        typed = dataclasses.replace(typed, cwd=str(pushed.cwd))
        cwd_what = f"{pushed.source} (`sandboxCwd`)"
    call_chose_cwd = typed.cwd is not None and str(typed.cwd) != ""

    config = resolve_config(
        tree,
        codex_home=home,
        cwd=cwd,
        cli_overrides=cli,
        call_overrides_json=call_config,
        typed=typed,
        env=env,
    )
    policy = config.sandbox_policy
    profile_by_call = bool(typed.profile) or (call_config is not None and "profile" in call_config)
    if use_pushed is not None:
        check_sandbox(use_pushed.policy.mode, ceiling, source=use_pushed.source, key="sandboxPolicy")
        policy = use_pushed.policy
        if policy.mode == "workspace-write" and use_pushed.cwd is not None and use_pushed.cwd != config.cwd:
            policy = dataclasses.replace(policy, writable_roots=(*policy.writable_roots, str(use_pushed.cwd)))
    else:
        source = (
            f"The profile `{config.profile}` selected by the call"
            if profile_by_call and config.profile
            else "The call's settings"
        )
        check_sandbox(policy.mode, ceiling, source=source, key="profile" if profile_by_call else "sandbox")

    if policy.mode == "workspace-write" and not ceiling.unbounded:
        programs = unsandboxed_program_dirs(person.notify, person.mcp_servers, env)
        if call_chose_cwd:
            check_writable_root(config.cwd, ceiling, env, what=cwd_what, key="cwd", programs=programs)
        if use_pushed is not None:
            for root in policy.writable_roots:
                check_writable_root(
                    root,
                    ceiling,
                    env,
                    what=f"{use_pushed.source} names the writable root",
                    key="sandboxPolicy",
                    programs=programs,
                )
        elif policy.writable_roots:
            own = _person_roots(tree, home, cwd, cli, env)
            for root in policy.writable_roots:
                if root not in own:
                    check_writable_root(
                        root, ceiling, env, what="The writable root", key="writable_roots", programs=programs
                    )
    policy = with_writes_readable(policy, str(config.cwd), env)
    return dataclasses.replace(
        config, sandbox_policy=policy, root_identities=root_identities(policy, config.cwd, env)
    )


def _call_sandbox_mode(call_config: Mapping[str, Any] | None) -> str | None:
    if not call_config:
        return None
    from codex_mcp.agent.config.overrides import json_overrides

    mode: str | None = None
    for path, value in json_overrides(call_config):
        if path == ["sandbox_mode"] and isinstance(value, str):
            mode = value
    return mode


def _person_roots(
    tree: Mapping[str, Any], home: Path, cwd: Path, cli: list[Any], env: Mapping[str, str]
) -> set[str]:
    """The writable roots the person configured, resolved against the server's own cwd."""
    own = resolve_config(
        tree,
        codex_home=home,
        cwd=cwd,
        cli_overrides=cli,
        typed=CallOverrides(sandbox_mode="workspace-write"),
        env=env,
    )
    return set(own.sandbox_policy.writable_roots)


def resume_config(
    codex_home: Path,
    recorded: Mapping[str, Any],
    *,
    cwd: Path,
    cli_overrides: CliOverrides = (),
    env: Mapping[str, str] = os.environ,
) -> Config:
    """The config of a thread resumed from its rollout's last turn context (`recorded`).

    A rollout is a record, not authority: the sandbox and approval policy are the person's
    current ones, and the record may only make them stricter.  The recorded cwd and model
    are kept (the thread's own), the cwd under the same rule as a call's `cwd`.
    """
    home = Path(codex_home)
    cli = list(cli_overrides)
    tree = load_config_tree(home)
    person = _person(tree, home, cwd, cli, env)
    ceiling = ceiling_of(person)
    raw_cwd = recorded.get("cwd")
    thread_cwd = (
        raw_cwd if isinstance(raw_cwd, str) and os.path.isabs(raw_cwd) and "\0" not in raw_cwd else None
    )
    raw_model = recorded.get("model")
    model = raw_model if isinstance(raw_model, str) and raw_model else None
    config = resolve_config(
        tree,
        codex_home=home,
        cwd=cwd,
        cli_overrides=cli,
        typed=CallOverrides(model=model, cwd=thread_cwd),
        env=env,
    )
    try:
        recorded_policy: SandboxPolicy | None = (
            parse_sandbox_policy_json(recorded["sandbox_policy"]) if "sandbox_policy" in recorded else None
        )
    except (SandboxPolicyError, ValueError, TypeError, KeyError):
        recorded_policy = SandboxPolicy(mode="read-only")  # unreadable: the strictest reading
    policy = stricter_sandbox(config.sandbox_policy, recorded_policy)
    approval = stricter_approval(config.approval_policy, recorded.get("approval_policy"))
    if policy.mode == "workspace-write" and thread_cwd is not None:
        check_writable_root(
            config.cwd,
            ceiling,
            env,
            what="The thread's recorded working directory",
            key="cwd",
            programs=unsandboxed_program_dirs(person.notify, person.mcp_servers, env),
        )
    policy = with_writes_readable(policy, str(config.cwd), env)
    return dataclasses.replace(
        config,
        sandbox_policy=policy,
        approval_policy=approval,
        root_identities=root_identities(policy, config.cwd, env),
    )
