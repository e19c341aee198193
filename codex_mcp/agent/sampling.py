"""What the turn loop and compaction need of a model client, and how its retries show.

`ModelClient` satisfies `ModelStream`; a test can hand the turn any object with the same
`stream` method.  Retries the client makes before a response starts are reported to the
person as `stream_error` events (the turn goes on).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from codex_mcp.agent import events as ev
from codex_mcp.agent.events import Emit
from codex_mcp.agent.model.types import Prompt, ResponseEvent

OnRetry = Callable[[str, int, int, float], Awaitable[None]]
"""`(message, attempt, max_attempts, delay)`: called before each request-phase retry."""


class ModelStream(Protocol):
    def stream(
        self, prompt: Prompt, *, model: str, thread_id: str, turn_id: str, on_retry: OnRetry
    ) -> AsyncIterator[ResponseEvent]: ...


def retry_reporter(emit: Emit) -> OnRetry:
    """An `on_retry` that reports each retry as a `stream_error` event."""

    async def on_retry(message: str, attempt: int, max_attempts: int, delay: float) -> None:
        await emit(ev.stream_error(message, None))

    return on_retry
