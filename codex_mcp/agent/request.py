"""The model contract of one thread, and the request of each sampling round.

A thread resolves its model family once (`families.resolve_family`: the catalogue entry for
the slug, the person's config on top) and derives from it what every request carries: the
base instructions written for that family and the shell tool it is actually served, the
built-in tools (`tool_specs.tool_specs_for`), the family's top-level fields
(`request_fields`) and who is asking (`request_headers`).  `Contract.prompt` then builds one
request from the history; the model client only maps it onto its wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from codex_mcp._version import __version__
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.families import ModelFamily, ShellKind, resolve_family
from codex_mcp.agent.instructions import resolve_base_instructions
from codex_mcp.agent.model.types import Prompt, ResponseItem, ToolSpec
from codex_mcp.agent.request_fields import build_prompt, is_azure_responses_endpoint
from codex_mcp.agent.request_headers import (
    DEFAULT_ORIGINATOR,
    ClientIdentity,
    TurnIds,
    client_metadata,
    detect_os_label,
    request_headers,
    sandbox_tag,
    terminal_label,
)
from codex_mcp.agent.tool_specs import ToolFeatures, served_shell, tool_specs_for

ORIGINATOR_ENV = "CODEX_INTERNAL_ORIGINATOR_OVERRIDE"
"""The environment variable Codex reads for its originator; honoured here too."""


def originator_for(config: Config, env: Mapping[str, str]) -> str:
    """`[codex_mcp] originator`, else the environment override, else ours."""
    configured = config.server.originator or env.get(ORIGINATOR_ENV, "").strip()
    return configured or DEFAULT_ORIGINATOR


def tool_features(config: Config, shell_kinds: frozenset[ShellKind] | None) -> ToolFeatures:
    return ToolFeatures(
        sandbox_mode=config.sandbox_policy.mode,
        wire_api="chat" if config.model_provider.wire_api == "chat" else "responses",
        shell_kinds=shell_kinds,
    )


@dataclass
class Contract:
    """What every request of a thread carries, decided once when the thread is made."""

    family: ModelFamily
    instructions: str
    tools: list[ToolSpec]
    """The built-in tools (MCP tools are added per request, once their servers started)."""
    shell: ShellKind
    """The shell tool the family is actually served (see `tool_specs.served_shell`)."""
    identity: ClientIdentity
    installation_id: str
    azure: bool = False
    builtin_openai: bool = False
    sandbox: str = "seccomp"
    warnings: list[str] = field(default_factory=list)

    def with_client(self, name: str | None, version: str | None) -> Contract:
        """The same contract, for requests made on behalf of another MCP client."""
        if not name:
            return self
        return replace(self, identity=replace(self.identity, client_name=name, client_version=version))

    def prompt(
        self,
        input: list[ResponseItem],
        *,
        extra_tools: list[ToolSpec] | None = None,
        thread_id: str,
        turn_id: str,
        window: int = 0,
        turn_started_ms: int = 0,
        request_kind: str = "turn",
        tools: bool = True,
    ) -> Prompt:
        """One request: the history, the tools, the family's fields and this turn's ids."""
        ids = TurnIds(
            installation_id=self.installation_id,
            thread_id=thread_id,
            turn_id=turn_id,
            window=window,
            sandbox=self.sandbox,
            turn_started_at_unix_ms=turn_started_ms,
            request_kind=request_kind,
        )
        offered = [*self.tools, *(extra_tools or [])] if tools else []
        return build_prompt(
            self.family,
            instructions=self.instructions,
            input=input,
            tools=offered,
            prompt_cache_key=thread_id,
            azure=self.azure,
            client_metadata=client_metadata(ids),
            headers=request_headers(self.identity, ids, builtin_openai=self.builtin_openai),
        )


def make_contract(
    config: Config,
    *,
    env: Mapping[str, str],
    installation_id: str,
    shell_kinds: frozenset[ShellKind] | None,
    instructions: str | None = None,
    client: tuple[str, str | None] | None = None,
) -> Contract:
    """The contract of a thread with `config` (pure apart from reading the OS name once).

    `instructions` are a resumed thread's recorded ones (what the model saw so far);
    otherwise they follow from the family, the shell it is served and the overrides.
    `shell_kinds` are the shell tools whose handlers this server has.
    """
    family = resolve_family(config.model, config.family_overrides)
    features = tool_features(config, shell_kinds)
    shell = served_shell(family, features)
    text = instructions or resolve_base_instructions(
        family,
        override=config.base_instructions,
        config_instructions=config.user_instructions,
        shell=shell,
    )
    provider = config.model_provider
    identity = ClientIdentity(
        originator=originator_for(config, env),
        version=__version__,
        os_label=detect_os_label(),
        terminal=terminal_label(env),
        client_name=client[0] if client else None,
        client_version=client[1] if client else None,
    )
    return Contract(
        family=family,
        instructions=text,
        tools=tool_specs_for(family, features),
        shell=shell,
        identity=identity,
        installation_id=installation_id,
        azure=is_azure_responses_endpoint(provider.id, provider.base_url, provider.wire_api)
        or is_azure_responses_endpoint(provider.name, None, provider.wire_api),
        builtin_openai=provider.id == "openai",
        sandbox=sandbox_tag(config.sandbox_policy.mode),
        warnings=list(family.warnings),
    )
