"""The events of the network proxy: its approval question, each connection's begin and end,
and the turn's traffic per destination.

The question is the reference's: an `exec_approval_request` whose `network_approval_context`
names the host and protocol (and here the port), with the command that asked.  The
connection events and the summary are this server's own; clients that do not know them
ignore them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codex_mcp.agent.events.tool_events import duration

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import (
        ExecApprovalRequestMsg,
        NetworkAccessBegin,
        NetworkAccessEnd,
        NetworkHostUsage,
        NetworkUsage,
    )


def network_approval_request(
    call_id: str, turn_id: str, command: list[str], cwd: str, host: str, port: int, protocol: str
) -> ExecApprovalRequestMsg:
    shown = f"[{host}]" if ":" in host else host
    return {
        "type": "exec_approval_request",
        "call_id": call_id,
        "turn_id": turn_id,
        "command": command,
        "cwd": cwd,
        "parsed_cmd": [],
        "reason": f"network access to {shown}:{port} ({protocol}) requested by the command",
        "network_approval_context": {"host": host, "protocol": protocol, "port": port},
    }


def network_access_begin(
    connection_id: str, turn_id: str, host: str, port: int, protocol: str, command: list[str]
) -> NetworkAccessBegin:
    return {
        "type": "network_access_begin",
        "connection_id": connection_id,
        "turn_id": turn_id,
        "host": host,
        "port": port,
        "protocol": protocol,
        "command": command,
    }


def network_access_end(
    begin: NetworkAccessBegin,
    *,
    outcome: str,
    reason: str | None,
    address: str | None,
    bytes_sent: int,
    bytes_received: int,
    seconds: float,
) -> NetworkAccessEnd:
    msg: NetworkAccessEnd = {
        "type": "network_access_end",
        "connection_id": begin["connection_id"],
        "turn_id": begin["turn_id"],
        "host": begin["host"],
        "port": begin["port"],
        "protocol": begin["protocol"],
        "command": begin["command"],
        "outcome": outcome,
        "address": address,
        "bytes_sent": bytes_sent,
        "bytes_received": bytes_received,
        "duration": duration(seconds),
    }
    if reason:
        msg["reason"] = reason
    return msg


def network_usage(turn_id: str, hosts: list[NetworkHostUsage]) -> NetworkUsage:
    return {"type": "network_usage", "turn_id": turn_id, "hosts": hosts}
