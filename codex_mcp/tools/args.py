"""The arguments of our MCP tools, as pydantic models: the single source of their schemas.

`tools/list` publishes schemas generated from these models (see `schema_gen`), and they
define which `tools/call` arguments are valid, so the published contract and the checks can
never drift apart.  A plainly valid call is accepted by `call_args` without importing this
module (pydantic is the most expensive import of a first call); every other call is judged,
and its error worded, here.  Property names follow the original server: kebab-case for
`codex`, camelCase for `codex-reply`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from codex_mcp.tools.names import CODEX_TOOL_NAME as CODEX_TOOL_NAME
from codex_mcp.tools.names import REPLY_TOOL_NAME as REPLY_TOOL_NAME

CODEX_TOOL_TITLE = "Codex"
CODEX_TOOL_DESCRIPTION = (
    "Start a new Codex agent session on a coding task. The agent reads the workspace, runs shell "
    "commands in a sandbox, edits files with patches and keeps a plan, streaming its progress as "
    "notifications, and returns its final answer together with a threadId. Pass that threadId to "
    "codex-reply to continue the same session later. Optional arguments override the matching "
    "settings of $CODEX_HOME/config.toml for this session only."
)
REPLY_TOOL_TITLE = "Codex Reply"
REPLY_TOOL_DESCRIPTION = (
    "Send a follow-up prompt to an existing Codex session, identified by the threadId that the "
    "codex tool returned. The agent keeps the full history of the session, including sessions "
    "started before the server was restarted."
)

ApprovalPolicyArg = Literal["untrusted", "on-failure", "on-request", "never"]
SandboxArg = Literal["read-only", "workspace-write", "danger-full-access"]


class CodexToolArgs(BaseModel):
    """Arguments of the `codex` tool."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    prompt: str = Field(
        description="The task or question for the agent: the first user message of the session."
    )
    model: str | None = Field(
        default=None, description="Model to use instead of the configured one, e.g. `gpt-5-codex` or `o3`."
    )
    profile: str | None = Field(
        default=None,
        description="Name of a `[profiles.<name>]` table of config.toml whose settings to apply.",
    )
    cwd: str | None = Field(
        default=None,
        description="Working directory of the session. A relative path is resolved against the "
        "server's working directory; the directory must exist. Under workspace-write it becomes "
        "writable, so the filesystem root, the home directory itself and system directories are refused.",
    )
    approval_policy: ApprovalPolicyArg | None = Field(
        default=None,
        alias="approval-policy",
        description="When the agent must ask before running a command: `untrusted` (anything not known "
        "to be read-only), `on-failure` (when a sandboxed command fails), `on-request` (when the model "
        "asks for more permissions) or `never`.",
    )
    sandbox: SandboxArg | None = Field(
        default=None,
        description="What commands may touch: `read-only`, `workspace-write` (the working directory and "
        "temp dirs, no network) or `danger-full-access` (no sandbox; only if the server's configuration "
        "lets calls choose it).",
    )
    config: dict[str, Any] | None = Field(
        default=None,
        description="Settings that override $CODEX_HOME/config.toml for this session, as dotted keys "
        'with JSON values, e.g. {"model_reasoning_effort": "high"}. Settings of the model and its '
        "instructions are accepted; others (programs, providers, sandbox roots) only where the server's "
        "configuration allows them.",
    )
    base_instructions: str | None = Field(
        default=None,
        alias="base-instructions",
        description="Replaces the agent's built-in system instructions.",
    )
    developer_instructions: str | None = Field(
        default=None,
        alias="developer-instructions",
        description="Additional instructions, given to the model as a developer message.",
    )
    compact_prompt: str | None = Field(
        default=None,
        alias="compact-prompt",
        description="Instructions used when the conversation is summarised to fit the context window.",
    )


class CodexReplyArgs(BaseModel):
    """Arguments of the `codex-reply` tool."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    prompt: str = Field(description="The next message for the agent.")
    thread_id: str | None = Field(
        default=None,
        alias="threadId",
        description="The threadId returned by an earlier codex call. Logically required; optional only so "
        "that clients still sending conversationId keep working.",
    )
    conversation_id: str | None = Field(
        default=None,
        alias="conversationId",
        description="Deprecated name of threadId, accepted for older clients.",
    )


class ToolOutput(BaseModel):
    """`structuredContent` of both tools' results."""

    thread_id: str = Field(alias="threadId")
    content: str


def describe_validation_error(tool: str, exc: ValidationError) -> str:
    """One readable sentence per problem, each naming the argument it is about."""
    problems: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err.get("loc", ())) or "arguments"
        kind = err.get("type", "")
        if kind == "missing":
            problems.append(f"missing required argument `{loc}`")
        elif kind == "extra_forbidden":
            problems.append(f"unknown argument `{loc}`")
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            problems.append(f"invalid value {err.get('input')!r} for `{loc}`: expected {expected}")
        elif kind.endswith("_type"):
            problems.append(f"`{loc}` has the wrong type: {err.get('msg', '').lower()}")
        else:
            problems.append(f"`{loc}`: {err.get('msg', 'invalid value')}")
    return f"Invalid arguments for the {tool} tool: " + "; ".join(problems)


# --- validating a call's arguments (whatever `call_args` does not accept at once) --------


def validate_codex_args(arguments: dict[str, Any]) -> dict[str, Any] | str:
    """The `codex` call's arguments as the model reads them (by attribute), or the error text."""
    try:
        return dict(CodexToolArgs.model_validate(arguments))
    except ValidationError as exc:
        return describe_validation_error(CODEX_TOOL_NAME, exc)


def validate_reply_args(arguments: dict[str, Any]) -> dict[str, Any] | str:
    """The `codex-reply` call's arguments as the model reads them (by attribute), or the error text."""
    try:
        return dict(CodexReplyArgs.model_validate(arguments))
    except ValidationError as exc:
        return describe_validation_error(REPLY_TOOL_NAME, exc)
