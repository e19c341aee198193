"""The tools the model is offered, and the dispatch of its calls to their handlers.

Every handler returns the output text; this module wraps it in the output item that
matches the call (`function_call_output` or `custom_tool_call_output`), so a handler never
has to know which wire or which call shape brought it.
"""

from __future__ import annotations

import json
from typing import Any

from codex_mcp.agent.config.model import Config
from codex_mcp.agent.handlers import patch, plan, shell, view_image
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


SHELL_SPEC = _function(
    "shell",
    "Run a command and get its output. `command` is an argv list passed to execvp(); for shell syntax "
    '(pipes, redirects, globs) use ["bash", "-lc", "<script>"]. Set `workdir` rather than using cd.',
    {
        "command": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The command and its arguments.",
        },
        "workdir": {"type": "string", "description": "Directory to run in (default: the session's cwd)."},
        "timeout_ms": {"type": "number", "description": "Time limit in milliseconds (default 10000)."},
        "with_escalated_permissions": {
            "type": "boolean",
            "description": "Ask the user to run this command outside the sandbox.",
        },
        "justification": {
            "type": "string",
            "description": "One sentence telling the user why escalation is needed.",
        },
    },
    ["command"],
)

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


def build_tool_specs(config: Config) -> list[ToolSpec]:
    from codex_mcp.agent.apply_patch import custom_tool_spec, function_tool_spec

    patch_spec = custom_tool_spec() if config.model_provider.wire_api == "responses" else function_tool_spec()
    return [SHELL_SPEC, UPDATE_PLAN_SPEC, patch_spec, VIEW_IMAGE_SPEC]


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
    if name in ("shell", "container.exec"):
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
