"""What the model gets back from an MCP tool call.

* `structuredContent` (when present and not null) is the most faithful answer: its JSON.
* Otherwise the content blocks: text-like blocks become text, and when there are images the
  output is a list of content items (`input_text` / `input_image`), which the Responses API
  accepts as a `function_call_output`; without images it stays one string, which every wire
  accepts.
* Failures (timeouts, protocol errors, a dead server) are text for the model, never an
  exception: the turn goes on.

Text is cut to the exec-output budget, so one chatty server cannot fill the context window.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from codex_mcp.agent.exec.format import truncate_for_model

log = logging.getLogger(__name__)

ToolOutput = str | list[dict[str, Any]]

MAX_IMAGE_DATA_CHARS = 20 * 1024 * 1024
MAX_IMAGES = 8


def _block_text(block: dict[str, Any]) -> str | None:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return text if isinstance(text, str) else json.dumps(text)
    if kind == "resource":
        resource = block.get("resource")
        if isinstance(resource, dict) and isinstance(resource.get("text"), str):
            return str(resource["text"])
        return json.dumps(block, ensure_ascii=False)
    if kind == "resource_link":
        return f"[resource: {block.get('uri')}]" + (f" {block['name']}" if block.get("name") else "")
    if kind == "audio":
        return f"[audio content ({block.get('mimeType', 'unknown type')}) omitted]"
    return None


def _image_url(block: dict[str, Any]) -> str | None:
    data = block.get("data")
    mime = block.get("mimeType") or "image/png"
    if not isinstance(data, str) or not isinstance(mime, str) or not mime.startswith("image/"):
        return None
    if len(data) > MAX_IMAGE_DATA_CHARS:
        return None
    return f"data:{mime};base64,{data}"


def result_to_model_output(result: dict[str, Any]) -> ToolOutput:
    """A `CallToolResult` as the `output` of the call's `function_call_output`."""
    structured = result.get("structuredContent")
    if structured is not None:
        return truncate_for_model(json.dumps(structured, ensure_ascii=False))
    content = result.get("content")
    if not isinstance(content, list):
        return truncate_for_model(json.dumps(result, ensure_ascii=False))
    blocks = [b for b in content if isinstance(b, dict)]
    if not any(b.get("type") == "image" for b in blocks):
        texts = [_block_text(b) for b in blocks]
        joined = "\n".join(t if t is not None else json.dumps(b) for t, b in zip(texts, blocks, strict=True))
        return truncate_for_model(joined)
    items: list[dict[str, Any]] = []
    images = 0
    for block in blocks:
        if block.get("type") == "image":
            url = _image_url(block)
            if url is None or images >= MAX_IMAGES:
                items.append({"type": "input_text", "text": "[an image was omitted: unusable or too large]"})
                continue
            images += 1
            items.append({"type": "input_image", "image_url": url})
            continue
        text = _block_text(block)
        items.append({"type": "input_text", "text": truncate_for_model(text or json.dumps(block))})
    return items


async def checked_model_output(result: dict[str, Any], output_schema: Any) -> ToolOutput:
    """`result_to_model_output`, after checking `structuredContent` against the tool's
    `outputSchema`: a structured result that breaks it is not used (the model gets the
    content blocks), since the server's own contract says it is wrong."""
    structured = result.get("structuredContent")
    if output_schema is not None and structured is not None:
        from codex_mcp.agent.json_schema import violation

        problem = await violation(output_schema, structured)
        if problem is not None:
            log.warning("structuredContent that breaks the tool's outputSchema was not used: %s", problem)
            result = {k: v for k, v in result.items() if k != "structuredContent"}
    return result_to_model_output(result)


def error_output(message: str) -> str:
    return truncate_for_model(message)
