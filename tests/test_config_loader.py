"""config.toml loading, precedence, profiles, providers and error reporting."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.agent.config import (
    CallOverrides,
    Config,
    ConfigError,
    load_config,
    load_config_tree,
    resolve_config,
)

ENV: dict[str, str] = {"HOME": "/home/tester"}
CWD = Path("/work/project")


def write(home: Path, text: str) -> Path:
    path = home / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(home: Path, **kwargs: Any) -> Config:
    kwargs.setdefault("cwd", CWD)
    kwargs.setdefault("env", ENV)
    return load_config(home, **kwargs)


def error_of(home: Path, **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(home, **kwargs)
    return info.value


# -- defaults and reading --------------------------------------------------------------------


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config_tree(tmp_path) == {}
    cfg = load(tmp_path)
    assert cfg.codex_home == tmp_path and cfg.cwd == CWD
    assert cfg.model == "gpt-5.5"
    assert cfg.model_provider_id == "openai"
    assert cfg.model_provider.base_url == "https://api.openai.com/v1"
    assert cfg.model_provider.wire_api == "responses" and cfg.model_provider.requires_openai_auth
    assert cfg.approval_policy == "on-request"
    assert cfg.sandbox_policy.mode == "read-only"
    assert cfg.project_doc_max_bytes == 32 * 1024
    assert cfg.notify is None and cfg.profile is None and cfg.mcp_servers == {}
    assert cfg.server.event_stream == "full" and cfg.server.elicitation_timeout_sec == 600.0


def test_tree_is_plain_python(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        when = 1979-05-27T07:32:00Z
        [t]
        a = [1, {x = 2}]
        [[arr]]
        z = 1.5
        """,
    )
    tree = load_config_tree(tmp_path)
    assert type(tree) is dict and type(tree["t"]) is dict and type(tree["t"]["a"]) is list
    assert type(tree["t"]["a"][1]) is dict and type(tree["arr"][0]["z"]) is float
    assert tree["when"].year == 1979


def test_cache_hits_and_invalidates_on_change(tmp_path: Path) -> None:
    path = write(tmp_path, 'model = "one"\n')
    first = load_config_tree(tmp_path)
    assert load_config_tree(tmp_path) is first
    path.write_text('model = "two"\n', encoding="utf-8")  # same size: rely on mtime
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert load_config_tree(tmp_path) == {"model": "two"}
    assert load(tmp_path).model == "two"
    path.unlink()
    assert load_config_tree(tmp_path) == {}


def test_resolve_does_not_mutate_the_cached_tree(tmp_path: Path) -> None:
    write(tmp_path, 'model = "m"\nprofile = "p"\n[profiles.p]\nmodel = "pm"\n[sandbox_workspace_write]\n')
    tree = load_config_tree(tmp_path)
    before = copy.deepcopy(tree)
    load(
        tmp_path,
        cli_overrides=["profiles.p.x=1", "sandbox_workspace_write.network_access=true"],
        call_config={"model_providers.z.name": "z"},
    )
    assert tree == before


def test_resolve_works_from_the_cached_tree_alone(tmp_path: Path) -> None:
    """A call resolves its config from the tree loaded once, never the file again (what made
    it cheap per call; the speed itself is the bench's business, not a timed test)."""
    write(tmp_path, FULL_CONFIG)
    tree = load_config_tree(tmp_path)
    typed = CallOverrides(model="m", approval_policy="never", sandbox_mode="workspace-write")

    def resolve() -> object:
        return resolve_config(
            tree,
            codex_home=tmp_path,
            cwd=CWD,
            env=ENV,
            call_overrides_json={"model": "x"},
            typed=typed,
            cli_overrides=["model_context_window=1000"],
        )

    before = resolve()
    (tmp_path / "config.toml").unlink()
    assert all(resolve() == before for _ in range(20))


def test_import_is_light() -> None:
    code = "import sys, codex_mcp.agent.config; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "tomlkit" not in out and "tomllib" not in out


def test_import_does_not_pull_httpx_or_pydantic() -> None:
    code = "import sys, codex_mcp.agent.config; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "httpx" not in out and "pydantic" not in out


