"""Driving one call's turn: relay its events, put its questions to the person, shape the result.

The turn runs in a `Thread.turn()` block: when the call ends for any reason (done, failed,
or cancelled by the client), leaving the block interrupts the turn if it still runs and waits
for it, so a call's turn never outlives the call.
"""

from __future__ import annotations

from typing import Any

from codex_mcp.agent import events as ev
from codex_mcp.agent.events import ApprovalRequest, ElicitationRequest, Event, UserInputRequest
from codex_mcp.agent.thread import Thread
from codex_mcp.tools.elicitation import Elicitor
from codex_mcp.tools.relay import EventRelay
from codex_mcp.tools.results import turn_result


async def drive_turn(
    thread: Thread, prompt: str, turn_id: str, relay: EventRelay, elicitor: Elicitor
) -> dict[str, Any]:
    """Run the turn to its end; returns the call's `CallToolResult`."""
    last: Event | None = None
    async with thread.turn(prompt, turn_id=turn_id) as events:
        async for event in events:
            last = event
            await relay.send(event)
            if isinstance(event, ApprovalRequest):
                verdict = await elicitor.approval(event)
                if verdict.reason:
                    await relay.send(Event(event.id, dict(ev.warning(verdict.reason))))
                event.decide(verdict.decision, verdict.reason, amendment=verdict.amendment)
            elif isinstance(event, ElicitationRequest):
                event.resolve(await elicitor.server_question(event))
            elif isinstance(event, UserInputRequest):
                if elicitor.can_ask:
                    event.answer(await elicitor.user_input(event))
                else:
                    event.cannot_ask()
    return turn_result(thread.thread_id, last)
