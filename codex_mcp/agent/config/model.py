"""The resolved configuration of one thread: the single frozen value the agent reads.

Built by `codex_mcp.agent.config.loader` from config.toml + profile + overrides; nothing
else in the agent looks at TOML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from codex_mcp.agent.families import DEFAULT_MODEL as DEFAULT_FAMILY_MODEL
from codex_mcp.agent.families import FamilyOverrides
from codex_mcp.agent.model.provider import ModelProviderInfo
from codex_mcp.sandbox.env_policy import EnvInherit as EnvInherit
from codex_mcp.sandbox.env_policy import ShellEnvironmentPolicy as ShellEnvironmentPolicy
from codex_mcp.sandbox.netproxy import ProxySettings
from codex_mcp.sandbox.policy import ApprovalPolicy, SandboxMode, SandboxPolicy

DEFAULT_MODEL = DEFAULT_FAMILY_MODEL
"""`gpt-5.5`: the newest family whose whole contract this server implements (see families)."""
DEFAULT_PROJECT_DOC_MAX_BYTES = 32 * 1024
DEFAULT_ELICITATION_TIMEOUT_SEC = 600.0
DEFAULT_TURN_TIMEOUT_SEC = 4 * 3600.0
DEFAULT_EXEC_SESSION_MAX_LIFETIME_SEC = 3600.0
"""A whole turn (model rounds, tool calls, approvals) ends with an error after this."""
DEFAULT_EXEC_SERVER_MAX_PROCESSES = 256
"""Live `exec_command` processes of all threads of one server together."""

EventStream = Literal["full", "minimal", "off"]
DeltaEvents = Literal["content", "legacy", "both"]
"""Which names streamed text goes out under: `content` (`agent_message_content_delta`,
`reasoning_content_delta`, as Codex 0.147), `legacy` (`agent_message_delta`,
`agent_reasoning_delta`, for clients written against older Codex), or `both`."""


@dataclass(frozen=True)
class ServerSettings:
    """`[codex_mcp]`: settings of this server that Codex itself does not have."""

    elicitation_timeout_sec: float = DEFAULT_ELICITATION_TIMEOUT_SEC
    log_file: bool = False
    event_stream: EventStream = "full"
    # The ceiling for what one tool call may change (see `config.ceiling`).  Only the values
    # resolved without a call's overrides are ever used as the ceiling.
    max_call_sandbox: SandboxMode = "workspace-write"
    call_config_keys: tuple[tuple[str, ...], ...] = ()
    call_config_keys_all: bool = False
    turn_timeout_sec: float = DEFAULT_TURN_TIMEOUT_SEC
    # A process session (`exec_command` that keeps running) is ended after this, whatever it does.
    exec_session_max_lifetime_sec: float = DEFAULT_EXEC_SESSION_MAX_LIFETIME_SEC
    # Live processes `exec_command` started, counted over every thread of the server.
    exec_server_max_processes: int = DEFAULT_EXEC_SERVER_MAX_PROCESSES
    delta_events: DeltaEvents = "content"
    originator: str | None = None
    """The `originator` the model provider sees (and the User-Agent's product); ours by default."""


@dataclass(frozen=True)
class Config:
    """Everything a thread runs with: the person's config.toml, the profile and the call's
    overrides, resolved and checked."""

    codex_home: Path
    cwd: Path
    model: str = DEFAULT_MODEL
    model_provider_id: str = "openai"
    model_provider: ModelProviderInfo = field(
        default_factory=lambda: ModelProviderInfo(
            id="openai",
            name="OpenAI",
            base_url="https://api.openai.com/v1",
            wire_api="responses",
            requires_openai_auth=True,
        )
    )
    approval_policy: ApprovalPolicy = "on-request"
    sandbox_policy: SandboxPolicy = field(default_factory=SandboxPolicy)
    shell_environment_policy: ShellEnvironmentPolicy = field(default_factory=ShellEnvironmentPolicy)
    model_reasoning_effort: str | None = None
    model_reasoning_summary: str = "auto"
    model_verbosity: str | None = None
    model_supports_reasoning_summaries: bool | None = None
    model_context_window: int | None = None
    model_max_output_tokens: int | None = None
    model_auto_compact_token_limit: int | None = None
    hide_agent_reasoning: bool = False
    show_raw_agent_reasoning: bool = False
    project_doc_max_bytes: int = DEFAULT_PROJECT_DOC_MAX_BYTES
    project_doc_fallback_filenames: tuple[str, ...] = ()
    notify: tuple[str, ...] | None = None
    user_instructions: str | None = None  # `instructions` key
    base_instructions: str | None = None  # tool arg, or experimental/model_instructions_file
    developer_instructions: str | None = None
    compact_prompt: str | None = None
    profile: str | None = None
    mcp_servers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    server: ServerSettings = field(default_factory=ServerSettings)
    # What each writable (and readable) root of the sandbox was when the thread's config was
    # made: (path as configured, (st_dev, st_ino) or None when absent).  A root that is
    # another directory later (moved, replaced, re-pointed by another session's command)
    # makes commands refuse to run (`sandbox.boundary.root_identities`).  Empty: not checked.
    root_identities: tuple[tuple[str, tuple[int, int] | None], ...] = ()
    family_overrides: FamilyOverrides = field(default_factory=FamilyOverrides)
    """What the config changes in the model family's contract (`families.resolve_family`):
    unlike the fields above, a value the config does not set stays None."""
    config_warnings: tuple[str, ...] = ()
    """Values and keys that were ignored, for the client to be told (a `warning` event)."""
    experimental_resume: Path | None = None
    """A rollout file a new session resumes instead of starting empty (inside
    `$CODEX_HOME/sessions` only)."""
    network_proxy: ProxySettings = field(default_factory=ProxySettings)
    """`[network_proxy]`: with the sandbox's network off, commands may still reach hosts
    through the server's proxy (allow-list, or the person's answer per host)."""
