"""Identifiers the agent makes: time-ordered UUIDs, and the ids of the items it creates.

Codex 0.147 names threads, turns and the items it sends with UUIDv7 (time-ordered, so ids
sort by creation and a provider's logs group them), and gives every item it creates an id
with a prefix by kind: `msg_` for messages, `fco_` / `ctco_` for tool outputs.  Python 3.11
has no `uuid.uuid7`, so it is built here (RFC 9562, section 5.7).
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> str:
    """A UUIDv7 string: 48 bits of Unix milliseconds, then 74 random bits."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value &= ~(0xF << 76)
    value |= 0x7 << 76  # version 7
    value &= ~(0x3 << 62)
    value |= 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def item_id(prefix: str) -> str:
    """`<prefix>_<uuidv7>`: the id of an item this server creates."""
    return f"{prefix}_{uuid7()}"