# -- precedence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cli", "call", "typed", "expected"),
    [
        ([], None, None, "toml-model"),
        (["model=cli-model"], None, None, "cli-model"),
        (["model=cli-model"], {"model": "cfg-model"}, None, "cfg-model"),
        ([], {"model": "cfg-model"}, None, "cfg-model"),
        (["model=cli-model"], {"model": "cfg-model"}, "arg-model", "arg-model"),
        ([], None, "arg-model", "arg-model"),
    ],
)
def test_model_precedence(
    tmp_path: Path, cli: list[str], call: dict[str, Any] | None, typed: str | None, expected: str
) -> None:
    write(tmp_path, 'model = "toml-model"\n')
    cfg = load(tmp_path, cli_overrides=cli, call_config=call, typed=CallOverrides(model=typed))
    assert cfg.model == expected


def test_policy_precedence(tmp_path: Path) -> None:
    write(tmp_path, 'approval_policy = "untrusted"\nsandbox_mode = "read-only"\n')
    assert load(tmp_path, cli_overrides=["approval_policy=never"]).approval_policy == "never"
    cfg = load(
        tmp_path,
        cli_overrides=["approval_policy=on-failure", "sandbox_mode=danger-full-access"],
        call_config={"approval_policy": "never", "sandbox_mode": "workspace-write"},
        typed=CallOverrides(approval_policy="untrusted"),
    )
    assert cfg.approval_policy == "untrusted"
    assert cfg.sandbox_policy.mode == "workspace-write"
    typed = CallOverrides(sandbox_mode="danger-full-access")
    assert load(tmp_path, typed=typed).sandbox_policy.is_full_access


def test_cli_overrides_accept_parsed_pairs(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        cli_overrides=[(["model_context_window"], 1234), "model_max_output_tokens=5", ("notify", ["x"])],
    )
    assert cfg.notify == ("x",)
    assert cfg.model_context_window == 1234 and cfg.model_max_output_tokens == 5


def test_typed_instructions_and_cwd(tmp_path: Path) -> None:
    write(
        tmp_path, 'developer_instructions = "dev-toml"\ncompact_prompt = "cp-toml"\ninstructions = "user"\n'
    )
    cfg = load(tmp_path)
    assert (cfg.developer_instructions, cfg.compact_prompt, cfg.user_instructions) == (
        "dev-toml",
        "cp-toml",
        "user",
    )
    typed = CallOverrides(
        base_instructions="base", developer_instructions="dev", compact_prompt="cp", cwd="sub/../x"
    )
    cfg = load(tmp_path, typed=typed)
    assert (cfg.base_instructions, cfg.developer_instructions, cfg.compact_prompt) == ("base", "dev", "cp")
    assert cfg.cwd == CWD / "x"
    assert load(tmp_path, typed=CallOverrides(cwd="/nonexistent/dir")).cwd == Path("/nonexistent/dir")
    assert load(tmp_path, typed=CallOverrides(cwd="~/w")).cwd == Path("/home/tester/w")


# -- profiles --------------------------------------------------------------------------------

PROFILES = """
model = "top"
approval_policy = "never"
profile = "fast"

[sandbox_workspace_write]
network_access = true
writable_roots = ["/top"]

[profiles.fast]
model = "fast-model"
model_reasoning_effort = "low"

[profiles.safe]
approval_policy = "untrusted"
sandbox_mode = "workspace-write"
[profiles.safe.sandbox_workspace_write]
writable_roots = ["/safe"]
"""


def test_profile_overlays_top_level(tmp_path: Path) -> None:
    write(tmp_path, PROFILES)
    cfg = load(tmp_path)
    assert (cfg.profile, cfg.model, cfg.model_reasoning_effort, cfg.approval_policy) == (
        "fast",
        "fast-model",
        "low",
        "never",
    )


def test_profile_selection_and_override_paths(tmp_path: Path) -> None:
    write(tmp_path, PROFILES)
    assert load(tmp_path, cli_overrides=["model=cli"]).model == "fast-model"  # profile wins over -c model
    assert load(tmp_path, cli_overrides=["profiles.fast.model=cli"]).model == "cli"
    assert load(tmp_path, call_config={"profiles.fast.model": "call"}).model == "call"
    assert load(tmp_path, typed=CallOverrides(model="typed")).model == "typed"
    safe = load(tmp_path, typed=CallOverrides(profile="safe"))
    assert safe.profile == "safe" and safe.model == "top" and safe.approval_policy == "untrusted"
    # tables merge: network_access from the top level, writable_roots from the profile
    assert safe.sandbox_policy.writable_roots == ("/safe",) and safe.sandbox_policy.network_access
    assert load(tmp_path, call_config={"profile": "safe"}).profile == "safe"
    assert load(tmp_path, cli_overrides=["profile=safe"]).profile == "safe"


