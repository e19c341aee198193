"""Identifiers the agent makes: time-ordered UUIDs, and the ids of the items it creates.

Codex 0.147 names threads, turns and the items it sends with UUIDv7 (time-ordered, so ids
sort by creation and a provider's logs group them), and gives every item it creates an id
with a prefix by kind: `msg_` for messages, `fco_` / `ctco_` for tool outputs.  The UUIDs
themselves come from `codex_mcp.uuids`.
"""

from __future__ import annotations

from codex_mcp.uuids import uuid7 as uuid7


def item_id(prefix: str) -> str:
    """`<prefix>_<uuidv7>`: the id of an item this server creates."""
    return f"{prefix}_{uuid7()}"
