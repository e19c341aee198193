"""Caps on every size the model, its provider or a repository chooses, in one place.

The agent holds what a provider streams, what a model asks for and what a repository
contains in the memory of one process that serves every session, on one event loop.  Each
value below bounds one of those sizes so that no single response, call or file can freeze
the loop or exhaust memory; each is far above what a legitimate model or project produces,
and crossing it gives an error that names the limit instead of a slow death.
docs/security.md lists them with the reasoning.

The bounds on decoding JSON itself live in `codex_mcp.json_bounds`, which the JSON-RPC
layer shares.
"""

from __future__ import annotations

from codex_mcp.json_bounds import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH

MiB = 1024 * 1024

# --- the model provider's stream ---------------------------------------------------------

MAX_SSE_LINE_BYTES = 8 * MiB
"""One SSE line.  A `data:` line carries a whole JSON event, so this is also its cap."""

MAX_SSE_EVENT_BYTES = 8 * MiB
"""One SSE event (all its lines).  The largest legitimate event, `response.completed` with
the whole output of a long answer, is a few MiB at most."""

MAX_RESPONSE_OUTPUT_BYTES = 32 * MiB
"""The output items one response may add to the history (text, reasoning, tool calls).
Streamed deltas are forwarded, not kept, and do not count.  The items' opening brackets
also count against `MAX_JSON_CONTAINERS` per response, so what is kept stays small as
Python objects too."""

MAX_REQUEST_BYTES = 64 * MiB
"""One request to the provider: the whole history, encoded.  The history grows by what
the model and the tools add each round, and compaction relies on token counts the
provider reports; this bounds it whatever the provider says.  A 272k-token context is
about 1 MiB of text; providers themselves refuse requests well below this size."""

# --- the model's tool calls ---------------------------------------------------------------

MAX_TOOL_ARGUMENTS_CHARS = 4 * MiB
"""The `arguments` of a function call or the `input` of a custom tool call."""

MAX_TOOL_NAME_CHARS = 1024
"""A tool name (real ones are under 64 characters)."""

MAX_PLAN_STEPS = 200
MAX_PLAN_STEP_CHARS = 4096
MAX_PLAN_EXPLANATION_CHARS = 16 * 1024

MAX_PARALLEL_TOOL_CALLS = 8
"""Calls of one response that run at the same time when the family asks for parallel tool
calls; the rest wait for a slot (a model cannot start hundreds of commands at once)."""

MAX_IMAGE_BYTES = 20 * MiB
"""One image attached by `view_image` (the providers' own per-image limit)."""

MAX_TURN_IMAGE_BYTES = 32 * MiB
"""All images `view_image` attaches in one turn: each stays in the history for good."""


__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_JSON_CONTAINERS",
    "MAX_JSON_DEPTH",
    "MAX_PARALLEL_TOOL_CALLS",
    "MAX_PLAN_EXPLANATION_CHARS",
    "MAX_PLAN_STEPS",
    "MAX_PLAN_STEP_CHARS",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_OUTPUT_BYTES",
    "MAX_SSE_EVENT_BYTES",
    "MAX_SSE_LINE_BYTES",
    "MAX_TOOL_ARGUMENTS_CHARS",
    "MAX_TOOL_NAME_CHARS",
    "MAX_TURN_IMAGE_BYTES",
    "MiB",
    "describe_bytes",
]


def describe_bytes(n: int) -> str:
    """`8 MiB` for round sizes, else the exact byte count."""
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n} bytes"