def test_unknown_profile(tmp_path: Path) -> None:
    write(tmp_path, PROFILES)
    err = error_of(tmp_path, typed=CallOverrides(profile="nope"))
    assert "`nope`" in str(err) and "`fast`, `safe`" in str(err) and err.origin == "typed"
    err = error_of(tmp_path, call_config={"profile": "ghost"})
    assert str(err).startswith("config profile `ghost` not found") and err.origin == "call"
    write(tmp_path, 'profile = "gone"\n')
    err = error_of(tmp_path)
    assert err.file == tmp_path / "config.toml" and err.line == 1 and err.key == "profile"
    assert "none are defined" in str(err)


# -- providers -------------------------------------------------------------------------------


def test_builtin_providers_and_env(tmp_path: Path) -> None:
    env = {"OPENAI_BASE_URL": "http://proxy/v1", "CODEX_OSS_PORT": "9999"}
    assert load(tmp_path, env=env).model_provider.base_url == "http://proxy/v1"
    oss = load(tmp_path, env=env, cli_overrides=["model_provider=oss"]).model_provider
    assert (oss.id, oss.name, oss.base_url, oss.wire_api) == (
        "oss",
        "gpt-oss",
        "http://localhost:9999/v1",
        "chat",
    )
    assert not oss.requires_openai_auth
    ollama = load(tmp_path, cli_overrides=["model_provider=ollama"]).model_provider
    assert ollama.base_url == "http://localhost:11434/v1"
    env2 = {"CODEX_OSS_BASE_URL": "http://gpu:1/v1", "CODEX_OSS_PORT": "bad"}
    assert (
        load(tmp_path, env=env2, cli_overrides=["model_provider=oss"]).model_provider.base_url
        == "http://gpu:1/v1"
    )
    lm = load(tmp_path, cli_overrides=["model_provider=lmstudio"]).model_provider
    assert lm.base_url == "http://localhost:1234/v1" and lm.wire_api == "responses"


def test_user_providers(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        model_provider = "mock"
        [model_providers.mock]
        name = "Mock"
        base_url = "http://127.0.0.1:5000/v1"
        env_key = "MOCK_KEY"
        env_key_instructions = "export MOCK_KEY"
        query_params = { api-version = "2025-01-01" }
        http_headers = { X-A = "1" }
        env_http_headers = { X-B = "B_VAR" }
        request_max_retries = 0
        stream_max_retries = 1000
        stream_idle_timeout_ms = 5000

        [model_providers.openai]
        base_url = "http://override/v1"
        """,
    )
    cfg = load(tmp_path)
    p = cfg.model_provider
    assert (p.id, p.name, p.base_url, p.wire_api, p.env_key) == (
        "mock",
        "Mock",
        "http://127.0.0.1:5000/v1",
        "chat",
        "MOCK_KEY",
    )
    assert p.env_key_instructions == "export MOCK_KEY" and p.query_params == {"api-version": "2025-01-01"}
    assert p.http_headers == {"X-A": "1"} and p.env_http_headers == {"X-B": "B_VAR"}
    assert (p.request_max_retries, p.stream_max_retries, p.stream_idle_timeout_ms) == (0, 100, 5000)
    openai = load(tmp_path, call_config={"model_provider": "openai"}).model_provider
    assert openai.base_url == "http://override/v1" and openai.requires_openai_auth and openai.name == "OpenAI"
    adhoc = load(tmp_path, call_config={"model_providers.x.base_url": "http://x", "model_provider": "x"})
    assert adhoc.model_provider.name == "x" and adhoc.model_provider.wire_api == "chat"


def test_unknown_provider_lists_known(tmp_path: Path) -> None:
    write(tmp_path, 'model_provider = "nope"\n[model_providers.mine]\nbase_url = "http://m"\n')
    err = error_of(tmp_path)
    assert "unknown model provider `nope`" in str(err)
    assert "`lmstudio`, `mine`, `ollama`, `openai`, `oss`" in str(err)
    assert err.line == 1 and err.file == tmp_path / "config.toml"


# -- sandbox, env policy, misc keys ----------------------------------------------------------


def test_sandbox_workspace_write(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        sandbox_mode = "workspace-write"
        [sandbox_workspace_write]
        writable_roots = ["rel/dir", "/abs", "~/cache"]
        network_access = true
        exclude_tmpdir_env_var = true
        exclude_slash_tmp = true
        """,
    )
    policy = load(tmp_path, typed=CallOverrides(cwd="/w")).sandbox_policy
    assert policy.writable_roots == ("/w/rel/dir", "/abs", "/home/tester/cache")
    assert policy.network_access and policy.exclude_tmpdir_env_var and policy.exclude_slash_tmp
    read_only = load(tmp_path, typed=CallOverrides(sandbox_mode="read-only")).sandbox_policy
    assert read_only.mode == "read-only" and not read_only.has_network and read_only.writable_roots == ()


