"""Middle truncation of tool output, the way current Codex cuts text for the model.

Pure functions over `str`; sizes are UTF-8 byte lengths and cuts fall on character
boundaries.  The model-visible markers and counts are the reference's, measured against
codex-cli 0.147 on the same output:

* a token is approximated as 4 bytes (`approx_token_count` rounds up);
* a budget keeps its first half of bytes and its last half, with a marker between them:
  `…{n} tokens truncated…` (token budgets: the bytes removed, in tokens, rounded up) or
  `…{n} chars truncated…` (byte budgets: the characters removed);
* `formatted_truncate_text` prefixes a cut text with
  `Warning: truncated output (original token count: N)\\nTotal output lines: L\\n\\n`.

Why these rather than the older line-window truncation (`format.truncate_for_model`):
models trained on `exec_command` and `shell_command` see this form, and the output they
get should read the same from either server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "APPROX_BYTES_PER_TOKEN",
    "TruncationPolicy",
    "approx_token_count",
    "approx_tokens_from_bytes",
    "count_lines",
    "formatted_truncate_text",
    "truncate_text",
]

APPROX_BYTES_PER_TOKEN = 4


@dataclass(frozen=True)
class TruncationPolicy:
    """A budget in bytes or in (approximate) tokens; model families carry one."""

    mode: Literal["bytes", "tokens"]
    limit: int

    @classmethod
    def bytes(cls, limit: int) -> TruncationPolicy:
        return cls("bytes", max(0, int(limit)))

    @classmethod
    def tokens(cls, limit: int) -> TruncationPolicy:
        return cls("tokens", max(0, int(limit)))

    @property
    def byte_budget(self) -> int:
        return self.limit if self.mode == "bytes" else self.limit * APPROX_BYTES_PER_TOKEN

    @property
    def token_budget(self) -> int:
        return approx_tokens_from_bytes(self.limit) if self.mode == "bytes" else self.limit

    def scaled(self, factor: float) -> TruncationPolicy:
        """The same kind of budget, `factor` times as large (rounded up)."""
        return TruncationPolicy(self.mode, math.ceil(self.limit * factor))


def approx_tokens_from_bytes(n: int) -> int:
    return (max(0, n) + APPROX_BYTES_PER_TOKEN - 1) // APPROX_BYTES_PER_TOKEN


def approx_token_count(text: str) -> int:
    return approx_tokens_from_bytes(len(text.encode("utf-8", "surrogatepass")))


def count_lines(text: str) -> int:
    """Lines as `str::lines()` counts them: a final newline does not start another line."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _marker(use_tokens: bool, removed: int) -> str:
    return f"…{removed} tokens truncated…" if use_tokens else f"…{removed} chars truncated…"


def _split(text: str, data: bytes, head_bytes: int, tail_bytes: int) -> tuple[str, str, int]:
    """(prefix, suffix, characters between them): whole characters that end within the first
    `head_bytes` bytes, and those that start within the last `tail_bytes` bytes."""
    size = len(data)
    tail_target = max(0, size - tail_bytes)
    # Character boundaries: byte offsets that are not UTF-8 continuation bytes.
    prefix_end = head_bytes
    while prefix_end > 0 and prefix_end < size and data[prefix_end] & 0xC0 == 0x80:
        prefix_end -= 1
    prefix_end = min(prefix_end, size)
    suffix_start = tail_target
    while suffix_start < size and data[suffix_start] & 0xC0 == 0x80:
        suffix_start += 1
    suffix_start = max(suffix_start, prefix_end)
    prefix = data[:prefix_end].decode("utf-8", "surrogatepass")
    suffix = data[suffix_start:].decode("utf-8", "surrogatepass")
    removed_chars = len(text) - len(prefix) - len(suffix)
    return prefix, suffix, removed_chars


def _truncate_bytes(text: str, max_bytes: int, use_tokens: bool) -> str:
    if not text:
        return ""
    data = text.encode("utf-8", "surrogatepass")
    if max_bytes <= 0:
        removed = approx_tokens_from_bytes(len(data)) if use_tokens else len(text)
        return _marker(use_tokens, removed)
    if len(data) <= max_bytes:
        return text
    head = max_bytes // 2
    prefix, suffix, removed_chars = _split(text, data, head, max_bytes - head)
    removed = approx_tokens_from_bytes(len(data) - max_bytes) if use_tokens else removed_chars
    return prefix + _marker(use_tokens, removed) + suffix


def truncate_text(text: str, policy: TruncationPolicy) -> str:
    """Keep the first and last halves of the budget with a marker between; unchanged when
    the text fits (a zero token budget leaves the marker alone)."""
    if policy.mode == "bytes":
        return _truncate_bytes(text, policy.limit, use_tokens=False)
    if not text:
        return ""
    if policy.limit > 0 and len(text.encode("utf-8", "surrogatepass")) <= policy.byte_budget:
        return text
    return _truncate_bytes(text, policy.byte_budget, use_tokens=True)


def formatted_truncate_text(text: str, policy: TruncationPolicy) -> str:
    """`truncate_text` with the warning and line-count header when anything was cut."""
    if len(text.encode("utf-8", "surrogatepass")) <= policy.byte_budget:
        return text
    return (
        f"Warning: truncated output (original token count: {approx_token_count(text)})\n"
        f"Total output lines: {count_lines(text)}\n\n{truncate_text(text, policy)}"
    )
