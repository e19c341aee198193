"""The tools the model is offered, and the dispatch of its calls to their handlers.

Every handler returns the output text; this module wraps it in the output item that
matches the call (`function_call_output` or `custom_tool_call_output`), so a handler never
has to know which wire or which call shape brought it.
"""

from __future__ import annotations

import json
from typing import Any

from codex_mcp.agent.config.model import Config
from codex_mcp.agent.handlers import (
    exec_command,
    patch,
    plan,
    shell,
    shell_command,
    view_image,
    write_stdin,
)
from codex_mcp.agent.handlers.context import HandlerContext
from codex_mcp.agent.items import output_item
from codex_mcp.agent.model.types import ResponseItem, ToolSpec

# --- specs ------------------------------------------------------------------------------


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> ToolSpec:
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


UPDATE_PLAN_SPEC = _function(
    "update_plan",
    "Record or update your plan for the task: a few short steps, each pending, in_progress or "
    "completed, with at most one in_progress at a time.",
    {
        "explanation": {"type": "string", "description": "Optional note about what changed."},
        "plan": {
            "type": "array",
            "description": "The steps, in order.",
            "items": {
                "type": "object",
                "properties": {
                    "step": {"type": "string"},
                    "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                },
                "required": ["step", "status"],
                "additionalProperties": False,
            },
        },
    },
    ["plan"],
)

VIEW_IMAGE_SPEC = _function(
    "view_image",
    "Look at a local image file (a screenshot, a chart, a diagram): it is attached to the conversation.",
    {"path": {"type": "string", "description": "Path of the image file, relative to the working directory."}},
    ["path"],
)


# >>> shell tool choice (process sessions) >>>
def shell_tool_specs(config: Config) -> list[ToolSpec]:
    """The shell tool(s) the model is offered: `exec_command` + `write_stdin` when its family
    (or `[features] unified_exec = true`) uses process sessions, else `shell_command`; none
    with `[features] shell_tool = false`.  The argv `shell` tool is no longer offered (its
    calls are still served, for a model trained on it)."""
    from codex_mcp.agent.families import resolve_family
    from codex_mcp.agent.tool_specs import exec_command_tool, shell_command_tool, write_stdin_tool

    kind = resolve_family(config.model, config.family_overrides).shell
    if kind == "none":
        return []
    if kind == "unified_exec":
        return [exec_command_tool(), write_stdin_tool()]
    return [shell_command_tool()]


# <<< shell tool choice (process sessions) <<<


def build_tool_specs(config: Config) -> list[ToolSpec]:
    from codex_mcp.agent.apply_patch import custom_tool_spec, function_tool_spec

    patch_spec = custom_tool_spec() if config.model_provider.wire_api == "responses" else function_tool_spec()
    return [*shell_tool_specs(config), UPDATE_PLAN_SPEC, patch_spec, VIEW_IMAGE_SPEC]


# --- dispatch ---------------------------------------------------------------------------


def _parse_arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    parsed = json.loads(raw or "{}")
    if not isinstance(parsed, dict):
        raise ValueError("the arguments must be a JSON object")
    return parsed


async def dispatch_tool_call(ctx: HandlerContext, call: ResponseItem) -> ResponseItem:
    kind = call.get("type")
    name = call.get("name", "")
    call_id = str(call.get("call_id") or call.get("id") or "")
    if kind == "local_shell_call":
        action = call.get("action") or {}
        args = {
            "command": action.get("command"),
            "workdir": action.get("working_directory"),
            "timeout_ms": action.get("timeout_ms"),
        }
        return output_item(call, await shell.handle_shell(ctx, call_id, args))
    if kind == "custom_tool_call":
        if name == "apply_patch":
            return output_item(call, await patch.handle_apply_patch(ctx, call_id, str(call.get("input", ""))))
        return output_item(call, f"unsupported custom tool: {name}")
    try:
        args = _parse_arguments(call.get("arguments"))
    except ValueError as exc:
        return output_item(call, f"failed to parse function arguments: {exc}")
    if name == "exec_command":
        output = await exec_command.handle_exec_command(ctx, call_id, args)
    elif name == "write_stdin":
        output = await write_stdin.handle_write_stdin(ctx, call_id, args)
    elif name == "shell_command":
        output = await shell_command.handle_shell_command(ctx, call_id, args)
    elif name in ("shell", "container.exec"):
        output = await shell.handle_shell(ctx, call_id, args)
    elif name == "apply_patch":
        output = await patch.handle_apply_patch(ctx, call_id, str(args.get("input", "")))
    elif name == "update_plan":
        output = await plan.handle_update_plan(ctx, args)
    elif name == "view_image":
        output = await view_image.handle_view_image(ctx, call_id, args)
    elif name.startswith("mcp__") and ctx.mcp is not None:
        return output_item(call, await ctx.mcp.call(call_id, name, args, ctx.emit))
    else:
        output = f"unsupported call: {name}"
    return output_item(call, output)
