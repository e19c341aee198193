"""What the proxy and its session tell each other: questions, answers, connection reports,
traffic per destination, and the hooks the session provides."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

Key = tuple[str, str, int]
"""(protocol, host, port): what one answer is about."""
AnswerDecision = Literal["approved", "approved_for_session", "denied"]
CLOSED_REASON = "the session was closed"


@dataclass(frozen=True)
class Question:
    """What the person is asked: may `command` reach `host`:`port` over `protocol`?"""

    question_id: str
    protocol: str
    host: str
    port: int
    command: tuple[str, ...]
    cwd: str


@dataclass(frozen=True)
class Answer:
    """The answer to a network question: allowed (once or for the session) or denied."""

    decision: AnswerDecision
    reason: str | None = None
    """Why, when the host decided for the person (no client, no answer, closed...)."""


@dataclass
class ConnectionReport:
    """One connection through the proxy, as the events show it."""

    connection_id: str
    protocol: str
    host: str
    port: int
    command: tuple[str, ...]
    started: float = field(default_factory=time.monotonic)
    address: str | None = None
    outcome: Literal["completed", "denied", "failed"] | None = None
    reason: str | None = None
    bytes_sent: int = 0
    bytes_received: int = 0
    duration_s: float = 0.0


@dataclass
class HostUsage:
    """Traffic to one (protocol, host, port) since the last summary."""

    protocol: str
    host: str
    port: int
    connections: int = 0
    denied: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0


class ProxyHooks(Protocol):
    """What the proxy needs from the session: ask the person, and show what happens."""

    async def ask(self, question: Question) -> Answer: ...

    async def report(self, report: ConnectionReport, ended: bool) -> None: ...
