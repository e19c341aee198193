"""`view_image`: attach a local image so the model sees it in the next request."""

from __future__ import annotations

from typing import Any

from codex_mcp.agent.tools.context import ToolContext
from codex_mcp.agent.tools.images import image_data_url

MAX_IMAGE_BYTES = 20 * 1024 * 1024


async def handle_view_image(ctx: ToolContext, call_id: str, args: dict[str, Any]) -> str:
    raw = args.get("path")
    if not isinstance(raw, str) or not raw:
        return "failed to parse function arguments: `path` must be a non-empty string"
    path = ctx.thread.config.cwd / raw
    try:
        if not path.is_file():
            return f"unable to locate image at `{path}`"
        if path.stat().st_size > MAX_IMAGE_BYTES:
            return f"image at `{path}` is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB"
        url = image_data_url(path)
    except OSError as exc:
        return f"unable to read image at `{path}`: {exc.strerror or exc}"
    ctx.pending_input.append(
        {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": url}]}
    )
    await ctx.thread.emit(
        ctx.turn_id, {"type": "view_image_tool_call", "call_id": call_id, "path": str(path)}
    )
    return "attached local image path"
