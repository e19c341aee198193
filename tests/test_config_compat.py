"""Codex's newer config keys: permission profiles, `experimental_resume`, and the warning
every key this server does not read gets."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.agent.config import CallOverrides, Config, ConfigError, load_config
from codex_mcp.agent.config.call import load_call_config
from codex_mcp.agent.rollout import rollout_in_sessions
from codex_mcp.errors import CallRefused, RolloutError

ENV: dict[str, str] = {"HOME": "/home/tester"}
CWD = Path("/work/project")


def load(home: Path, text: str, **kwargs: Any) -> Config:
    (home / "config.toml").write_text(textwrap.dedent(text), encoding="utf-8")
    kwargs.setdefault("cwd", CWD)
    kwargs.setdefault("env", ENV)
    return load_config(home, **kwargs)


# -- permission profiles -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        (":read-only", "read-only"),
        (":workspace", "workspace-write"),
        (":danger-full-access", "danger-full-access"),
    ],
)
def test_built_in_profiles(tmp_path: Path, name: str, mode: str) -> None:
    cfg = load(tmp_path, f'default_permissions = "{name}"\n')
    assert cfg.sandbox_policy.mode == mode and not cfg.sandbox_policy.network_access


def test_a_named_profile_becomes_the_sandbox_policy(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """
        default_permissions = "project"
        [permissions.project]
        extends = ":workspace"
        [permissions.project.workspace_roots]
        "/srv/shared" = true
        "/srv/off" = false
        [permissions.project.filesystem]
        ":tmpdir" = "read"
        "cache" = "write"
        [permissions.project.network]
        enabled = true
        """,
    )
    policy = cfg.sandbox_policy
    assert policy.mode == "workspace-write" and policy.network_access
    assert policy.writable_roots == ("/srv/shared", str(CWD / "cache"))
    assert policy.exclude_tmpdir_env_var and not policy.exclude_slash_tmp
    assert cfg.config_warnings == ()


def test_the_older_keys_win_and_say_so(tmp_path: Path) -> None:
    cfg = load(tmp_path, 'sandbox_mode = "read-only"\ndefault_permissions = ":workspace"\n')
    assert cfg.sandbox_policy.mode == "read-only"
    assert any("`default_permissions` was ignored" in w for w in cfg.config_warnings)
    typed = load(
        tmp_path,
        'default_permissions = ":danger-full-access"\n',
        typed=CallOverrides(sandbox_mode="read-only"),
    )
    assert typed.sandbox_policy.mode == "read-only"


@pytest.mark.parametrize(
    ("profile", "problem"),
    [
        ('[permissions.p.filesystem]\n"/home/me/.ssh" = "none"\n', "cannot enforce"),
        ('[permissions.p.filesystem]\n"secret" = "deny"\n', "cannot enforce"),
        ('[permissions.p.filesystem]\n"**/*.env" = "write"\n', "cannot enforce"),
        ('[permissions.p.filesystem]\n":minimal" = "read"\n', "cannot enforce"),
        ('[permissions.p.network]\nenabled = true\ndomains = ["example.com"]\n', "cannot enforce"),
        ('[permissions.p]\nextends = ":everything"\n', "must be one of"),
        ('[permissions.p.workspace_roots]\n"/srv" = true\n', "must be `:workspace`"),
        ('[permissions.p.workspace_roots]\n"/srv" = "yes"\n', "expected a boolean"),
    ],
)
def test_rules_that_cannot_be_enforced_refuse_the_profile(tmp_path: Path, profile: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load(
            tmp_path,
            'default_permissions = "p"\n[permissions.p]\n' + profile.replace("[permissions.p]\n", ""),
        )


def test_an_unknown_profile_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown permission profile `nope`"):
        load(tmp_path, 'default_permissions = "nope"\n')


def test_a_call_cannot_choose_or_define_a_profile(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('default_permissions = ":workspace"\n')
    for config in (
        {"default_permissions": ":danger-full-access"},
        {"permissions": {"x": {"extends": ":danger-full-access"}}},
        {"experimental_resume": "/etc/passwd"},
    ):
        with pytest.raises(CallRefused):
            load_call_config(tmp_path, cwd=tmp_path, call_config=config, env=ENV)


def test_a_profile_is_bounded_by_the_call_ceiling(tmp_path: Path) -> None:
    """A profile the call selects (through `profile`) may not widen the sandbox past the
    person's ceiling, whatever the permission profile inside it says."""
    (tmp_path / "config.toml").write_text(
        'default_permissions = ":read-only"\n[profiles.wide]\ndefault_permissions = ":danger-full-access"\n'
    )
    with pytest.raises(CallRefused):
        load_call_config(tmp_path, cwd=tmp_path, typed=CallOverrides(profile="wide"), env=ENV)


# -- unknown keys --------------------------------------------------------------------------------


def test_every_unread_key_warns_once_by_name(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        """
        model = "gpt-5.5"
        modle_reasoning_effort = "high"
        review_model = "gpt-5.5"
        [tui]
        theme = "dark"
        [projects."/work/project"]
        trust_level = "trusted"
        """,
    )
    warned = " ".join(cfg.config_warnings)
    assert "`modle_reasoning_effort`" in warned and "`review_model`" in warned
    assert "`tui`" not in warned and "`projects`" not in warned and "`model`" not in warned


def test_a_wrong_family_value_warns(tmp_path: Path) -> None:
    cfg = load(tmp_path, '[features]\nunified_exec = "yes"\n')
    assert any("features.unified_exec" in w for w in cfg.config_warnings)


# -- experimental_resume -------------------------------------------------------------------------


def test_resume_names_a_rollout_in_the_sessions_tree(tmp_path: Path) -> None:
    day = tmp_path / "sessions" / "2026" / "12" / "04"
    day.mkdir(parents=True)
    good = day / "rollout-2026-12-04T10-00-00-01a2428c-74b1-7482-88bd-9f1c9f7e26cd.jsonl"
    good.write_text("")
    real, thread_id = rollout_in_sessions(tmp_path, good)
    assert real == good and thread_id == "01a2428c-74b1-7482-88bd-9f1c9f7e26cd"
    relative = Path("sessions/2026/12/04") / good.name
    assert rollout_in_sessions(tmp_path, relative)[0] == good
    cfg = load(tmp_path, f'experimental_resume = "{good}"\n')
    assert cfg.experimental_resume == good


def test_resume_refuses_files_outside_the_sessions_tree(tmp_path: Path) -> None:
    day = tmp_path / "sessions" / "d"
    day.mkdir(parents=True)
    outside = tmp_path / "rollout-x-01a2428c-74b1-7482-88bd-9f1c9f7e26cd.jsonl"
    outside.write_text("")
    link = day / outside.name
    os.symlink(outside, link)
    not_named = day / "notes.jsonl"
    not_named.write_text("")
    bad_id = day / "rollout-2026-not-a-thread-id.jsonl"
    bad_id.write_text("")
    for path in (Path("/etc/passwd"), outside, link, not_named, Path("sessions/../") / outside.name):
        with pytest.raises(RolloutError, match="must name a rollout file"):
            rollout_in_sessions(tmp_path, path)
    with pytest.raises(RolloutError, match="not named"):
        rollout_in_sessions(tmp_path, bad_id)
