"""Pacing one call's `notifications/progress`: a few at once, then a steady trickle.

Progress exists to tell a person what the agent is doing and to keep a client's request timer
alive; it is not an event log (`codex/event` is).  So:

* **rate**: a token bucket.  A short turn's few steps (`PROGRESS_BURST`) are announced at
  once; a long turn that runs command after command sends at most one notification per
  `PROGRESS_INTERVAL`, each carrying the latest step (older ones are coalesced away).
* **heartbeat**: a step that stays silent (a long build) repeats its message every
  `PROGRESS_HEARTBEAT`, so clients whose timers reset on progress (Claude Code over HTTP,
  the TypeScript SDK) do not give up on a call that is still working.
* **never racing the response**: once the turn has ended nothing more is sent, and what was
  still waiting is dropped (the response says it all).  Some clients (the TypeScript SDK,
  so Claude Code) handle a response at once and a notification a moment later: a progress
  notification read together with its response finds its token already forgotten.  The
  response is therefore held until `RESPONSE_GAP` after the call's last notification, and
  the writer drops any progress that would share a write with its response
  (`outgoing.drop_superseded_progress`).

The pacer is transport-neutral: it calls `send(message)` for every notification it decides
on; the caller numbers and queues them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

PROGRESS_BURST = 4
"""Notifications that may go out back to back (a short turn's steps, each one shown)."""
PROGRESS_INTERVAL = 0.5
"""Seconds per notification once the burst is spent: at most 2 per second on a long turn."""
PROGRESS_HEARTBEAT = 15.0
"""A call silent this long repeats its last message: well inside the 60 s request timeout of
SDK clients that reset it on progress, and the 300 s idle limit of Claude Code over HTTP."""
RESPONSE_GAP = 0.05
"""The response follows the call's last progress notification by at least this much."""


class ProgressPacer:
    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        burst: int = PROGRESS_BURST,
        interval: float = PROGRESS_INTERVAL,
        heartbeat: float = PROGRESS_HEARTBEAT,
        gap: float = RESPONSE_GAP,
    ) -> None:
        if interval <= 0:
            raise ValueError("the progress interval must be positive")
        self._send_fn = send
        self._burst = float(burst)
        self._interval = interval
        self._heartbeat = heartbeat
        self._gap = gap
        self._tokens = float(burst)
        self._refilled_at = anyio.current_time()
        self._pending: str | None = None
        self._last_text: str | None = None
        self._last_sent: float | None = None
        self._wake = anyio.Event()
        self._lock = anyio.Lock()
        self._stopped = False
        self.sent = 0
        """How many notifications went out (for tests and benchmarks)."""

    # -- what the relay calls -------------------------------------------------------------

    async def note(self, text: str) -> None:
        """A new step: announce it now if the bucket allows, else make it the one `run` sends
        when it does (replacing any step still waiting)."""
        if self._stopped:
            return
        if self._pending is None and self._take_token():
            await self._send(text)
            self._wake.set()  # the heartbeat counts from this one
            return
        self._pending = text
        self._wake.set()

    def stop(self) -> None:
        """The turn has ended: nothing more is sent, what waits is dropped."""
        self._stopped = True
        self._pending = None
        self._wake.set()

    async def settle(self) -> None:
        """Wait until the response may follow: `gap` after the last notification."""
        if self._last_sent is None:
            return
        remaining = self._last_sent + self._gap - anyio.current_time()
        if remaining > 0:
            await anyio.sleep(remaining)

    async def run(self) -> None:
        """Send what waits when the bucket allows, and the heartbeat; until `stop()`."""
        while not self._stopped:
            if self._pending is None:
                await self._idle()
                continue
            wait = self._until_token()
            if wait > 0:
                await anyio.sleep(wait)  # pacing: a newer step may replace the pending one
                continue
            text, self._pending = self._pending, None
            self._take_token()
            await self._send(text)

    # -- internals -------------------------------------------------------------------------

    async def _idle(self) -> None:
        """Wait for a new step; after `heartbeat` of silence, repeat the last message."""
        self._wake = anyio.Event()
        if self._stopped or self._pending is not None:
            return
        if self._last_text is None or self._last_sent is None:
            await self._wake.wait()
            return
        quiet_until = self._last_sent + self._heartbeat
        with anyio.move_on_after(max(0.0, quiet_until - anyio.current_time())):
            await self._wake.wait()
            return
        if not self._stopped and self._pending is None:
            self._pending = self._last_text

    def _refill(self) -> None:
        now = anyio.current_time()
        self._tokens = min(self._burst, self._tokens + (now - self._refilled_at) / self._interval)
        self._refilled_at = now

    def _take_token(self) -> bool:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def _until_token(self) -> float:
        self._refill()
        if self._tokens >= 1.0:
            return 0.0
        return (1.0 - self._tokens) * self._interval

    async def _send(self, text: str) -> None:
        async with self._lock:  # numbered and queued in one order
            if self._stopped:
                return
            self._last_text = text
            self.sent += 1
            await self._send_fn(text)
            self._last_sent = anyio.current_time()