def test_shell_environment_policy_and_server_options(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        [shell_environment_policy]
        inherit = "core"
        ignore_default_excludes = true
        exclude = ["AWS_*"]
        set = { CI = "1" }
        include_only = ["PATH", "HOME"]
        experimental_use_profile = false

        [codex_mcp]
        elicitation_timeout_sec = 30
        log_file = true
        event_stream = "minimal"
        """,
    )
    cfg = load(tmp_path)
    sep = cfg.shell_environment_policy
    assert (sep.inherit, sep.ignore_default_excludes, sep.exclude, sep.set, sep.include_only) == (
        "core",
        True,
        ("AWS_*",),
        {"CI": "1"},
        ("PATH", "HOME"),
    )
    assert (cfg.server.elicitation_timeout_sec, cfg.server.log_file, cfg.server.event_stream) == (
        30.0,
        True,
        "minimal",
    )


def test_instructions_file(tmp_path: Path) -> None:
    (tmp_path / "base.md").write_text("You are a test agent.\n", encoding="utf-8")
    write(tmp_path, 'experimental_instructions_file = "base.md"\n')
    assert load(tmp_path).base_instructions == "You are a test agent.\n"
    write(tmp_path, f'model_instructions_file = "{tmp_path / "base.md"}"\n')
    assert load(tmp_path).base_instructions == "You are a test agent.\n"
    assert load(tmp_path, typed=CallOverrides(base_instructions="typed")).base_instructions == "typed"
    write(tmp_path, 'model = "m"\nmodel_instructions_file = "missing.md"\n')
    err = error_of(tmp_path)
    assert err.key == "model_instructions_file" and err.line == 2 and "missing.md" in str(err)
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    err = error_of(tmp_path, call_config={"model_instructions_file": "empty.md"})
    assert "is empty" in str(err) and err.origin == "call"


def test_misc_keys(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        notify = ["notify-send", "Codex"]
        project_doc_max_bytes = 0
        project_doc_fallback_filenames = ["CLAUDE.md"]
        model_reasoning_effort = "bogus"   # passed through, as the reference does
        model_reasoning_summary = "detailed"
        model_verbosity = "low"
        model_supports_reasoning_summaries = true
        model_context_window = 200000
        model_max_output_tokens = 4096
        model_auto_compact_token_limit = -1
        hide_agent_reasoning = true
        show_raw_agent_reasoning = true
        approval_policy = "unless-trusted"
        """,
    )
    cfg = load(tmp_path)
    assert cfg.notify == ("notify-send", "Codex") and cfg.project_doc_max_bytes == 0
    assert cfg.project_doc_fallback_filenames == ("CLAUDE.md",)
    assert (cfg.model_reasoning_effort, cfg.model_reasoning_summary, cfg.model_verbosity) == (
        "bogus",
        "detailed",
        "low",
    )
    assert (
        cfg.model_supports_reasoning_summaries and cfg.hide_agent_reasoning and cfg.show_raw_agent_reasoning
    )
    assert (cfg.model_context_window, cfg.model_max_output_tokens, cfg.model_auto_compact_token_limit) == (
        200000,
        4096,
        -1,
    )
    assert cfg.approval_policy == "untrusted"


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "key", "line", "fragment"),
    [
        (
            'model = "m"\nmodel_context_window = "abc"\n',
            "model_context_window",
            2,
            'invalid type for `model_context_window`: expected an integer, got string "abc"',
        ),
        (
            'approval_policy = "bogus"\n',
            "approval_policy",
            1,
            "unknown value `bogus` for `approval_policy`, expected one of `untrusted`, `on-failure`, "
            "`on-request`, `never`",
        ),
        ('sandbox_mode = "yolo"\n', "sandbox_mode", 1, "unknown value `yolo` for `sandbox_mode`"),
        ("model = 5\n", "model", 1, "expected a string, got integer 5"),
        ("hide_agent_reasoning = 1\n", "hide_agent_reasoning", 1, "expected a boolean, got integer 1"),
        ("project_doc_max_bytes = -1\n", "project_doc_max_bytes", 1, "expected a non-negative integer"),
        ('notify = "say hi"\n', "notify", 1, "expected an array of strings"),
        ('notify = ["a", 2]\n', "notify", 1, "got integer 2 at index 1"),
        ('model_verbosity = "loud"\n', "model_verbosity", 1, "unknown value `loud`"),
        ("model_reasoning_summary = 1\n", "model_reasoning_summary", 1, "expected a string"),
        (
            '[sandbox_workspace_write]\nnetwork_access = "yes"\n',
            "sandbox_workspace_write.network_access",
            2,
            'expected a boolean, got string "yes"',
        ),
        ("sandbox_workspace_write = 3\n", "sandbox_workspace_write", 1, "expected a table, got integer 3"),
        (
            '[shell_environment_policy]\ninherit = "some"\n',
            "shell_environment_policy.inherit",
            2,
            "unknown value `some`",
        ),
        ("[shell_environment_policy.set]\nA = 1\n", "shell_environment_policy.set.A", 2, "expected a string"),
        (
            '[model_providers.m]\nbase_url = "u"\nwire_api = "grpc"\n',
            "model_providers.m.wire_api",
            3,
            "unknown value `grpc` for `model_providers.m.wire_api`, expected one of `responses`, `chat`",
        ),
        (
            '[model_providers."my.p"]\nrequest_max_retries = "x"\n',
            'model_providers."my.p".request_max_retries',
            2,
            "expected an integer",
        ),
        ("[model_providers]\nm = 1\n", "model_providers.m", 2, "expected a table"),
        ('[mcp_servers]\nbad = "x"\n', "mcp_servers.bad", 2, "expected a table"),
        (
            '[codex_mcp]\nevent_stream = "all"\n',
            "codex_mcp.event_stream",
            2,
            "expected one of `full`, `minimal`, `off`",
        ),
        (
            "[codex_mcp]\nelicitation_timeout_sec = 0\n",
            "codex_mcp.elicitation_timeout_sec",
            2,
            "positive number",
        ),
        (
            'profile = "p"\n[profiles.p]\nmodel_context_window = "abc"\n',
            "profiles.p.model_context_window",
            3,
            "expected an integer",
        ),
        ("profile = 3\n", "profile", 1, "expected a string"),
        ('profile = "p"\nprofiles = { p = 1 }\n', "profiles.p", 2, "expected a table"),
    ],
)
def test_bad_config_toml_values(tmp_path: Path, toml: str, key: str, line: int, fragment: str) -> None:
    write(tmp_path, toml)
    err = error_of(tmp_path)
    path = tmp_path / "config.toml"
    assert err.key == key and err.line == line and err.file == path and err.origin == "config.toml"
    assert fragment in str(err)
    assert str(err).startswith(f"{path}:{line}: ")


