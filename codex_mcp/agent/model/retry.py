"""Retry timing: exponential backoff with jitter and the server's own hints."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

BASE_DELAY_S = 0.2
MAX_SERVER_DELAY_S = 3600.0

_TRY_AGAIN = r"try again in\s*(\d+(?:\.\d+)?)\s*(ms|s|seconds?)\b"
"""Compiled (by `re`'s cache) when an error message is first read, not with the module."""


def backoff(attempt: int) -> float:
    """Delay in seconds before retry number `attempt` (1-based): 0.2 s doubled each time, ±10 %."""
    exp = max(attempt, 1) - 1
    import random  # only a retry waits

    return BASE_DELAY_S * (2.0 ** min(exp, 30)) * random.uniform(0.9, 1.1)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for k, v in headers.items():
            if k.lower() == lowered:
                return v
    return value


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait according to `retry-after-ms` or `Retry-After` (seconds or an HTTP date).

    Returns None when no usable hint is present.  Negative values clamp to 0 and absurdly
    long ones to an hour.
    """
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        try:
            return _clamp(float(ms.strip()) / 1000.0)
        except ValueError:
            pass
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return _clamp(float(raw))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # an HTTP date is rare: the email package only then

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return _clamp(when.timestamp() - current)


def parse_try_again_hint(message: str) -> float | None:
    """The delay in a message such as "Please try again in 1.5s" / "in 20ms" / "in 3 seconds"."""
    m = re.search(_TRY_AGAIN, message, re.IGNORECASE)
    if m is None:
        return None
    value = float(m.group(1))
    if m.group(2).lower() == "ms":
        value /= 1000.0
    return _clamp(value)


def _clamp(value: float) -> float:
    if value != value:  # NaN
        return 0.0
    return min(max(value, 0.0), MAX_SERVER_DELAY_S)
