"""The ceiling for a call: which `config` keys, sandboxes and working directories a call may
choose, the two `[codex_mcp]` settings that widen it, and what a rollout may change."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.agent.config import CallOverrides, CallRefused, ConfigError, load_config
from codex_mcp.agent.config.call import PushedSandbox, load_call_config, resume_config
from codex_mcp.agent.config.ceiling import (
    CallCeiling,
    check_call_config,
    check_sandbox,
    sensitive_root_reason,
    stricter_approval,
    stricter_sandbox,
)
from codex_mcp.sandbox.policy import SandboxPolicy


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home)}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def load_call(home: Path, project: Path, env: dict[str, str], **kwargs: Any) -> Any:
    return load_call_config(home, cwd=project, env=env, **kwargs)


def refusal(home: Path, project: Path, env: dict[str, str], **kwargs: Any) -> CallRefused:
    with pytest.raises(CallRefused) as info:
        load_call(home, project, env, **kwargs)
    return info.value


DEFAULT = CallCeiling()


# -- config keys -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"model": "x"},
        {"model_reasoning_effort": "high"},
        {"approval_policy": "never"},
        {"sandbox_mode": "workspace-write"},
        {"profile": "fast"},
        {"developer_instructions": "be brief", "instructions": "text", "compact_prompt": "sum up"},
        {"hide_agent_reasoning": True, "model_context_window": 1000},
        {"sandbox_workspace_write.network_access": False},
        {"sandbox_workspace_write.exclude_slash_tmp": True},
        {"sandbox_workspace_write.exclude_tmpdir_env_var": True},
        {"model": None},  # null means "no override"
    ],
)
def test_keys_a_call_may_set(config: dict[str, Any]) -> None:
    check_call_config(config, DEFAULT)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"notify": ["sh", "-c", "true"]}, "notify"),
        ({"mcp_servers": {"x": {"command": "sh"}}}, "mcp_servers"),
        ({"mcp_servers.x.command": "sh"}, "mcp_servers.x.command"),
        ({"model_provider": "openai"}, "model_provider"),
        ({"model_providers": {"evil": {"base_url": "http://x"}}}, "model_providers"),
        ({"model_providers.evil.base_url": "http://x"}, "model_providers.evil.base_url"),
        ({'"model_providers".mock."base_url"': "http://x"}, "model_providers.mock.base_url"),
        ({" model_providers . mock . env_key ": "PATH"}, "model_providers.mock.env_key"),
        ({"model_providers.mock.http_headers": {"x": "y"}}, "model_providers.mock.http_headers"),
        ({"chatgpt_base_url": "http://x"}, "chatgpt_base_url"),
        ({"shell_environment_policy": {"inherit": "all"}}, "shell_environment_policy"),
        (
            {"shell_environment_policy.ignore_default_excludes": True},
            "shell_environment_policy.ignore_default_excludes",
        ),
        ({"sandbox_workspace_write.writable_roots": ["/"]}, "sandbox_workspace_write.writable_roots"),
        ({"sandbox_workspace_write": {"network_access": False}}, "sandbox_workspace_write"),
        ({"sandbox_workspace_write.network_access": True}, "sandbox_workspace_write.network_access"),
        ({"sandbox_workspace_write.exclude_slash_tmp": False}, "sandbox_workspace_write.exclude_slash_tmp"),
        ({"sandbox_workspace_write.network_access": 0}, "sandbox_workspace_write.network_access"),
        ({"model_instructions_file": "/etc/passwd"}, "model_instructions_file"),
        ({"experimental_instructions_file": "x.md"}, "experimental_instructions_file"),
        ({"project_doc_fallback_filenames": ["../../x"]}, "project_doc_fallback_filenames"),
        ({"profiles.evil.notify": ["sh"]}, "profiles.evil.notify"),
        ({"profiles": {"fast": {"model_provider": "x"}}}, "profiles"),
        ({"codex_mcp.event_stream": "off"}, "codex_mcp.event_stream"),
        ({"Notify": ["sh"]}, "Notify"),
        ({"ｎｏｔｉｆｙ": ["sh"]}, '"ｎｏｔｉｆｙ"'),
        ({"-c notify": ["sh"]}, '"-c notify"'),
        ({"notify=['sh']": 1}, "\"notify=['sh']\""),
        ({"model.": 1}, None),  # not even a key
    ],
)
def test_keys_a_call_may_not_set(config: dict[str, Any], key: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        check_call_config(config, DEFAULT)
    if key is None:
        return
    err = info.value
    assert isinstance(err, CallRefused)
    assert err.key == key and err.setting == "codex_mcp.call_config_keys"
    assert f"`{key}`" in str(err) and "call_config_keys" in str(err)


@pytest.mark.parametrize(
    "config",
    [
        {"codex_mcp.max_call_sandbox": "danger-full-access"},
        {"codex_mcp": {"call_config_keys": ["*"]}},
        {"codex_mcp": "x"},
        {'codex_mcp."max_call_sandbox"': "danger-full-access"},
    ],
)
def test_the_ceiling_settings_are_never_settable_from_a_call(config: dict[str, Any]) -> None:
    everything = CallCeiling(allow_all_keys=True)
    with pytest.raises(CallRefused, match=r"only config\.toml"):
        check_call_config(config, everything)


def test_call_config_keys_patterns() -> None:
    ceiling = CallCeiling(
        call_config_keys=(("model_providers", "*", "stream_idle_timeout_ms"), ("notify",), ("tools",))
    )
    check_call_config({"model_providers.mock.stream_idle_timeout_ms": 5}, ceiling)
    check_call_config({"notify": ["x"], "tools": {"view_image": False}, "tools.web_search": True}, ceiling)
    with pytest.raises(CallRefused):
        check_call_config({"model_providers.mock.base_url": "http://x"}, ceiling)
    with pytest.raises(CallRefused):  # the whole table is more than one key of it
        check_call_config({"model_providers": {"mock": {"stream_idle_timeout_ms": 5}}}, ceiling)
    check_call_config({"mcp_servers.x.command": "sh", "anything": 1}, CallCeiling(allow_all_keys=True))


def test_call_config_keys_read_from_config_toml(tmp_path: Path, project: Path, env: dict[str, str]) -> None:
    write(
        tmp_path,
        """
        [codex_mcp]
        call_config_keys = ["project_doc_max_bytes", "model_providers.*.stream_idle_timeout_ms"]
        """,
    )
    cfg = load_call(tmp_path, project, env, call_config={"project_doc_max_bytes": 7})
    assert cfg.project_doc_max_bytes == 7
    assert refusal(tmp_path, project, env, call_config={"notify": ["x"]}).key == "notify"
    write(tmp_path, '[codex_mcp]\ncall_config_keys = ["*"]\n')
    assert load_call(tmp_path, project, env, call_config={"notify": ["x"]}).notify == ("x",)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[codex_mcp]\nmax_call_sandbox = "yolo"\n', "max_call_sandbox"),
        ("[codex_mcp]\nmax_call_sandbox = 1\n", "max_call_sandbox"),
        ('[codex_mcp]\ncall_config_keys = "notify"\n', "call_config_keys"),
        ('[codex_mcp]\ncall_config_keys = ["a..b"]\n', "call_config_keys"),
    ],
)
def test_bad_ceiling_settings_are_errors_with_a_line(
    tmp_path: Path, project: Path, text: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, cwd=project, env={})
    assert fragment in str(info.value) and str(path) in str(info.value)
    assert ":2:" in str(info.value)


# -- the sandbox --------------------------------------------------------------------------------


def test_check_sandbox_limit() -> None:
    check_sandbox("workspace-write", DEFAULT, source="x", key="sandbox")
    with pytest.raises(CallRefused) as info:
        check_sandbox("danger-full-access", DEFAULT, source="The `sandbox` argument", key="sandbox")
    text = str(info.value)
    assert "The `sandbox` argument" in text and "danger-full-access" in text
    assert 'max_call_sandbox = "danger-full-access"' in text
    assert info.value.setting == "codex_mcp.max_call_sandbox"
    with pytest.raises(CallRefused):
        check_sandbox("workspace-write", CallCeiling(max_call_sandbox="read-only"), source="x", key="k")
    # The person's own default is never above what a call may ask for.
    check_sandbox(
        "danger-full-access", CallCeiling(default_sandbox="danger-full-access"), source="x", key="k"
    )


@pytest.mark.parametrize(
    "typed",
    [
        CallOverrides(sandbox_mode="danger-full-access"),
        CallOverrides(sandbox_mode="workspace-write", approval_policy="never", profile="yolo"),
        CallOverrides(profile="yolo"),
    ],
)
def test_sandbox_from_arguments_and_profiles(
    tmp_path: Path, project: Path, env: dict[str, str], typed: CallOverrides
) -> None:
    write(tmp_path, '[profiles.yolo]\nsandbox_mode = "danger-full-access"\n')
    if typed.sandbox_mode == "workspace-write":
        # The typed argument wins over the profile: workspace-write is within the ceiling.
        assert load_call(tmp_path, project, env, typed=typed).sandbox_policy.mode == "workspace-write"
        return
    err = refusal(tmp_path, project, env, typed=typed)
    assert err.setting == "codex_mcp.max_call_sandbox"
    assert ("profile `yolo`" in str(err)) == (typed.sandbox_mode is None)


def test_sandbox_from_call_config(tmp_path: Path, project: Path, env: dict[str, str]) -> None:
    err = refusal(tmp_path, project, env, call_config={"sandbox_mode": "danger-full-access"})
    assert "`sandbox_mode` in the call's `config`" in str(err)
    write(tmp_path, '[profiles.yolo]\nsandbox_mode = "danger-full-access"\n')
    err = refusal(tmp_path, project, env, call_config={"profile": "yolo"})
    assert "profile `yolo`" in str(err)


def test_the_persons_profile_and_default_are_theirs(
    tmp_path: Path, project: Path, env: dict[str, str]
) -> None:
    write(tmp_path, 'profile = "yolo"\n[profiles.yolo]\nsandbox_mode = "danger-full-access"\n')
    cfg = load_call(tmp_path, project, env, typed=CallOverrides(sandbox_mode="danger-full-access"))
    assert cfg.sandbox_policy.is_full_access
    write(tmp_path, 'sandbox_mode = "danger-full-access"\n')
    assert load_call(tmp_path, project, env).sandbox_policy.is_full_access


@pytest.mark.parametrize("where", ["toml", "cli"])
def test_max_call_sandbox_opens_full_access(
    tmp_path: Path, project: Path, env: dict[str, str], where: str
) -> None:
    cli: list[str] = []
    if where == "toml":
        write(tmp_path, '[codex_mcp]\nmax_call_sandbox = "danger-full-access"\n')
    else:
        cli = ['codex_mcp.max_call_sandbox="danger-full-access"']
    typed = CallOverrides(sandbox_mode="danger-full-access", cwd="/")
    assert load_call(tmp_path, project, env, typed=typed, cli_overrides=cli).sandbox_policy.is_full_access


def test_pushed_state_is_bounded(tmp_path: Path, project: Path, env: dict[str, str]) -> None:
    full = PushedSandbox(SandboxPolicy("danger-full-access"), None, "The pushed state")
    err = refusal(tmp_path, project, env, pushed=full)
    assert "The pushed state" in str(err) and "max_call_sandbox" in str(err)
    # The `sandbox` argument wins over pushed state (and is itself bounded).
    cfg = load_call(tmp_path, project, env, pushed=full, typed=CallOverrides(sandbox_mode="read-only"))
    assert cfg.sandbox_policy.mode == "read-only"
    wide = PushedSandbox(SandboxPolicy("workspace-write", writable_roots=("/",)), None, "The pushed state")
    assert "root of the filesystem" in str(refusal(tmp_path, project, env, pushed=wide))
    home = PushedSandbox(SandboxPolicy("workspace-write", writable_roots=(env["HOME"],)), None, "P")
    assert "home directory" in str(refusal(tmp_path, project, env, pushed=home))
    ok = PushedSandbox(SandboxPolicy("workspace-write"), project, "P")
    cfg = load_call(tmp_path, project, env, pushed=ok)
    assert cfg.sandbox_policy.mode == "workspace-write" and cfg.cwd == project
    root_cwd = PushedSandbox(SandboxPolicy("workspace-write"), Path("/"), "P")
    assert "(`sandboxCwd`)" in str(refusal(tmp_path, project, env, pushed=root_cwd))


# -- the working directory --------------------------------------------------------------------


def test_sensitive_roots(tmp_path: Path, env: dict[str, str], project: Path) -> None:
    home = Path(env["HOME"])
    (home / ".ssh").mkdir()
    (home / "code").mkdir()
    (tmp_path / "to-root").symlink_to("/")
    (tmp_path / "to-home").symlink_to(home)
    assert sensitive_root_reason("/", env) is not None
    assert sensitive_root_reason(tmp_path / "to-root", env) is not None
    assert sensitive_root_reason(str(home) + "/code/../..", env) is not None
    assert sensitive_root_reason(home, env) is not None
    assert sensitive_root_reason(tmp_path / "to-home", env) is not None
    assert sensitive_root_reason(tmp_path, env) is not None  # contains the home
    assert sensitive_root_reason(home / ".ssh", env) is not None
    assert sensitive_root_reason(home / ".local" / "bin", env) is not None
    for system in ("/etc", "/usr/local/bin", "/var", "/var/spool/cron", "/root", "/proc/self"):
        assert sensitive_root_reason(system, env) is not None, system
    assert sensitive_root_reason(home / "code", env) is None
    assert sensitive_root_reason(project, env) is None
    # A home under /tmp makes /tmp itself too wide; with a usual home it is fine.
    assert sensitive_root_reason("/tmp", env) is not None
    # ... unless the server's own code lies in /tmp (a checkout there, as in a clean-clone CI).
    from codex_mcp.agent.config.code_dirs import installation_dirs

    usual = {"HOME": "/home/someone"}
    tmp = Path("/tmp").resolve()
    code_in_tmp = any(Path(d).is_relative_to(tmp) for d in installation_dirs(usual))
    reason = sensitive_root_reason("/tmp", usual)
    if code_in_tmp:
        assert reason is not None and "code this server runs" in reason
    else:
        assert reason is None


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only a root server writes other homes"
)
def test_as_root_every_persons_home_is_protected(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from codex_mcp.agent.config import ceiling

    people = tmp_path / "people"
    (people / "alice" / ".ssh").mkdir(parents=True)
    (people / "alice" / "code").mkdir()
    passwd = tmp_path / "passwd"
    passwd.write_text(
        f"alice:x:1005:1005::{people / 'alice'}:/bin/sh\n"
        f"daemon:x:2:2::{people / 'daemon'}:/bin/sh\nbroken line\n"
        "nobody:x:65534:65534::/nonexistent:/bin/false\n"
    )
    monkeypatch.setattr(ceiling, "PASSWD", str(passwd))
    assert sensitive_root_reason(people, env) is not None
    assert sensitive_root_reason(people / "alice", env) is not None
    assert sensitive_root_reason(people / "alice" / ".ssh", env) is not None
    assert sensitive_root_reason(people / "alice" / "code", env) is None
    assert sensitive_root_reason(people / "daemon", env) is None  # not a person's account


@pytest.mark.parametrize("cwd", ["/", "~", "..", "~/.ssh", "/etc", "link"])
def test_a_call_cwd_may_not_expose_too_much(
    tmp_path: Path, project: Path, env: dict[str, str], cwd: str
) -> None:
    (Path(env["HOME"]) / ".ssh").mkdir()
    (project / "link").symlink_to("/")
    typed = CallOverrides(cwd=cwd, sandbox_mode="workspace-write")
    err = refusal(tmp_path, project, env, typed=typed)
    assert err.key == "cwd" and "The `cwd` argument" in str(err)
    assert 'max_call_sandbox = "danger-full-access"' in str(err)
    # Read-only makes nothing writable: any directory is fine.
    assert load_call(tmp_path, project, env, typed=CallOverrides(cwd=cwd)).sandbox_policy.mode == "read-only"


def test_relative_writable_roots_follow_a_call_cwd(
    tmp_path: Path, project: Path, env: dict[str, str]
) -> None:
    nested = Path(env["HOME"]) / "code" / "app"
    nested.mkdir(parents=True)
    write(tmp_path, '[sandbox_workspace_write]\nwritable_roots = ["../.."]\n')
    typed = CallOverrides(cwd=str(nested), sandbox_mode="workspace-write")
    assert refusal(tmp_path, project, env, typed=typed).key == "writable_roots"
    # The same root resolved against the server's own cwd is the person's choice.
    write(tmp_path, f'[sandbox_workspace_write]\nwritable_roots = ["{env["HOME"]}"]\n')
    cfg = load_call(tmp_path, project, env, typed=CallOverrides(sandbox_mode="workspace-write"))
    assert env["HOME"] in cfg.sandbox_policy.writable_roots


# -- resuming -----------------------------------------------------------------------------------


def test_stricter_approval() -> None:
    assert stricter_approval("on-request", "never") == "never"
    assert stricter_approval("never", "untrusted") == "untrusted"
    assert stricter_approval("untrusted", "never") == "untrusted"
    assert stricter_approval("never", "on-request") == "never"
    assert stricter_approval("on-failure", "on-request") == "on-failure"
    assert stricter_approval("on-request", "bogus") == "on-request"
    assert stricter_approval("on-request", None) == "on-request"


def test_stricter_sandbox() -> None:
    ws = SandboxPolicy("workspace-write", writable_roots=("/mine",), network_access=True)
    full = SandboxPolicy("danger-full-access")
    ro = SandboxPolicy("read-only")
    assert stricter_sandbox(ro, full) == ro
    assert stricter_sandbox(ws, full) == ws
    assert stricter_sandbox(ws, SandboxPolicy("workspace-write", writable_roots=("/",))).writable_roots == (
        "/mine",
    )
    assert not stricter_sandbox(ws, SandboxPolicy("workspace-write")).network_access
    assert stricter_sandbox(ws, ro).mode == "read-only"
    narrowed = stricter_sandbox(full, SandboxPolicy("workspace-write", writable_roots=("/",)))
    assert narrowed.mode == "workspace-write" and narrowed.writable_roots == ()
    assert stricter_sandbox(ws, None) == ws


def test_resume_takes_current_policies(tmp_path: Path, project: Path, env: dict[str, str]) -> None:
    write(tmp_path, 'sandbox_mode = "workspace-write"\napproval_policy = "on-request"\n')
    recorded = {
        "cwd": str(project),
        "model": "old-model",
        "approval_policy": "never",
        "sandbox_policy": {"type": "danger-full-access"},
    }
    cfg = resume_config(tmp_path, recorded, cwd=project, env=env)
    assert cfg.sandbox_policy.mode == "workspace-write" and cfg.approval_policy == "never"
    assert cfg.cwd == project and cfg.model == "old-model"
    recorded["sandbox_policy"] = {"type": "read-only"}
    assert resume_config(tmp_path, recorded, cwd=project, env=env).sandbox_policy.mode == "read-only"
    recorded["sandbox_policy"] = {"type": "bogus"}
    assert resume_config(tmp_path, recorded, cwd=project, env=env).sandbox_policy.mode == "read-only"
    recorded["sandbox_policy"] = {"type": "workspace-write", "writable_roots": ["/"]}
    assert resume_config(tmp_path, recorded, cwd=project, env=env).sandbox_policy.writable_roots == ()
    recorded["cwd"] = "/"
    with pytest.raises(CallRefused, match="recorded working directory"):
        resume_config(tmp_path, recorded, cwd=project, env=env)
    recorded["cwd"] = 5
    assert resume_config(tmp_path, recorded, cwd=project, env=env).cwd == project


def test_resume_cannot_loosen_read_only(tmp_path: Path, project: Path, env: dict[str, str]) -> None:
    recorded = {"cwd": os.sep, "approval_policy": "never", "sandbox_policy": {"type": "danger-full-access"}}
    cfg = resume_config(tmp_path, recorded, cwd=project, env=env)
    assert cfg.sandbox_policy.mode == "read-only" and cfg.approval_policy == "never"
