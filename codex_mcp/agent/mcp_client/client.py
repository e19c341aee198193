"""One MCP session with one server: requests and their answers, and the server's own requests.

Our ids are integers from one counter; each pending request waits on its own event with a
bounded timeout, and a request that times out is withdrawn with `notifications/cancelled`
so the server can stop working on it.  When the connection ends, every pending request
fails at once (with what we know about why the server went away) instead of waiting out
its timeout.

The server may ask us things too: `ping` and `roots/list` are answered here,
`elicitation/create` goes to the owner's callback (declined when there is none or it
fails), anything else is `-32601`.  Each is handled in its own task so the reader never
blocks behind a person answering a form.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup

from codex_mcp._version import __version__
from codex_mcp.agent.mcp_client.transport import (
    EXIT_DETAILS_WAIT_SEC,
    Delivered,
    Oversized,
    TaskSet,
    Transport,
)
from codex_mcp.errors import McpError as McpError
from codex_mcp.errors import McpTimeout as McpTimeout
from codex_mcp.jsonrpc import (
    ErrorReply,
    Notification,
    Request,
    RequestId,
    Response,
    method_not_found,
    result_response,
)
from codex_mcp.pending import PendingMap, Waiter

log = logging.getLogger(__name__)

PROTOCOL_VERSION = "2025-06-18"
CLIENT_NAME = "codex-mcp-client"
CLIENT_TITLE = "Codex"
MAX_LIST_PAGES = 100
GONE_VERDICT_WAIT_SEC = EXIT_DETAILS_WAIT_SEC + 1.0
"""After a failed send: how long to wait for the reader to say why the server is gone."""

ElicitCallback = Callable[[RequestId, dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class _Answer:
    """A server's answer to one of our requests: its result or its error."""

    result: Any = None
    error: str | None = None


