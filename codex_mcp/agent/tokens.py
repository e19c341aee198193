"""Token accounting of one thread: the totals reported in `token_count`, and when to compact.

The model reports usage per sampling request; the thread keeps the last report (how full
the context is now) and the running total.  Compaction is due once the last request used
`model_auto_compact_token_limit` tokens, or 90 % of the context window when no limit is set.
"""

from __future__ import annotations

import math
from typing import Any

from codex_mcp.agent.model.types import TokenUsage

AUTO_COMPACT_SHARE = 0.9


class TokenAccount:
    def __init__(self, context_window: int | None, auto_compact_limit: int | None) -> None:
        """`context_window` is what clients are told (the family's effective window);
        `auto_compact_limit` the tokens after which the history is compacted (None: 90 % of
        the reported window)."""
        self.context_window = context_window
        self._limit = auto_compact_limit
        self.total = TokenUsage()
        self.last = TokenUsage()
        self.window = 0
        """Which context window of the thread requests are in (one more per compaction)."""

    def add(self, usage: TokenUsage) -> None:
        self.last = usage
        self.total = self.total + usage

    def compacted(self) -> None:
        """The history was replaced by a summary: the last request's size no longer applies."""
        self.last = TokenUsage()
        self.window += 1

    def info_json(self) -> dict[str, Any]:
        """The `info` of a `token_count` event."""
        return {
            "total_token_usage": self.total.to_json(),
            "last_token_usage": self.last.to_json(),
            "model_context_window": self.context_window,
        }

    def should_compact(self) -> bool:
        limit = self._limit
        if limit is None and self.context_window:
            limit = int(self.context_window * AUTO_COMPACT_SHARE)
        return bool(limit) and self.last.total_tokens >= (limit or math.inf)
