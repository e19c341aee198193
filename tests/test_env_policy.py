from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_mcp.agent.config.model import ShellEnvironmentPolicy
from codex_mcp.sandbox.env_policy import CORE_ENV_VARS, build_command_env, looks_secret, matches_any

BASE = {
    "HOME": "/home/u",
    "PATH": "/usr/bin:/bin",
    "USER": "u",
    "SHELL": "/bin/bash",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "OPENAI_API_KEY": "sk-1",
    "github_token": "ghp",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "MonkeyBusiness": "x",
    "EDITOR": "vim",
}


def test_inherit_all_applies_default_excludes_case_insensitively() -> None:
    env = build_command_env(ShellEnvironmentPolicy(), BASE)
    assert env == {
        "HOME": "/home/u",
        "PATH": "/usr/bin:/bin",
        "USER": "u",
        "SHELL": "/bin/bash",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "EDITOR": "vim",
    }
    # "MonkeyBusiness" contains "key" once case is ignored.
    assert "MonkeyBusiness" not in env


def test_ignore_default_excludes_keeps_everything() -> None:
    env = build_command_env(ShellEnvironmentPolicy(ignore_default_excludes=True), BASE)
    assert env == BASE


def test_inherit_core_and_none() -> None:
    core = build_command_env(ShellEnvironmentPolicy(inherit="core"), BASE)
    assert core == {k: BASE[k] for k in ("HOME", "PATH", "USER", "SHELL", "TMPDIR")}
    assert set(CORE_ENV_VARS) == {
        "HOME",
        "LOGNAME",
        "PATH",
        "SHELL",
        "USER",
        "USERNAME",
        "TMPDIR",
        "TEMP",
        "TMP",
    }
    assert build_command_env(ShellEnvironmentPolicy(inherit="none"), BASE) == {}
    assert build_command_env(ShellEnvironmentPolicy(inherit="none", set={"A": "1"}), BASE) == {"A": "1"}


def test_exclude_globs_are_case_insensitive() -> None:
    policy = ShellEnvironmentPolicy(exclude=("lang", "ED?TO[QR]"))
    env = build_command_env(policy, BASE)
    assert "LANG" not in env and "EDITOR" not in env
    assert "HOME" in env


def test_set_comes_after_excludes_and_include_only_comes_last() -> None:
    policy = ShellEnvironmentPolicy(
        exclude=("HOME",),
        set={"HOME": "/override", "MY_TOKEN": "t", "EXTRA": "e"},
        include_only=("home", "*token*", "PATH"),
    )
    env = build_command_env(policy, BASE)
    # set re-adds HOME and a default-excluded name; include_only then drops EXTRA.
    assert env == {"HOME": "/override", "MY_TOKEN": "t", "PATH": "/usr/bin:/bin"}


def test_pure_does_not_mutate_inputs() -> None:
    base = dict(BASE)
    policy = ShellEnvironmentPolicy(set={"A": "1"})
    build_command_env(policy, base)
    assert base == BASE
    assert dict(policy.set) == {"A": "1"}


def test_matches_any() -> None:
    assert matches_any("my_Secret_thing", ("*SECRET*",))
    assert not matches_any("SECRE", ("*SECRET*",))
    assert not matches_any("anything", ())


_names = st.text(alphabet=st.sampled_from("abkKeEyYsStToOcCrRnN_19"), min_size=1, max_size=12)
_envs = st.dictionaries(_names, st.text(max_size=5), max_size=12)
_globs = st.lists(st.text(alphabet=st.sampled_from("abkeyKEY*?_"), min_size=1, max_size=5), max_size=3)


def _default_excluded(name: str, value: str = "") -> bool:
    up = name.upper()
    return "KEY" in up or "SECRET" in up or "TOKEN" in up or looks_secret(name, value)


@given(
    base=_envs,
    inherit=st.sampled_from(["all", "core", "none"]),
    ignore=st.booleans(),
    exclude=_globs,
    include_only=_globs,
    set_=_envs,
)
def test_default_excluded_names_never_survive_unless_ignored_or_set(
    base: dict[str, str],
    inherit: str,
    ignore: bool,
    exclude: list[str],
    include_only: list[str],
    set_: dict[str, str],
) -> None:
    policy = ShellEnvironmentPolicy(
        inherit=inherit,  # type: ignore[arg-type]
        ignore_default_excludes=ignore,
        exclude=tuple(exclude),
        set=set_,
        include_only=tuple(include_only),
    )
    env = build_command_env(policy, base)
    for name, value in env.items():
        if name in set_:
            assert value == set_[name]
        else:
            assert name in base and value == base[name]
            if not ignore:
                assert not _default_excluded(name, value)
            assert not matches_any(name, exclude)
        if include_only:
            assert matches_any(name, include_only)
    # Every `set` variable survives unless include_only filters it.
    for name in set_:
        if not include_only or matches_any(name, include_only):
            assert env[name] == set_[name]


@given(base=_envs)
def test_inherit_all_without_filters_is_base_minus_defaults(base: dict[str, str]) -> None:
    env = build_command_env(ShellEnvironmentPolicy(), base)
    assert env == {k: v for k, v in base.items() if not _default_excluded(k, v)}


SECRETS = {
    "PGPASSWORD": "pw",
    "DATABASE_URL": "postgres://localhost/db",
    "REDIS_URL": "redis://:hunter2@cache:6379/0",
    "APP_DB": "mysql://app:hunter2@db/app",
    "MYSQL_PWD": "pw",
    "SSHPASS": "pw",
    "SMTP_PASS": "pw",
    "TWINE_PASSWORD": "pw",
    "GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_SESSION_TOKEN": "x",
    "GITHUB_TOKEN": "x",
    "GH_TOKEN": "x",
    "NPM_CONFIG__AUTH": "x",
    "SSH_AUTH_SOCK": "/run/agent.sock",
    "SENTRY_DSN": "https://abc@o1.ingest.sentry.io/1",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/x",
    "SESSION_COOKIE": "x",
    "DEPLOY": "ghp_" + "a" * 36,
    "NOTES": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc",
    "LLM": "sk-" + "b" * 40,
    "AWS_ID": "AKIA" + "C" * 16,
}
KEPT = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/u",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "TERM": "xterm",
    "PWD": "/w",
    "OLDPWD": "/v",
    "GIT_AUTHOR_NAME": "A",
    "XAUTHORITY": "/home/u/.Xauthority",
    "HTTPS_PROXY": "http://proxy:3128",
    "PYTHONPATH": "/src",
    "VIRTUAL_ENV": "/venv",
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_default_scrub_drops_secrets_by_name_or_value(name: str) -> None:
    env = build_command_env(ShellEnvironmentPolicy(), {**KEPT, name: SECRETS[name]})
    assert env == KEPT


def test_ignore_default_excludes_and_set_still_let_the_person_pass_one_on() -> None:
    base = {**KEPT, **SECRETS}
    assert build_command_env(ShellEnvironmentPolicy(ignore_default_excludes=True), base) == base
    env = build_command_env(ShellEnvironmentPolicy(set={"PGPASSWORD": "given"}), base)
    assert env == {**KEPT, "PGPASSWORD": "given"}
