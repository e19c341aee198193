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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codex_mcp.agent.families import ModelFamily
from codex_mcp.agent.items import ID_PREFIXES as ID_PREFIXES
from codex_mcp.agent.items import with_item_ids as with_item_ids
from codex_mcp.agent.model.responses import build_responses_body
from codex_mcp.agent.model.types import Prompt

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


@dataclass(frozen=True)
class FamilyFields:
    """The top-level request fields that follow from the family (and the endpoint)."""

    parallel_tool_calls: bool
    reasoning: dict[str, str] | None
    include: list[str]
    text: dict[str, Any] | None
    store: bool


def family_fields(
    family: ModelFamily, *, azure: bool = False, output_schema: Mapping[str, Any] | None = None
) -> FamilyFields:
    """What `family` is sent besides the instructions, input and tools (pure).

    Encrypted reasoning is asked for whenever the family reasons, so it can be replayed in
    the next request (with `store: false` the provider keeps nothing between requests)."""
    return FamilyFields(
        parallel_tool_calls=family.parallel_tool_calls,
        reasoning=reasoning_field(family),
        include=[ENCRYPTED_REASONING] if family.reasoning else [],
        text=text_field(family, output_schema),
        store=azure,
    )


def build_prompt(
    family: ModelFamily,
    *,
    instructions: str,
    input: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    prompt_cache_key: str | None,
    azure: bool = False,
    client_metadata: Mapping[str, str] | None = None,
    output_schema: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Prompt:
    """One request of `family`, ready for either wire."""
    fields = family_fields(family, azure=azure, output_schema=output_schema)
    return Prompt(
        instructions=instructions,
        input=input,
        tools=tools,
        parallel_tool_calls=fields.parallel_tool_calls,
        reasoning=fields.reasoning,
        include=fields.include,
        text=fields.text,
        store=fields.store,
        prompt_cache_key=prompt_cache_key,
        client_metadata=dict(client_metadata) if client_metadata else None,
        headers=dict(headers or {}),
    )


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
    prompt = build_prompt(
        family,
        instructions=instructions,
        input=input,
        tools=tools,
        prompt_cache_key=prompt_cache_key,
        azure=azure,
        client_metadata=client_metadata,
        output_schema=output_schema,
    )
    return build_responses_body(prompt, family.slug)
