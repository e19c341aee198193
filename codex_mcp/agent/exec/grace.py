"""The grace a command gets between SIGTERM and SIGKILL, and cutting it short.

SIGTERM first, so a command's exit traps and cleanup handlers run (git removes its
index.lock, pyenv its rehash lock); SIGKILL after `TERM_GRACE_S` at most, so nothing can
delay the kill beyond it.  When the host is going away for good (a second stop signal),
`hurry()` ends every grace in progress, and every later one, at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

TERM_GRACE_S = 0.5
"""How long SIGTERM may take to end a command before SIGKILL follows."""

_scopes: set[anyio.CancelScope] = set()
_hurried = False


def hurry() -> None:
    """Every termination in progress, and every later one, skips what is left of its grace."""
    global _hurried
    _hurried = True
    for scope in list(_scopes):
        scope.cancel()


async def grace(wait: Callable[[], Awaitable[object]], seconds: float = TERM_GRACE_S) -> None:
    """Wait (`seconds` at most) for `wait()`: a command ending on SIGTERM; unless hurried."""
    if _hurried:
        return
    with anyio.move_on_after(seconds) as scope:
        _scopes.add(scope)
        try:
            await wait()
        finally:
            _scopes.discard(scope)
