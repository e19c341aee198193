"""History items: the few shapes the agent builds and reads, in the Responses API's JSON.

Items stay plain dicts (the wire, the rollout file and the Chat mapping all speak them); this
module is where the agent builds messages and call outputs, and the one helper that reads
the text of a message, whichever kinds of parts it has.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
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


# --- ids and the shape items are kept in -------------------------------------------------

ID_PREFIXES: Mapping[str, str] = {
    "message": "msg",
    "function_call_output": "fco",
    "custom_tool_call_output": "ctco",
}
"""Items this server creates, and the id prefix Codex gives each kind."""


def with_item_ids(items: Iterable[ResponseItem], new_id: Callable[[str], str]) -> list[ResponseItem]:
    """Copies of `items` where every item this server creates carries an id.

    Items that came from the model keep theirs.  Azure (`store: true`) needs every input
    item addressable; the other endpoints accept the ids, and Codex sends them everywhere.
    `new_id(prefix)` makes one (e.g. `msg_<time-ordered uuid>`).
    """
    out: list[ResponseItem] = []
    for item in items:
        prefix = ID_PREFIXES.get(str(item.get("type")))
        if prefix is not None and not item.get("id"):
            rest = {k: v for k, v in item.items() if k != "type"}
            item = {"type": item["type"], "id": new_id(prefix), **rest}
        out.append(item)
    return out


def normalize_model_item(item: ResponseItem) -> ResponseItem:
    """An item the model produced, in the shape it is kept and replayed (as Codex does).

    Only what the next request needs survives: an assistant message keeps its id, role and
    text parts (no `status`, `annotations` or `logprobs`), a reasoning item its summary,
    content and encrypted content, a function call its name, arguments and call id.  The
    replayed prefix of every request is then byte-stable, which keeps prompt caching.
    """
    kind = item.get("type")
    if kind == "message" and item.get("role") == "assistant":
        content = item.get("content")
        parts: Any = content
        if isinstance(content, list):
            parts = [
                {"type": "output_text", "text": p.get("text", "")}
                if isinstance(p, dict) and p.get("type") in OUTPUT_TEXT_KINDS
                else p
                for p in content
            ]
        return _keep({"type": "message", "id": item.get("id"), "role": "assistant", "content": parts})
    if kind == "reasoning":
        out = {
            "type": "reasoning",
            "id": item.get("id"),
            "summary": item.get("summary") or [],
            "content": item.get("content"),
        }
        if item.get("encrypted_content") is not None:
            out["encrypted_content"] = item["encrypted_content"]
        return _keep(out, keep_none=("content",))
    if kind == "function_call":
        return _keep(
            {
                "type": "function_call",
                "id": item.get("id"),
                "name": item.get("name"),
                "arguments": item.get("arguments"),
                "call_id": item.get("call_id"),
            }
        )
    return item


def _keep(item: dict[str, Any], keep_none: tuple[str, ...] = ()) -> ResponseItem:
    return {k: v for k, v in item.items() if v is not None or k in keep_none}
