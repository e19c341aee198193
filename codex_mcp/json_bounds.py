"""Decoding JSON from outside with its cost bounded, and refusing values nobody can re-encode.

Python's decoder and encoder recurse.  A value nested close to the interpreter's recursion
limit decodes in one place and then fails to encode in a deeper one (the rollout, the next
model request, a notification), and a decoder given a few MiB of `[[],[],...]` spends
seconds and hundreds of MiB building millions of lists.  So every JSON value kept from a
peer (a client's message, a provider's output item, a model's tool arguments) is checked:
at most `MAX_JSON_CONTAINERS` arrays/objects (counted before decoding, at C speed) and at
most `MAX_JSON_DEPTH` levels (counted after, visiting containers only).
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 100
"""Nesting of any JSON value kept from outside; real messages, items and arguments use < 10."""

MAX_JSON_CONTAINERS = 100_000
"""Opening brackets (`[`, `{`) in one JSON text from outside, counted before decoding at C
speed, inside strings too (an upper bound on the arrays and objects it holds).  Each array
or object costs the decoder ~80 bytes and garbage-collector time (3 MiB of `[],[],...` would
take 200 MiB and seconds); real events and messages hold a few dozen."""


class JsonLimitError(ValueError):
    """A JSON text or value from outside goes beyond one of the limits above; says which."""


def loads_bounded(
    text: str, max_depth: int = MAX_JSON_DEPTH, max_containers: int = MAX_JSON_CONTAINERS
) -> Any:
    """`json.loads` for text from outside, with its cost bounded first.

    More than `max_containers` brackets, or nesting beyond `max_depth` (or beyond the
    interpreter's recursion limit), raise `JsonLimitError` instead of costing seconds of
    CPU or a `RecursionError`.  Malformed JSON raises the decoder's `ValueError`.
    """
    if container_count_exceeds(text, max_containers):
        raise JsonLimitError(f"JSON {excess_description(text, max_containers, max_depth)}")
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonLimitError(f"JSON nested more than {max_depth} levels deep") from None
    if nesting_exceeds(value, max_depth):
        raise JsonLimitError(f"JSON nested more than {max_depth} levels deep")
    return value


def nesting_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` has arrays/objects nested more than `limit` deep.

    Breadth-first over containers only, without recursion, so its cost is the number of
    arrays and objects (bounded by `MAX_JSON_CONTAINERS` for anything from the wire);
    strings, however long, are never looked into.
    """
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        nested: list[Any] = []
        for container in level:
            members = container.values() if type(container) is dict else container
            nested.extend([m for m in members if type(m) is dict or type(m) is list])
        level = nested
    return False


def container_count_exceeds(text: str, limit: int = MAX_JSON_CONTAINERS) -> bool:
    """Whether a JSON text may hold more than `limit` arrays/objects (brackets inside
    strings count too: it is an upper bound, computed at C speed before decoding)."""
    return len(text) > limit and text.count("[") + text.count("{") > limit


def excess_description(text: str | bytes, max_containers: int, max_depth: int = MAX_JSON_DEPTH) -> str:
    """Why a text over the container count is refused, as specifically as a C-speed look allows:
    a run of opening brackets longer than `max_depth` is certainly too deep."""
    run = "[" * (max_depth + 1)
    deep = (run in text) if isinstance(text, str) else (run.encode() in text)
    if deep:
        return f"nested more than {max_depth} levels deep"
    return f"with more than {max_containers} opening brackets"
