"""The MCP handshake, answerable before the event loop exists.

A client's first messages (`initialize`, `notifications/initialized`, `tools/list`, `ping`)
need no concurrency, and answering them must be fast: a client measures our start-up by
them.  `run_handshake` answers them synchronously, in arrival order, with nothing heavier
than `json` imported; the first message that needs more (a tool call, a response, a
cancellation...) ends the phase, and it and every byte after it are handed to the anyio
loop, which processes them exactly as if it had read them itself.  The answers come from
`answer_request`, which the async server uses too, so there is one implementation.

The answers are plain dicts shaped by the negotiated protocol revision (tests hold them to the
generated models of each revision); building them through those models here would import pydantic
on the start path.
"""

from __future__ import annotations

import os
from typing import Any

from codex_mcp import jsonrpc
from codex_mcp._generated.icons import icons
from codex_mcp.connection import LATEST_PROTOCOL_VERSION as LATEST_PROTOCOL_VERSION
from codex_mcp.connection import REVISION_2025_11_25 as REVISION_2025_11_25
from codex_mcp.connection import SUPPORTED_PROTOCOL_VERSIONS as SUPPORTED_PROTOCOL_VERSIONS
from codex_mcp.connection import ConnectionState as ConnectionState
from codex_mcp.jsonrpc import ErrorReply, Notification, Request, RequestId
from codex_mcp.sandbox.state import CAPABILITY_META, CAPABILITY_UPDATE

SERVER_NAME = "codex-mcp-server"

_EMPTY_LISTS: dict[str, dict[str, list[Any]]] = {
    "resources/list": {"resources": []},
    "resources/templates/list": {"resourceTemplates": []},
    "prompts/list": {"prompts": []},
}
_READ_CHUNK = 256 * 1024


def negotiate_version(requested: object) -> str:
    if isinstance(requested, str) and requested in SUPPORTED_PROTOCOL_VERSIONS:
        return requested
    return LATEST_PROTOCOL_VERSION


def _server_info(state: ConnectionState) -> dict[str, Any]:
    info: dict[str, Any] = {"name": SERVER_NAME, "title": "Codex", "version": state.version}
    if state.speaks(REVISION_2025_11_25):
        info["icons"] = icons()
    return info


TASK_SUPPORT: dict[str, Any] = {"taskSupport": "optional"}
"""From 2025-11-25 both tools may be called as tasks (`tools.tasks`), or plainly."""
TASKS_CAPABILITY: dict[str, Any] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
"""The same as `tools.tasks.capability()`, spelled here to keep the handshake's imports light."""


def _tools(state: ConnectionState) -> list[dict[str, Any]]:
    """The catalogue; for clients whose revision knows them, each tool's icon and task support."""
    from codex_mcp._generated.tool_catalogue import TOOLS

    if not state.speaks(REVISION_2025_11_25):
        return TOOLS
    return [{**tool, "icons": icons(), "execution": TASK_SUPPORT} for tool in TOOLS]


def initialize(state: ConnectionState, id: RequestId, params: dict[str, Any]) -> dict[str, Any]:
    if state.initialized:
        return jsonrpc.error_response(id, jsonrpc.INVALID_REQUEST, "initialize called more than once")
    caps = params.get("capabilities")
    info = params.get("clientInfo")
    state.initialized = True
    state.protocol_version = negotiate_version(params.get("protocolVersion"))
    state.client_capabilities = caps if isinstance(caps, dict) else {}
    state.client_info = info if isinstance(info, dict) else {}
    capabilities: dict[str, Any] = {
        "tools": {"listChanged": False},
        "experimental": {CAPABILITY_UPDATE: {}, CAPABILITY_META: {}},
    }
    if state.speaks(REVISION_2025_11_25):
        capabilities["tasks"] = TASKS_CAPABILITY
    return jsonrpc.result_response(
        id,
        {
            "protocolVersion": state.protocol_version,
            "capabilities": capabilities,
            "serverInfo": _server_info(state),
        },
    )


def answer_request(state: ConnectionState, req: Request) -> dict[str, Any] | None:
    """The response to a request that needs no agent and no waiting; None for the others."""
    method = req.method
    if method == "initialize":
        return initialize(state, req.id, req.params or {})
    if method == "ping":
        return jsonrpc.result_response(req.id, {})
    if method == "tools/list":
        return jsonrpc.result_response(req.id, {"tools": _tools(state)})
    if method in _EMPTY_LISTS:
        return jsonrpc.result_response(req.id, _EMPTY_LISTS[method])
    if method == "logging/setLevel":
        return jsonrpc.result_response(req.id, {})
    return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def run_handshake(
    fd_in: int, fd_out: int, state: ConnectionState, *, stop_fd: int | None = None, warm_up: bool = True
) -> tuple[bytes, bool]:
    """Answer the handshake synchronously.  Returns (unprocessed bytes, reached EOF).

    Unprocessed bytes start with the line that ended the phase.  A broken stdout ends the
    phase too; the async writer then finds out for itself and shuts the server down.  The
    descriptors are left in the blocking mode they came in.

    `stop_fd` also ends the phase, between two messages, as soon as it turns readable (data
    or EOF): the process the handshake is handed to is ready.  `warm_up` starts warming the
    call path in this process once `tools/list` is answered.
    """
    modes = os.get_blocking(fd_in), os.get_blocking(fd_out)
    os.set_blocking(fd_in, True)
    os.set_blocking(fd_out, True)
    try:
        return _handshake_loop(fd_in, fd_out, state, stop_fd, warm_up)
    finally:
        os.set_blocking(fd_in, modes[0])
        os.set_blocking(fd_out, modes[1])


def _stop_requested(fd_in: int, stop_fd: int) -> bool:
    """Wait until there is input or a stop request; True for a stop (which wins a tie: the
    input is then read by the process taking over)."""
    import select

    poller = select.poll()
    poller.register(fd_in, select.POLLIN)
    poller.register(stop_fd, select.POLLIN)
    ready = {fd for fd, _ in poller.poll()}
    return stop_fd in ready


def _handshake_loop(
    fd_in: int, fd_out: int, state: ConnectionState, stop_fd: int | None, warm_up: bool
) -> tuple[bytes, bool]:
    buf = b""
    warming = not warm_up
    while True:
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) > _READ_CHUNK:
                return buf, False  # a very long line: let the async loop enforce its limits
            if stop_fd is not None and _stop_requested(fd_in, stop_fd):
                return buf, False
            chunk = os.read(fd_in, _READ_CHUNK)
            if not chunk:
                return buf, True
            buf += chunk
            continue
        line = buf[:nl]
        if not line.strip():
            buf = buf[nl + 1 :]
            continue
        message = jsonrpc.parse_message(line)
        if isinstance(message, Request):
            reply = answer_request(state, message)
        elif isinstance(message, Notification) and message.method == "notifications/initialized":
            reply = {}
        elif isinstance(message, ErrorReply):
            reply = message.to_json()
        else:
            reply = None
        if reply is None:
            if warming and warm_up:
                from codex_mcp.prewarm import pause_warm_up

                pause_warm_up()  # the server resumes it once no call runs
            return buf, False
        if reply:
            try:
                _write_all(fd_out, jsonrpc.encode(reply))
            except OSError:
                return buf[nl + 1 :], False
        buf = buf[nl + 1 :]
        if not warming and isinstance(message, Request) and message.method == "tools/list":
            # The client now knows our tools and will call one sooner or later: prepare.
            from codex_mcp.prewarm import start_warm_up

            start_warm_up()
            warming = True
