"""Which tools have handlers, and the dispatch of the model's calls to them.

Every handler returns the output text; this module wraps it in the output item that
matches the call (`function_call_output` or `custom_tool_call_output`), so a handler never
has to know which wire or which call shape brought it.
"""

from __future__ import annotations

import json
from typing import Any

from codex_mcp.agent.families import ShellKind
from codex_mcp.agent.handlers.context import HandlerContext
from codex_mcp.agent.items import output_item
from codex_mcp.agent.model.types import ResponseItem

# --- what is served ------------------------------------------------------------------------

SERVED_SHELL_KINDS: frozenset[ShellKind] = frozenset({"unified_exec", "shell_command"})
"""The shell tools offered to the model.  The tool list (`tool_specs.tool_specs_for`) offers a
family its own shell tool when it is here, else the nearest one that is
(`tool_specs.SHELL_FALLBACKS`): a family trained on the argv `shell` tool or the built-in
`local_shell` is offered `shell_command`.  Their calls are still dispatched below, for a
model that calls them anyway."""

PARALLEL_SAFE = frozenset(
    {
        "exec_command",
        "shell_command",
        "shell",
        "container.exec",
        "update_plan",
        "view_image",
        "local_shell_call",
    }
)
"""Tools whose calls may run side by side when the family asks for parallel tool calls: they
read, or run commands the sandbox confines; patches and questions to the person run alone."""


def runs_in_parallel(call: ResponseItem) -> bool:
    """Whether `call` may run alongside other calls of its round."""
    if call.get("type") == "local_shell_call":
        return True
    if call.get("type") != "function_call":
        return False
    name = str(call.get("name", ""))
    return name in PARALLEL_SAFE or name.startswith("mcp__")


# --- dispatch ---------------------------------------------------------------------------


def _parse_arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    parsed = json.loads(raw or "{}")
    if not isinstance(parsed, dict):
        raise ValueError("the arguments must be a JSON object")
    return parsed


async def dispatch_tool_call(ctx: HandlerContext, call: ResponseItem) -> ResponseItem:
    """The output item answering `call`.  Each handler is imported when first called: with
    them the exec machinery, the sandbox backends and the patch engine, which a call that
    runs no tool never needs (a sixth of a first call's imports)."""
    from codex_mcp.agent.handlers import (
        exec_command,
        patch,
        plan,
        shell,
        shell_command,
        user_input,
        view_image,
        write_stdin,
    )

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
    elif name == "request_user_input":
        output = await user_input.handle_request_user_input(ctx, call_id, args)
    elif name.startswith("mcp__") and ctx.mcp is not None:
        return output_item(call, await ctx.mcp.call(call_id, name, args, ctx.emit))
    else:
        output = f"unsupported call: {name}"
    return output_item(call, output)
