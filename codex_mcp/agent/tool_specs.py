"""The tools offered to a model, as its family was trained to see them.

Parameter names, types, enums, `required`, `additionalProperties: false` and `strict: false`
are the wire contract and match what Codex 0.147 sends; the description texts are ours.
Properties are listed alphabetically and each property has its keys in the order type,
description, then enum/items, as Codex serialises them, so a request is byte-stable
across turns (prompt caching) and comparable with the reference's.

Order: the shell tool(s), update_plan, request_user_input, apply_patch, view_image, then the
hosted web_search.  MCP tools are appended by the caller.  Not offered: `tool_search` (we
have no deferred tools for it to find) and the `multi_agent_v1` namespace (no sub-agents).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from codex_mcp.agent.apply_patch.tool_spec import custom_tool_spec, function_tool_spec
from codex_mcp.agent.families import ModelFamily, ShellKind
from codex_mcp.sandbox.policy import SandboxMode

ToolSpec = dict[str, Any]
LOGIN = "Whether to run it as a login shell (reads the profile); default true."
WireApi = Literal["responses", "chat"]


@dataclass(frozen=True)
class ToolFeatures:
    """Facts of the session (not of the model) that change the tool list."""

    sandbox_mode: SandboxMode = "workspace-write"
    wire_api: WireApi = "responses"
    exec_sessions: bool = True
    """Whether `exec_command`/`write_stdin` are served; without them a family that wants
    them gets `shell_command`, the same contract minus the long-running sessions."""
    shell_kinds: frozenset[ShellKind] | None = None
    """The shell tools whose handlers this server has (None: all of them).  A family whose
    own kind is not among them gets the nearest one that is (`SHELL_FALLBACKS`)."""
    update_plan: bool = True
    request_user_input: bool = True


def _prop(kind: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "description": description, **extra}


def function_tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> ToolSpec:
    return {
        "type": "function",
        "name": name,
        "description": description,
        "strict": False,
        "parameters": {
            "type": "object",
            "properties": dict(sorted(properties.items())),
            "required": required,
            "additionalProperties": False,
        },
    }


def approval_properties() -> dict[str, Any]:
    """How a command asks to leave the sandbox, and proposes a rule for next time."""
    return {
        "sandbox_permissions": _prop(
            "string",
            "`use_default` runs the command in the sandbox; `require_escalated` asks the person "
            "to let it run without the sandbox.",
            enum=["use_default", "require_escalated"],
        ),
        "justification": _prop(
            "string",
            "With require_escalated: one short question the person answers to allow it.",
        ),
        "prefix_rule": _prop(
            "array",
            "With require_escalated: an optional command prefix (argv words) the person may "
            "approve for later commands that start with it.",
            items={"type": "string"},
        ),
    }


def exec_command_tool() -> ToolSpec:
    return function_tool(
        "exec_command",
        "Start a command in a terminal session; returns its output so far, or a session id "
        "while it keeps running.",
        {
            "cmd": _prop("string", "The command line to run."),
            "workdir": _prop("string", "Directory to run in; defaults to the session's cwd."),
            "shell": _prop("string", "Shell binary to run the command with; defaults to the user's."),
            "login": _prop("boolean", LOGIN),
            "tty": _prop("boolean", "Give the command a pseudo-terminal, for interactive programs."),
            "yield_time_ms": _prop(
                "number", "How long to wait for output before returning; the command keeps running."
            ),
            "max_output_tokens": _prop(
                "number", "Output beyond this many tokens is cut from the middle of what is returned."
            ),
            **approval_properties(),
        },
        ["cmd"],
    )


def write_stdin_tool() -> ToolSpec:
    return function_tool(
        "write_stdin",
        "Type characters into a running exec_command session and return its newest output.",
        {
            "session_id": _prop("number", "The session id exec_command returned."),
            "chars": _prop("string", "Characters to send; leave empty to only poll for output."),
            "yield_time_ms": _prop("number", "How long to wait for output after writing."),
            "max_output_tokens": _prop(
                "number", "Output beyond this many tokens is cut from the middle of what is returned."
            ),
        },
        ["session_id"],
    )


def shell_command_tool() -> ToolSpec:
    return function_tool(
        "shell_command",
        "Run a command line in the user's shell and return its exit code and output. Set "
        "`workdir` instead of starting the command with cd.",
        {
            "command": _prop("string", "The command line, as typed at a shell prompt."),
            "workdir": _prop("string", "Directory to run in; defaults to the session's cwd."),
            "timeout_ms": _prop("number", "Kill the command after this many milliseconds."),
            "login": _prop("boolean", LOGIN),
            **approval_properties(),
        },
        ["command"],
    )


def shell_tool() -> ToolSpec:
    return function_tool(
        "shell",
        "Run a program and return its exit code and output. `command` is an argv list passed "
        'to execvp(); for pipes, redirects or globs use ["bash", "-lc", "<script>"]. Set '
        "`workdir` instead of using cd.",
        {
            "command": _prop("array", "The program and its arguments.", items={"type": "string"}),
            "workdir": _prop("string", "Directory to run in; defaults to the session's cwd."),
            "timeout_ms": _prop("number", "Kill the command after this many milliseconds."),
            **approval_properties(),
        },
        ["command"],
    )


def update_plan_tool() -> ToolSpec:
    return function_tool(
        "update_plan",
        "Share your plan for the task and keep it current: short steps, each pending, "
        "in_progress or completed, with at most one in_progress at a time.",
        {
            "explanation": _prop("string", "Optional note on what changed and why."),
            "plan": _prop(
                "array",
                "The steps, in order.",
                items={
                    "type": "object",
                    "properties": {
                        "status": _prop(
                            "string", "Where the step is.", enum=["pending", "in_progress", "completed"]
                        ),
                        "step": _prop("string", "What the step does."),
                    },
                    "required": ["step", "status"],
                    "additionalProperties": False,
                },
            ),
        },
        ["plan"],
    )


def request_user_input_tool() -> ToolSpec:
    option = {
        "type": "object",
        "properties": {
            "description": _prop("string", "One sentence on what choosing it means."),
            "label": _prop("string", "The choice, in a few words."),
        },
        "required": ["label", "description"],
        "additionalProperties": False,
    }
    question = {
        "type": "object",
        "properties": {
            "header": _prop("string", "A short title shown above the question."),
            "id": _prop("string", "A stable identifier; the answer is keyed by it."),
            "options": _prop(
                "array",
                "Two or three likely answers, the recommended one first; the person may also "
                "answer in their own words.",
                items=option,
            ),
            "question": _prop("string", "The question, in one sentence."),
        },
        "required": ["id", "header", "question", "options"],
        "additionalProperties": False,
    }
    return function_tool(
        "request_user_input",
        "Ask the person one to three short questions when a decision is theirs to make; "
        "returns their answers.",
        {"questions": _prop("array", "The questions to ask, in order.", items=question)},
        ["questions"],
    )


def view_image_tool(detail_original: bool) -> ToolSpec:
    properties: dict[str, Any] = {"path": _prop("string", "Path of a local image file.")}
    if detail_original:
        properties["detail"] = _prop(
            "string",
            "`high` (the default) may downscale a large image; `original` keeps every pixel.",
            enum=["high", "original"],
        )
    return function_tool(
        "view_image",
        "Look at a local image (a screenshot, chart or diagram): it is added to what you see.",
        properties,
        ["path"],
    )


def web_search_tool(family: ModelFamily, sandbox_mode: SandboxMode) -> ToolSpec:
    """The hosted search tool.  Live (the open web) when configured live or when the session
    has no sandbox at all, as the reference does; otherwise results come from the cache."""
    spec: ToolSpec = {
        "type": "web_search",
        "external_web_access": family.web_search == "live" or sandbox_mode == "danger-full-access",
    }
    if family.web_search_content == "text_and_image":
        spec["search_content_types"] = ["text", "image"]
    return spec


def shell_tools(kind: ShellKind) -> list[ToolSpec]:
    if kind == "unified_exec":
        return [exec_command_tool(), write_stdin_tool()]
    if kind == "shell_command":
        return [shell_command_tool()]
    if kind == "shell":
        return [shell_tool()]
    if kind == "local_shell":
        return [{"type": "local_shell"}]
    return []


SHELL_FALLBACKS: dict[ShellKind, tuple[ShellKind, ...]] = {
    "unified_exec": ("shell_command", "shell"),
    "shell_command": ("shell",),
    "local_shell": ("shell_command", "shell"),
    "shell": ("shell_command",),
    "none": (),
}
"""What a family is offered when its own shell tool is not served, nearest contract first
(an argv `shell` model is offered `shell_command`: one command line instead of an argv)."""


def served_shell(family: ModelFamily, features: ToolFeatures | None = None) -> ShellKind:
    """The shell tool `family` is offered in a session with `features` (pure)."""
    f = features or ToolFeatures()
    shell: ShellKind = family.shell
    if shell == "unified_exec" and not f.exec_sessions:
        shell = "shell_command"
    if shell == "local_shell" and f.wire_api == "chat":
        shell = "shell"  # Chat Completions has no built-in tools
    if f.shell_kinds is None or shell in f.shell_kinds:
        return shell
    return next((alt for alt in SHELL_FALLBACKS[shell] if alt in f.shell_kinds), "none")


def tool_specs_for(family: ModelFamily, features: ToolFeatures | None = None) -> list[ToolSpec]:
    """The built-in tools for one request of `family` (pure): the one place the offered list
    is put together.  The shell tools come from `served_shell`."""
    f = features or ToolFeatures()
    chat = f.wire_api == "chat"
    tools = shell_tools(served_shell(family, f))
    if f.update_plan:
        tools.append(update_plan_tool())
    if f.request_user_input:
        tools.append(request_user_input_tool())
    if family.apply_patch == "freeform" and not chat:
        tools.append(custom_tool_spec())
    elif family.apply_patch != "none":
        tools.append(function_tool_spec())
    if family.view_image:
        tools.append(view_image_tool(family.image_detail_original))
    if family.web_search != "disabled" and not chat:
        tools.append(web_search_tool(family, f.sandbox_mode))
    return tools
