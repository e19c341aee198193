"""Checks on a tool call before it is dispatched: sizes and JSON shape the model chose.

A model (or a prompt injection steering it) picks the size of a call's arguments and how
deeply they nest.  Decoding 30 MiB of arguments, or arguments nested beyond the
interpreter's recursion limit, used to block the loop or end the turn with an internal
error; now such a call gets an error output the model can read and the turn goes on.
"""

from __future__ import annotations

import json

from codex_mcp.agent.items import output_item
from codex_mcp.agent.limits import MAX_TOOL_ARGUMENTS_CHARS, MAX_TOOL_NAME_CHARS
from codex_mcp.agent.model.types import ResponseItem
from codex_mcp.json_bounds import JsonLimitError, loads_bounded


def vet_call(call: ResponseItem) -> ResponseItem | str:
    """The call ready to dispatch (function arguments decoded to a dict), or the error text
    the model gets as the call's output instead."""
    kind = call.get("type")
    name = call.get("name", "")
    if isinstance(name, str) and len(name) > MAX_TOOL_NAME_CHARS:
        return (
            f"unsupported call: a tool name of {len(name)} characters "
            f"(tool names have at most {MAX_TOOL_NAME_CHARS})"
        )
    if kind == "custom_tool_call":
        text = call.get("input", "")
        if isinstance(text, str) and len(text) > MAX_TOOL_ARGUMENTS_CHARS:
            return _too_large(name, "input", len(text))
        return call
    if kind != "function_call":
        return call
    raw = call.get("arguments")
    if not isinstance(raw, str):
        return call  # already a JSON value: its depth was checked with the item it came in
    if len(raw) > MAX_TOOL_ARGUMENTS_CHARS:
        return _too_large(name, "arguments text", len(raw))
    try:
        args = loads_bounded(raw or "{}")
    except JsonLimitError as exc:
        return f"failed to parse function arguments: {exc}"
    except ValueError as exc:
        return f"failed to parse function arguments: {exc}"
    if not isinstance(args, dict):
        return "failed to parse function arguments: the arguments must be a JSON object"
    return {**call, "arguments": args}


KEPT_REFUSED_CHARS = 1024
"""How much of a refused call's arguments, input or name the history keeps."""


def shrink_refused(call: ResponseItem) -> ResponseItem:
    """A refused call as the history keeps it: payloads over `KEPT_REFUSED_CHARS` replaced by
    a note of their size.  The call still pairs with its output (same type and call id)."""
    shrunk = dict(call)
    for key in ("arguments", "input"):
        value = shrunk.get(key)
        if isinstance(value, str) and len(value) > KEPT_REFUSED_CHARS:
            note = f"[{len(value)} characters, refused and not kept]"
            shrunk[key] = json.dumps({"dropped": note}) if key == "arguments" else note
    name = shrunk.get("name")
    if isinstance(name, str) and len(name) > KEPT_REFUSED_CHARS:
        shrunk["name"] = name[:64]
    return shrunk


def refusal_output(call: ResponseItem, text: str) -> ResponseItem:
    """The output item that answers `call` with `text` (same shape the handlers' outputs get)."""
    return output_item(call, text)


def _too_large(name: object, what: str, size: int) -> str:
    shown = name if isinstance(name, str) else "tool"
    return (
        f"the `{shown}` call was refused: its {what} has {size} characters; "
        f"at most {MAX_TOOL_ARGUMENTS_CHARS} are accepted"
    )
