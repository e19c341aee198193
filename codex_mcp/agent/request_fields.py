"""The top-level fields of a Responses request, per model family (pure).

What a family accepts differs: `text.verbosity` is rejected by the codex-tuned and o-series
endpoints, `reasoning` by the non-reasoning ones, and the reasoning summary is sent by
default only to the families that were trained to produce one.  Keys come in the order
Codex 0.147 sends them, so requests are byte-stable across turns (prompt caching) and can
be compared with the reference's.

`model_max_output_tokens` is deliberately absent: Codex never sends it to the API (it is a
client-side budget), and a provider that enforces it would cut answers short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from codex_mcp.agent.families import ModelFamily

ENCRYPTED_REASONING = "reasoning.encrypted_content"
OUTPUT_SCHEMA_NAME = "codex_output_schema"

AZURE_MARKERS = (
    "openai.azure.",
    "cognitiveservices.azure.",
    "aoai.azure.",
    "azure-api.",
    "azurefd.",
    "windows.net/openai",
)
"""Substrings of Azure OpenAI base URLs (the hosts Azure serves the Responses API from)."""


def is_azure_responses_endpoint(name: str, base_url: str | None, wire_api: str = "responses") -> bool:
    """Whether a provider is Azure's Responses API: named "azure", or at an Azure host.

    Azure does not keep `store: false` conversations' items addressable, so such requests
    are sent with `store: true` and the items keep their ids."""
    if wire_api != "responses":
        return False
    if name.strip().lower() == "azure":
        return True
    url = (base_url or "").lower()
    return any(marker in url for marker in AZURE_MARKERS)


def reasoning_field(family: ModelFamily) -> dict[str, str] | None:
    """`{effort}`, `{summary}` or both; None when the family takes no reasoning settings."""
    if not family.reasoning:
        return None
    out: dict[str, str] = {}
    if family.reasoning_effort:
        out["effort"] = family.reasoning_effort
    if family.reasoning_summary:
        out["summary"] = family.reasoning_summary
    return out or None


def text_field(family: ModelFamily, output_schema: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if family.verbosity:
        out["verbosity"] = family.verbosity
    if output_schema is not None:
        out["format"] = {
            "type": "json_schema",
            "name": OUTPUT_SCHEMA_NAME,
            "strict": True,
            "schema": dict(output_schema),
        }
    return out or None


def responses_body(
    family: ModelFamily,
    *,
    instructions: str,
    input: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    prompt_cache_key: str | None,
    azure: bool = False,
    client_metadata: Mapping[str, str] | None = None,
    output_schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole JSON body of `POST {base_url}/responses` for `family`."""
    body: dict[str, Any] = {
        "model": family.slug,
        "instructions": instructions,
        "input": input,
        "tools": tools,
        "tool_choice": "auto",
        "parallel_tool_calls": family.parallel_tool_calls,
    }
    reasoning = reasoning_field(family)
    if reasoning is not None:
        body["reasoning"] = reasoning
    body["store"] = azure
    body["stream"] = True
    body["include"] = [ENCRYPTED_REASONING] if family.reasoning else []
    if prompt_cache_key:
        body["prompt_cache_key"] = prompt_cache_key
    text = text_field(family, output_schema)
    if text is not None:
        body["text"] = text
    if client_metadata:
        body["client_metadata"] = dict(client_metadata)
    return body


# --- item ids ------------------------------------------------------------------------------

ID_PREFIXES: Mapping[str, str] = {
    "message": "msg",
    "function_call_output": "fco",
    "custom_tool_call_output": "ctco",
}
"""Items this server creates, and the id prefix Codex gives each kind."""


def with_item_ids(items: Iterable[dict[str, Any]], new_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """Copies of `items` where every item this server creates carries an id.

    Items that came from the model keep theirs.  Azure (`store: true`) needs every input
    item addressable; the other endpoints accept the ids, and Codex sends them everywhere.
    `new_id(prefix)` makes one (e.g. `msg_<time-ordered uuid>`).
    """
    out: list[dict[str, Any]] = []
    for item in items:
        prefix = ID_PREFIXES.get(str(item.get("type")))
        if prefix is not None and not item.get("id"):
            rest = {k: v for k, v in item.items() if k != "type"}
            item = {"type": item["type"], "id": new_id(prefix), **rest}
        out.append(item)
    return out
