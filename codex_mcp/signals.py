"""Ending the server on SIGINT / SIGTERM: at once when idle, cleanly when busy, and harder on
every repeated signal.

Clients stop a stdio server with signals, and impatiently: Claude Code sends SIGINT, SIGTERM
100 ms later and SIGKILL at 500 ms.  So the escalation is:

1. the first signal stops reading and interrupts every running call, the structured way:
   turns end as `turn_aborted` in their rollouts, commands get SIGTERM and a short grace,
   every process tree is reaped, the output is flushed, and the process exits;
2. a second signal cuts the graces short (`runner.hurry`): commands are killed at once, the
   rest of the cleanup still runs;
3. a third one exits on the spot (the fork server's keepers still kill every command tree
   when our end of their sockets closes).

Before the event loop runs (the synchronous handshake) the server holds nothing that needs
cleaning up, so a signal there simply ends the process (`Interrupted`).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A stop signal arrived while the server held nothing to clean up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def exit_code(signum: int) -> int:
    """The shell's convention for a program ended by signal `signum`: 128 + its number."""
    return 128 + signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def raise_on_stop_signals() -> None:
    """Until the event loop takes over: a stop signal raises `Interrupted` in the main thread
    (SIGTERM would otherwise end the process without running any `finally`)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_interrupted)


async def watch(stop: Callable[[int], None], hurry_also: Callable[[], None] | None = None) -> None:
    """Run for the server's lifetime (cancel it when the server is done): the first stop
    signal calls `stop(signum)`, the second hurries the cleanup (and calls `hurry_also`),
    the third exits now."""
    import anyio  # not at the top: the start path imports this module before the event loop

    from codex_mcp.agent.exec.grace import hurry

    received = 0
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async for signum in signals:
            received += 1
            name = signal_name(signum)
            if received == 1:
                log.info("%s: shutting down", name)
                stop(signum)
            elif received == 2:
                log.warning("%s again: killing commands without their grace period", name)
                hurry()
                if hurry_also is not None:
                    hurry_also()
            else:
                log.warning("%s a third time: exiting now", name)
                os._exit(exit_code(signum))
