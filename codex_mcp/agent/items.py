"""History items: the few shapes the agent builds and reads, in the Responses API's JSON.

Items stay plain dicts (the wire, the rollout file and the Chat mapping all speak them); this
module is where the agent builds messages and call outputs, and the one helper that reads
the text of a message, whichever kinds of parts it has.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from codex_mcp.agent.model.types import ResponseItem

TOOL_CALL_TYPES = frozenset({"function_call", "custom_tool_call", "local_shell_call"})
"""Items that are the model calling a tool (each needs an output item in the history)."""

OUTPUT_TEXT_KINDS = frozenset({"output_text", "text"})
INPUT_TEXT_KINDS = frozenset({"input_text"})


def message_text(item: ResponseItem, kinds: Collection[str] | None = None) -> str:
    """The text of a message item: its parts' `text` joined, only parts of `kinds` when given.

    A message whose `content` is a plain string (older rollouts, the Chat wire) is that string.
    """
    content = item.get("content") or []
    if isinstance(content, str):
        return content
    return "".join(
        str(part.get("text", ""))
        for part in content
        if isinstance(part, dict) and (kinds is None or part.get("type") in kinds)
    )


def is_message(item: ResponseItem, role: str) -> bool:
    return item.get("type") == "message" and item.get("role") == role


def text_message(role: str, *texts: str) -> ResponseItem:
    """A message of `role` with one text part per text (`output_text` for the assistant)."""
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": t} for t in texts]}


def call_id_of(call: ResponseItem) -> str:
    return str(call.get("call_id") or call.get("id") or "")


def output_item(call: ResponseItem, output: str | list[dict[str, Any]]) -> ResponseItem:
    """The output item that answers `call` (`custom_tool_call_output` for a custom call)."""
    call_id = call.get("call_id") or call.get("id") or ""
    if call.get("type") == "custom_tool_call":
        return {"type": "custom_tool_call_output", "call_id": call_id, "output": output}
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def unanswered_call_outputs(history: list[ResponseItem], output: str) -> list[ResponseItem]:
    """An output for every tool call in `history` that has none yet (after an aborted round),
    so the history stays valid for the model API."""
    answered = {i.get("call_id") for i in history if str(i.get("type", "")).endswith("_output")}
    outputs: list[ResponseItem] = []
    for item in history:
        kind = item.get("type")
        call_id = item.get("call_id")
        if call_id in answered or kind not in TOOL_CALL_TYPES:
            continue
        out_type = "custom_tool_call_output" if kind == "custom_tool_call" else "function_call_output"
        outputs.append({"type": out_type, "call_id": call_id, "output": output})
    return outputs
