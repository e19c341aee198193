"""Support for the network proxy's tests on process sessions (`exec_command` / `write_stdin`)
through the real server: who answers the network questions, what the model was told, and
the session's network namespace seen from outside (its processes, the bridge's listener).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from tests.support.scripted_model import ScriptedModel

ACCEPT = {"action": "accept", "content": {"decision": "approved"}}


class Answering:
    """Answers every network question with `answer` (a whole elicitation result: `accept`
    with a decision, `decline`, `cancel`) and records it; other questions are approved."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.asked: list[dict[str, Any]] = []
        self.others: list[dict[str, Any]] = []
        """The other questions (commands, patches), approved."""
        self.lock = threading.Lock()

    def __call__(self, msg: dict[str, Any]) -> Any:
        params = msg.get("params") or {}
        if params.get("codex_elicitation") != "network-approval":
            with self.lock:
                self.others.append(msg)
            return ACCEPT
        with self.lock:
            self.asked.append(msg)
        return self.answer

    def hosts(self) -> list[str]:
        return [str(m["params"]["codex_network_approval_context"]["host"]) for m in self.asked]


def told(model: ScriptedModel) -> str:
    """Everything the model read: call outputs and user messages of every request."""
    parts: list[str] = []
    for rec in model.requests:
        parts += rec.user_texts()
        for item in rec.items():
            output = item.get("output")
            if isinstance(output, str):
                parts.append(output)
    return "\n".join(parts)


def netns_of(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def in_netns(netns: str) -> list[int]:
    """Every live process of the machine in the network namespace `netns` (read as root)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{name}/ns/net") != netns:
                continue
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            out.append(int(name))
    return out


def proxy_port(pid: int) -> int:
    """The port `HTTP_PROXY` names in the environment of process `pid`."""
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(b"HTTP_PROXY="):
            return int(entry.rsplit(b":", 1)[1].rstrip(b"/"))
    raise AssertionError(f"process {pid} has no HTTP_PROXY")


def listening(pid: int, port: int) -> bool:
    """Whether something listens on TCP `port` in the network namespace of `pid`."""
    lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    return any(
        line.split()[3] == "0A" and int(line.split()[1].rsplit(":", 1)[1], 16) == port for line in lines
    )


def held_by_anyone(netns: str) -> bool:
    """Whether any process still holds the namespace open (a member, or an fd on it)."""
    if in_netns(netns):
        return True
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{name}/fd"):
                if os.readlink(f"/proc/{name}/fd/{fd}") == netns:
                    return True
        except OSError:
            continue
    return False