def test_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, 'model = "m"\nbroken = ?x\n')
    with pytest.raises(ConfigError) as info:
        load_config_tree(tmp_path)
    err = info.value
    assert (err.file, err.line, err.column) == (path, 2, 10)
    assert str(err).startswith(f"{path}:2:10: invalid TOML: ")


def test_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_bytes(b'model = "a"\nx = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config_tree(tmp_path)
    assert info.value.line == 2 and "UTF-8" in str(info.value)


def test_errors_from_overrides_name_their_source(tmp_path: Path) -> None:
    write(tmp_path, "model_context_window = 5\n")
    err = error_of(tmp_path, call_config={"model_context_window": "abc"})
    assert str(err) == 'invalid type for `model_context_window`: expected an integer, got string "abc"'
    assert err.origin == "call" and err.file is None
    err = error_of(tmp_path, call_config={"approval_policy": "bogus"})
    assert err.origin == "call" and err.key == "approval_policy"
    err = error_of(tmp_path, cli_overrides=["model_context_window=abc"])
    assert err.origin == "cli" and str(err).endswith("(set by a server `-c` override)")
    err = error_of(tmp_path, cli_overrides=["nokey"])
    assert err.origin == "cli"
    err = error_of(tmp_path, typed=CallOverrides(approval_policy="sometimes"))
    assert err.origin == "typed" and "unknown value `sometimes` for `approval_policy`" in str(err)
    err = error_of(tmp_path, typed=CallOverrides(sandbox_mode="yolo"))
    assert err.origin == "typed" and err.key == "sandbox_mode"
    err = error_of(tmp_path, call_config={"model_providers.x.wire_api": "grpc"})
    assert err.origin == "call" and err.key == "model_providers.x.wire_api"
    err = error_of(tmp_path, call_config={"approval_policy": "{key}{0}{"})
    assert str(err).startswith("unknown value `{key}{0}{` for `approval_policy`")
    # a call override elsewhere does not steal the blame for a bad config.toml value
    write(tmp_path, 'model_context_window = "abc"\n')
    err = error_of(tmp_path, call_config={"model": "m"})
    assert err.origin == "config.toml" and err.line == 1


# -- a realistic Codex config ----------------------------------------------------------------

FULL_CONFIG = """
# A user's ~/.codex/config.toml
model = "gpt-5-codex"
model_provider = "openai"
model_reasoning_effort = "high"
approval_policy = "on-request"
sandbox_mode = "workspace-write"
file_opener = "vscode"
notify = ["python3", "/home/me/.codex/notify.py"]
review_model = "gpt-5-codex"
preferred_auth_method = "apikey"
experimental_resume = "/tmp/x.jsonl"
disable_response_storage = false

[features]
web_search_request = true
unified_exec = false

[tools]
web_search = true
view_image = true

[tui]
notifications = true
animations = false

[history]
persistence = "save-all"
max_bytes = 10485760

[projects."/home/me/src/app"]
trust_level = "trusted"

[projects.'/home/me/src/other']
trust_level = "untrusted"

[sandbox_workspace_write]
writable_roots = ["/home/me/.cache"]
network_access = false

[shell_environment_policy]
inherit = "all"
exclude = ["AWS_*", "AZURE_*"]

[model_providers.ollama]
name = "Ollama"
base_url = "http://localhost:11434/v1"

[model_providers.azure]
name = "Azure"
base_url = "https://example.openai.azure.com/openai"
env_key = "AZURE_OPENAI_API_KEY"
query_params = { api-version = "2025-04-01-preview" }
wire_api = "responses"

[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]
env = { "DOCS_TOKEN" = "x" }
startup_timeout_sec = 20
tool_timeout_sec = 60

[mcp_servers.remote]
url = "https://mcp.example.com/mcp"
bearer_token_env_var = "REMOTE_TOKEN"

[profiles.deep]
model = "o3"
model_reasoning_effort = "high"
approval_policy = "never"
model_provider = "azure"

[profiles.local]
model = "gpt-oss:20b"
model_provider = "ollama"

[otel]
environment = "dev"
"""


def test_realistic_full_codex_config_loads(tmp_path: Path) -> None:
    write(tmp_path, FULL_CONFIG)
    cfg = load(tmp_path)
    assert cfg.model == "gpt-5-codex" and cfg.sandbox_policy.mode == "workspace-write"
    assert cfg.sandbox_policy.writable_roots == ("/home/me/.cache",)
    assert cfg.notify == ("python3", "/home/me/.codex/notify.py")
    assert set(cfg.mcp_servers) == {"docs", "remote"}
    assert cfg.mcp_servers["docs"]["args"] == ["-y", "docs-mcp"]
    assert cfg.shell_environment_policy.exclude == ("AWS_*", "AZURE_*")
    deep = load(tmp_path, typed=CallOverrides(profile="deep"))
    assert (deep.model, deep.approval_policy, deep.model_provider_id) == ("o3", "never", "azure")
    assert deep.model_provider.query_params == {"api-version": "2025-04-01-preview"}
    local = load(tmp_path, call_config={"profile": "local"})
    assert local.model_provider.name == "Ollama" and local.model_provider.wire_api == "chat"