class McpClient:
    def __init__(self, name: str, transport: Transport, *, elicit: ElicitCallback | None = None) -> None:
        self.name = name
        self._transport = transport
        self._elicit = elicit
        self._ids = itertools.count(1)
        self._pending: PendingMap[RequestId, _Answer] = PendingMap()
        self._tasks = TaskSet()
        self._tg: TaskGroup | None = None
        self._gone: str | None = None
        self.initialize_result: dict[str, Any] = {}

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, task_group: TaskGroup) -> None:
        """Start the transport (spawn the process / prepare HTTP); no messages yet."""
        self._tg = task_group
        await self._transport.start(task_group, self._on_message)

    async def initialize(self, wait_seconds: float | None) -> dict[str, Any]:
        params = {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": CLIENT_NAME, "version": __version__, "title": CLIENT_TITLE},
        }
        result = await self.request("initialize", params, wait_seconds)
        if not isinstance(result, dict):
            raise McpError("the initialize result is not an object")
        self.initialize_result = result
        await self.notify("notifications/initialized")
        return result

    async def list_tools(self, wait_seconds: float) -> list[dict[str, Any]]:
        """Every page of `tools/list`, within one overall timeout."""
        tools: list[dict[str, Any]] = []
        cursor: str | None = None
        with anyio.fail_after(wait_seconds):
            for _ in range(MAX_LIST_PAGES):
                result = await self.request("tools/list", {"cursor": cursor} if cursor else None, None)
                page = result.get("tools") if isinstance(result, dict) else None
                if not isinstance(page, list):
                    raise McpError("the tools/list result has no `tools` list")
                tools.extend(t for t in page if isinstance(t, dict))
                cursor = result.get("nextCursor")
                if not isinstance(cursor, str) or not cursor:
                    return tools
        raise McpError(f"tools/list returned more than {MAX_LIST_PAGES} pages")

    async def call_tool(
        self,
        tool: str,
        arguments: dict[str, Any] | None,
        wait_seconds: float,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"name": tool, "arguments": arguments or {}}
        if meta:
            params["_meta"] = meta
        result = await self.request("tools/call", params, wait_seconds)
        if not isinstance(result, dict):
            raise McpError("the tools/call result is not an object")
        return result

    async def aclose(self) -> None:
        self._fail_all("the connection to the MCP server was closed")
        self._tasks.cancel()
        await self._transport.aclose()

    # -- requests ------------------------------------------------------------------------

    async def request(self, method: str, params: dict[str, Any] | None, wait_seconds: float | None) -> Any:
        """Send a request and wait (at most `wait_seconds`) for its result; `McpError` otherwise."""
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        with self._pending.expect(request_id) as waiter:
            if waiter.resolved:  # the connection is gone
                raise McpError((await waiter.wait()).error or "the MCP server is gone")
            try:
                try:
                    await self._transport.send(message)
                except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
                    raise McpError(await self._why_unsent(waiter, exc)) from exc
                try:
                    answer = await waiter.wait(wait_seconds)
                except TimeoutError:
                    await self._withdraw(request_id, "timed out")
                    raise McpTimeout(f"no answer to {method} within {wait_seconds:g} s") from None
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True), anyio.move_on_after(1):
                    await self._withdraw(request_id, "cancelled")
                raise
        if answer.error is not None:
            raise McpError(answer.error)
        return answer.result

    async def _why_unsent(self, waiter: Waiter[_Answer], exc: BaseException) -> str:
        """A send fails when the server has exited, usually just before the reader reaches
        the end of its output and gathers its exit code and last stderr line.  That verdict is
        the actionable error: wait for it (bounded) rather than report the broken pipe."""
        with contextlib.suppress(TimeoutError):
            answer = await waiter.wait(GONE_VERDICT_WAIT_SEC)
            if answer.error is not None:
                return answer.error
        return self._gone or f"could not send to the MCP server: {exc!r}"

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        try:
            await self._transport.send(message)
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            log.debug("MCP server %s: could not send %s: %r", self.name, method, exc)

    async def _withdraw(self, request_id: RequestId, reason: str) -> None:
        if self._gone is None:
            await self.notify("notifications/cancelled", {"requestId": request_id, "reason": reason})

    def _fail_all(self, reason: str) -> None:
        if self._gone is None:
            self._gone = reason
        self._pending.close(_Answer(error=self._gone))

    # -- incoming ------------------------------------------------------------------------

    async def _on_message(self, message: Delivered) -> None:
        if message is None:
            details = self._transport.exit_details()
            self._fail_all("the MCP server closed the connection" + (f" ({details})" if details else ""))
        elif isinstance(message, Oversized):
            log.warning("MCP server %s sent a %d-byte message; dropped", self.name, message.size)
            too_large = f"the MCP server sent a message too large to read ({message.size} bytes)"
            self._pending.resolve_all(_Answer(error=too_large))
        elif isinstance(message, Response):
            if message.error is not None:
                code, text = message.error.get("code"), message.error.get("message")
                answer = _Answer(error=f"MCP error {code}: {text}")
            else:
                answer = _Answer(result=message.result)
            if not self._pending.resolve(message.id, answer):
                log.debug("MCP server %s answered unknown request %r", self.name, message.id)
        elif isinstance(message, Request):
            if self._tg is not None:
                request = message
                self._tasks.spawn(self._tg, lambda: self._answer(request))
        elif isinstance(message, Notification):
            log.debug("MCP server %s: notification %s", self.name, message.method)
        elif isinstance(message, ErrorReply):
            log.warning("MCP server %s sent an unusable message: %s", self.name, message.message)

    async def _answer(self, request: Request) -> None:
        if request.method == "ping":
            reply = result_response(request.id, {})
        elif request.method == "roots/list":
            reply = result_response(request.id, {"roots": []})
        elif request.method == "elicitation/create":
            reply = result_response(request.id, await self._elicitation(request))
        else:
            reply = method_not_found(request.id, request.method)
        try:
            await self._transport.send(reply)
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            log.debug("MCP server %s: could not answer %s: %r", self.name, request.method, exc)

    async def _elicitation(self, request: Request) -> dict[str, Any]:
        if self._elicit is None:
            return {"action": "decline"}
        try:
            result = await self._elicit(request.id, dict(request.params or {}))
        except Exception:
            log.exception("forwarding an elicitation of MCP server %s failed; declined", self.name)
            return {"action": "decline"}
        if not isinstance(result, dict) or result.get("action") not in ("accept", "decline", "cancel"):
            return {"action": "decline"}
        return result
