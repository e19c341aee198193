"""UUIDs as the server makes and reads them: random (v4), time-ordered (v7), and the canonical
text of one a client or a file gave us.

The standard `uuid` module would do all three, but importing it runs `platform.system()` (it
wants to know how to read MAC addresses, which we never use): ~2 ms of a first call here.
Every UUID the server makes is random or time-ordered, and every one it reads only needs its
canonical spelling, so these few lines stand in for it.  They produce exactly what `uuid`
would: `str(uuid.uuid4())`, a v7 laid out as RFC 9562 section 5.7 says (Python 3.11 has no
`uuid.uuid7`), and `str(uuid.UUID(text))` with the same `ValueError` for what it refuses
(`tests/test_uuids.py` compares them).
"""

from __future__ import annotations

import os
import time

_VERSION_MASK = ~(0xF << 76)
_VARIANT_MASK = ~(0x3 << 62)
_RFC_4122_VARIANT = 0x2 << 62


def _text(value: int) -> str:
    """The 8-4-4-4-12 lower-case spelling of a 128-bit value (what `str(uuid.UUID)` gives)."""
    hex = f"{value:032x}"
    return f"{hex[:8]}-{hex[8:12]}-{hex[12:16]}-{hex[16:20]}-{hex[20:]}"


def _stamp(value: int, version: int) -> str:
    value = (value & _VERSION_MASK) | (version << 76)
    value = (value & _VARIANT_MASK) | _RFC_4122_VARIANT
    return _text(value)


def uuid4() -> str:
    """A random UUID (version 4), as `str(uuid.uuid4())`."""
    return _stamp(int.from_bytes(os.urandom(16), "big"), 4)


def uuid7() -> str:
    """A time-ordered UUID (version 7): 48 bits of Unix milliseconds, then 74 random bits."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80
    value |= int.from_bytes(os.urandom(10), "big")
    return _stamp(value, 7)


def canonical(text: str) -> str:
    """`str(uuid.UUID(text))`: the canonical spelling of a UUID written with or without
    hyphens, braces or a `urn:uuid:` prefix, in either case; `ValueError` for anything else.
    The same steps as `uuid.UUID`, so it accepts and refuses exactly what that does."""
    hex = text.replace("urn:", "").replace("uuid:", "")
    hex = hex.strip("{}").replace("-", "")
    if len(hex) != 32:
        raise ValueError("badly formed hexadecimal UUID string")
    value = int(hex, 16)
    if not 0 <= value < 1 << 128:
        raise ValueError("int is out of range (need a 128-bit value)")
    return _text(value)
