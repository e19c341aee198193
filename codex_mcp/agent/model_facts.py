"""What the agent assumes about a model it has no explicit settings for.

The configuration wins whenever it says something (`model_context_window`,
`model_supports_reasoning_summaries`); otherwise the model's name decides, by prefix.
"""

from __future__ import annotations

from codex_mcp.agent.config.model import Config

_CONTEXT_WINDOWS = (
    ("gpt-5", 272_000),
    ("codex-", 272_000),
    ("o3", 200_000),
    ("o4-mini", 200_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
)
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "codex-")


def context_window(config: Config) -> int | None:
    """The model's context window in tokens, or None when unknown."""
    if config.model_context_window:
        return config.model_context_window
    for prefix, window in _CONTEXT_WINDOWS:
        if config.model.startswith(prefix):
            return window
    return None


def supports_reasoning(config: Config) -> bool:
    """Whether requests carry reasoning settings (effort, summary)."""
    if config.model_supports_reasoning_summaries is not None:
        return config.model_supports_reasoning_summaries
    return config.model.startswith(_REASONING_PREFIXES)
