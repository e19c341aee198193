"""`view_image`: attach a local image so the model sees it in the next request.

The bytes leave the machine for the model provider, on the model's say-so: only a regular
file whose content is an image is sent (see `images`), each at most `MAX_IMAGE_BYTES`, and
at most `MAX_TURN_IMAGE_BYTES` in one turn, because every attached image stays in the
history and is sent again with every later request.
"""

from __future__ import annotations

import errno
from typing import Any

from codex_mcp.agent import events as ev
from codex_mcp.agent.handlers.confine import command_env, session_boundary
from codex_mcp.agent.handlers.context import HandlerContext
from codex_mcp.agent.handlers.images import NotAnImageError, aimage_data_url
from codex_mcp.agent.limits import MAX_IMAGE_BYTES, MAX_TURN_IMAGE_BYTES, describe_bytes
from codex_mcp.sandbox.boundary import BoundaryError

MAX_PATH_CHARS = 4096
DETAILS = ("high", "original")
"""`high` (the default) lets the provider scale a large image down; `original` asks for
every pixel, for the families trained on it (others get the default)."""


async def handle_view_image(ctx: HandlerContext, call_id: str, args: dict[str, Any]) -> str:
    raw = args.get("path")
    if not isinstance(raw, str) or not raw:
        return "failed to parse function arguments: `path` must be a non-empty string"
    if len(raw) > MAX_PATH_CHARS or "\x00" in raw:
        return "failed to parse function arguments: `path` is not a usable file path"
    detail = args.get("detail")
    if detail is not None and detail not in DETAILS:
        return "failed to parse function arguments: `detail` must be `high` or `original`"
    path = ctx.config.cwd / raw
    remaining = MAX_TURN_IMAGE_BYTES - ctx.image_bytes
    if remaining <= 0:
        return (
            f"unable to attach `{path}`: the images attached in this turn already total "
            f"{describe_bytes(MAX_TURN_IMAGE_BYTES)}, the limit for one turn"
        )
    limit = min(MAX_IMAGE_BYTES, remaining)
    config = ctx.config
    try:  # the image leaves the machine: it may be only what the model's own commands could read
        allow = session_boundary(config, command_env(config)).allows_read
    except BoundaryError as exc:
        return f"unable to attach `{path}`: {exc}"
    try:
        url, size = await aimage_data_url(path, limit=limit, allow_path=allow)
    except NotAnImageError as exc:
        return f"unable to attach `{path}`: {exc.strerror}"
    except FileNotFoundError:
        return f"unable to locate image at `{path}`"
    except OSError as exc:
        if exc.errno == errno.EFBIG and limit < MAX_IMAGE_BYTES:
            return (
                f"unable to attach `{path}`: it is larger than what is left of the "
                f"{describe_bytes(MAX_TURN_IMAGE_BYTES)} of images one turn may attach"
            )
        return f"unable to read image at `{path}`: {exc.strerror or exc}"
    ctx.image_bytes += size
    part: dict[str, Any] = {"type": "input_image", "image_url": url}
    if detail == "original" and ctx.image_detail_original:
        part["detail"] = "original"
    ctx.pending_input.append({"type": "message", "role": "user", "content": [part]})
    await ctx.emit(ev.view_image_tool_call(call_id, str(path)))
    return "attached local image path"
