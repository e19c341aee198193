"""`notify`: run the user's program after each completed turn, as Codex does.

The program gets one extra argument, a JSON object
`{"type": "agent-turn-complete", "thread-id", "turn-id", "cwd", "input-messages",
"last-assistant-message"}`.  It runs detached from the turn (the turn does not wait for
it) but never unbounded: it is killed after `NOTIFY_TIMEOUT_S` and always reaped.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Sequence
from typing import Any

import anyio

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT_S = 30.0


def turn_complete_payload(
    thread_id: str, turn_id: str, cwd: str, input_messages: Sequence[str], last_message: str | None
) -> str:
    payload: dict[str, Any] = {
        "type": "agent-turn-complete",
        "thread-id": thread_id,
        "turn-id": turn_id,
        "cwd": cwd,
        "input-messages": list(input_messages),
        "last-assistant-message": last_message,
    }
    return json.dumps(payload, ensure_ascii=False)


async def run_notify(argv: Sequence[str], payload: str) -> None:
    """Run the notify program; failures are logged, never raised."""
    try:
        with anyio.move_on_after(NOTIFY_TIMEOUT_S) as scope:
            result = await anyio.run_process(
                [*argv, payload],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
            if result.returncode != 0:
                log.warning(
                    "notify program %s exited with %d: %s", argv[0], result.returncode, result.stderr[-500:]
                )
        if scope.cancelled_caught:
            log.warning("notify program %s did not finish within %.0f s; killed", argv[0], NOTIFY_TIMEOUT_S)
    except OSError as exc:
        log.warning("could not run the notify program %s: %s", argv[0], exc)
