"""The `/mcp` endpoint of MCP Streamable HTTP (2025-06-18): POST, GET and DELETE.

* POST carries one JSON-RPC message.  A notification or a response (an answer to our
  elicitation) gets 202.  A request gets its response as `application/json`, except a
  `tools/call`, which gets a `text/event-stream` carrying the call's `codex/event`s,
  progress and elicitations before its result (a client that accepts only one of the two
  gets that one).  `initialize` without `Mcp-Session-Id` starts a session and returns its id.
* GET opens the session's standalone SSE stream (one at a time) for messages that belong to
  no open request.
* DELETE ends the session.

Every request first passes the access checks (`security`), then the session checks: no
`Mcp-Session-Id` after initialization -> 400, an unknown or ended one -> 404, an
unsupported `MCP-Protocol-Version` -> 400.  Errors carry a JSON-RPC error body, as the
SDKs' servers do, so clients can show the message.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
from anyio.abc import ByteStream

from codex_mcp import jsonrpc
from codex_mcp.handshake import SUPPORTED_PROTOCOL_VERSIONS
from codex_mcp.http.routing import MessageStream
from codex_mcp.http.security import AccessPolicy
from codex_mcp.http.session import HttpSession, SessionManager
from codex_mcp.http.wire import HttpConnection, HttpError, HttpRequest, PeerGone
from codex_mcp.jsonrpc import ErrorReply, Request

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
KEEPALIVE_INTERVAL = 20.0
"""An SSE comment this often on a quiet stream keeps proxies from timing it out and tells
us early when the client is gone."""
MAX_EVENTS_PER_WRITE = 256
ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = (
    "content-type, accept, authorization, mcp-session-id, mcp-protocol-version, last-event-id"
)
CORS_EXPOSE_HEADERS = "mcp-session-id, mcp-protocol-version, www-authenticate"

Headers = list[tuple[str, str]]


def sse_event(message: dict[str, Any]) -> bytes:
    # `encode` escapes newlines inside JSON, so one `data:` line carries the whole message.
    return b"event: message\ndata: " + jsonrpc.encode(message) + b"\n"


def accepts(header: str | None) -> tuple[bool, bool]:
    """(JSON acceptable, SSE acceptable).  A missing Accept header accepts both."""
    if header is None:
        return True, True
    types = {part.split(";", 1)[0].strip().lower() for part in header.split(",")}
    anything = "*/*" in types
    json_ok = anything or "application/json" in types or "application/*" in types
    sse_ok = anything or "text/event-stream" in types or "text/*" in types
    return json_ok, sse_ok


class McpEndpoint:
    def __init__(self, sessions: SessionManager, policy: AccessPolicy, max_body: int) -> None:
        self._sessions = sessions
        self._policy = policy
        self._max_body = max_body

    async def serve_connection(self, stream: ByteStream) -> None:
        """Serve one client connection until it closes; never raises."""
        conn = HttpConnection(stream, self._max_body)
        try:
            while True:
                try:
                    request = await conn.next_request()
                except HttpError as exc:
                    if conn.can_respond:
                        await self._error(conn, exc.status, exc.message)
                        await conn.linger()
                    break
                if request is None:
                    break
                await self._serve(conn, request)
                if not conn.reusable:
                    break
        except PeerGone:
            pass
        except Exception:
            log.exception("HTTP connection failed")
        finally:
            await conn.aclose()

    # -- helpers -------------------------------------------------------------------------

    async def _error(
        self,
        conn: HttpConnection,
        status: int,
        message: str,
        headers: Headers | None = None,
        code: int = jsonrpc.INVALID_REQUEST,
    ) -> None:
        body = json.dumps(jsonrpc.error_response(None, code, message)).encode()
        await conn.respond(status, [("content-type", "application/json"), *(headers or [])], body)

    def _cors(self, request: HttpRequest) -> Headers:
        """CORS headers for a browser client on an allowed origin (the checks passed)."""
        origin = request.headers.get("origin")
        if origin is None:
            return []
        return [
            ("access-control-allow-origin", origin),
            ("access-control-expose-headers", CORS_EXPOSE_HEADERS),
            ("vary", "origin"),
        ]

    def _version_problem(self, request: HttpRequest) -> str | None:
        version = request.headers.get(VERSION_HEADER)
        if version is None or version.strip() in SUPPORTED_PROTOCOL_VERSIONS:
            return None
        return (
            f"Bad Request: unsupported {VERSION_HEADER} {version!r} "
            f"(supported: {', '.join(SUPPORTED_PROTOCOL_VERSIONS)})"
        )

    async def _session_for(
        self, conn: HttpConnection, request: HttpRequest, headers: Headers
    ) -> HttpSession | None:
        """The request's session, or None after answering 400/404 for it."""
        session_id = request.headers.get(SESSION_HEADER)
        if session_id is None:
            await self._error(conn, 400, "Bad Request: the Mcp-Session-Id header is required", headers)
            return None
        session = self._sessions.get(session_id.strip())
        if session is None:
            await self._error(conn, 404, "Session not found", headers)
            return None
        problem = self._version_problem(request)
        if problem is not None:
            await self._error(conn, 400, problem, headers)
            return None
        return session

    # -- dispatch ------------------------------------------------------------------------

    async def _serve(self, conn: HttpConnection, request: HttpRequest) -> None:
        preflight = request.method == "OPTIONS"
        refusal = self._policy.check(request.headers, preflight=preflight)
        if refusal is not None:
            log.info("refused %s %s: %s", request.method, request.target, refusal.message)
            await self._error(conn, refusal.status, refusal.message, list(refusal.headers))
            return
        headers = self._cors(request)
        if request.path != MCP_PATH:
            await self._error(conn, 404, f"Not Found: the MCP endpoint is {MCP_PATH}", headers)
        elif request.method == "POST":
            await self._post(conn, request, headers)
        elif request.method == "GET":
            await self._get(conn, request, headers)
        elif request.method == "DELETE":
            await self._delete(conn, request, headers)
        elif preflight:
            await conn.respond(
                204,
                [
                    *headers,
                    ("access-control-allow-methods", ALLOWED_METHODS),
                    ("access-control-allow-headers", CORS_ALLOW_HEADERS),
                    ("access-control-max-age", "600"),
                ],
            )
        else:
            await self._error(conn, 405, "Method Not Allowed", [*headers, ("allow", ALLOWED_METHODS)])

    async def _post(self, conn: HttpConnection, request: HttpRequest, headers: Headers) -> None:
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type != "application/json":
            await self._error(conn, 415, "Unsupported Media Type: send application/json", headers)
            return
        json_ok, sse_ok = accepts(request.headers.get("accept"))
        if not (json_ok or sse_ok):
            await self._error(
                conn, 406, "Not Acceptable: accept application/json and text/event-stream", headers
            )
            return
        message = jsonrpc.parse_message(request.body)
        if isinstance(message, ErrorReply):
            body = json.dumps(message.to_json()).encode()
            await conn.respond(400, [("content-type", "application/json"), *headers], body)
            return
        if SESSION_HEADER not in request.headers:
            if not (isinstance(message, Request) and message.method == "initialize"):
                await self._error(conn, 400, "Bad Request: the Mcp-Session-Id header is required", headers)
                return
            problem = self._version_problem(request)
            if problem is not None:
                await self._error(conn, 400, problem, headers)
                return
            try:
                session = await self._sessions.create()
            except Exception:
                log.exception("could not start a session")
                await self._error(conn, 500, "Internal Server Error: could not start a session", headers)
                return
            if session is None:
                await self._error(conn, 503, "Service Unavailable: too many sessions", headers)
                return
        else:
            found = await self._session_for(conn, request, headers)
            if found is None:
                return
            session = found
        headers = [*headers, ("mcp-session-id", session.id)]

        if not isinstance(message, Request):
            if await self._handle(conn, session, message, headers):
                await conn.respond(202, headers)
            return
        if session.sink.in_use(message.id):
            reply = jsonrpc.error_response(
                message.id, jsonrpc.INVALID_REQUEST, f"request id {message.id!r} is already in use"
            )
            await conn.respond(200, [("content-type", "application/json"), *headers], jsonrpc.encode(reply))
            return
        streaming = sse_ok and (message.method == "tools/call" or not json_ok)
        token = None
        if message.method == "tools/call":
            meta = (message.params or {}).get("_meta")
            token = meta.get("progressToken") if isinstance(meta, dict) else None
        route = session.sink.open_route(message.id, token, notifications=streaming)
        if not await self._handle(conn, session, message, headers):
            route.detach()
            return
        if streaming:
            await self.stream(conn, session, route, headers)
        else:
            await self._json_reply(conn, route, headers)

    async def _handle(
        self, conn: HttpConnection, session: HttpSession, message: jsonrpc.Incoming, headers: Headers
    ) -> bool:
        try:
            await session.handle(message)
        except RuntimeError:  # the session ended while the request was on its way
            await self._error(conn, 404, "Session not found", headers)
            return False
        return True

    async def _json_reply(self, conn: HttpConnection, route: MessageStream, headers: Headers) -> None:
        try:
            reply = await route.receive.receive()
        except anyio.EndOfStream:
            # Ended without a response: the call was cancelled, or the session ended.
            await conn.respond(202, headers)
            return
        finally:
            route.detach()
        await conn.respond(200, [("content-type", "application/json"), *headers], jsonrpc.encode(reply))

    async def stream(
        self, conn: HttpConnection, session: HttpSession, route: MessageStream, headers: Headers
    ) -> None:
        """Serve `route` as an SSE body until it ends or the client goes away.

        The client closing its end is not a cancellation: the request keeps running and its
        remaining messages are rerouted (`routing`).
        """
        gone = False
        try:
            await conn.start_stream(
                200,
                [
                    ("content-type", "text/event-stream"),
                    ("cache-control", "no-cache"),
                    ("x-accel-buffering", "no"),
                    *headers,
                ],
            )
            async with anyio.create_task_group() as group:

                async def watch() -> None:
                    nonlocal gone
                    await conn.wait_peer_closed()
                    gone = True
                    group.cancel_scope.cancel()

                group.start_soon(watch)
                await self._pump(conn, route)
                await conn.end_stream()
                group.cancel_scope.cancel()
        except PeerGone:
            gone = True
        finally:
            route.detach()
            session.touch()
        if gone:
            log.info("session %s: the client closed a stream early", session.id)
            conn.mark_broken()

    async def _pump(self, conn: HttpConnection, route: MessageStream) -> None:
        receive = route.receive
        while True:
            first = None
            with anyio.move_on_after(KEEPALIVE_INTERVAL):
                try:
                    first = await receive.receive()
                except anyio.EndOfStream:
                    return
            if first is None:
                await conn.send_chunk(b": keep-alive\n\n")
                continue
            batch = [first]
            ended = False
            while len(batch) < MAX_EVENTS_PER_WRITE:
                try:
                    batch.append(receive.receive_nowait())
                except anyio.WouldBlock:
                    break
                except anyio.EndOfStream:
                    ended = True
                    break
            await conn.send_chunk(b"".join(sse_event(m) for m in batch))
            if ended:
                return

    async def _get(self, conn: HttpConnection, request: HttpRequest, headers: Headers) -> None:
        _, sse_ok = accepts(request.headers.get("accept"))
        if not sse_ok:
            await self._error(conn, 406, "Not Acceptable: the GET stream is text/event-stream", headers)
            return
        session = await self._session_for(conn, request, headers)
        if session is None:
            return
        headers = [*headers, ("mcp-session-id", session.id)]
        stream = session.sink.open_get_stream()
        if stream is None:
            await self._error(conn, 409, "Conflict: this session already has a GET stream open", headers)
            return
        await self.stream(conn, session, stream, headers)

    async def _delete(self, conn: HttpConnection, request: HttpRequest, headers: Headers) -> None:
        session = await self._session_for(conn, request, headers)
        if session is None:
            return
        await self._sessions.end(session, "the client ended the session")
        await conn.respond(200, headers)
