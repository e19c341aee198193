"""The `/mcp` endpoint of MCP Streamable HTTP (2025-06-18): POST, GET and DELETE.

* POST carries one JSON-RPC message.  A notification or a response (an answer to our
  elicitation) gets 202.  A request gets its response as `application/json`, except a
  `tools/call`, which gets a `text/event-stream` carrying the call's `codex/event`s,
  progress and elicitations before its result (a client that accepts only one of the two
  gets that one); so does `tasks/result`, which carries its task's messages while it waits.
  `initialize` without `Mcp-Session-Id` starts a session and returns its id.
* GET opens the session's standalone SSE stream (one at a time) for messages that belong to
  no open request.
* DELETE ends the session.

Every request first passes the access checks (`security`) on its head alone: a request
that fails them is answered and its connection closed without its body ever being read.
Then come the checks that need no body either (path, method, media types, the session:
no `Mcp-Session-Id` after initialization -> 400, an unknown or ended one -> 404, an
unsupported `MCP-Protocol-Version` -> 400), and only then is the body read, within the
limits of `wire`.  Errors carry a JSON-RPC error body, as the SDKs' servers do, so
clients can show the message.

A new session is counted against its client's quota (`peers`, `session`).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from anyio.abc import ByteStream

from codex_mcp import jsonrpc
from codex_mcp.connection import REVISION_2025_11_25
from codex_mcp.handshake import SUPPORTED_PROTOCOL_VERSIONS
from codex_mcp.http.connections import State, Tracked
from codex_mcp.http.limits import MAX_HEAD_BYTES, BodyBudget, HttpLimits, RateLimitedLog
from codex_mcp.http.peers import Endpoints, client_identity, peer_key, socket_owner
from codex_mcp.http.routing import MessageStream
from codex_mcp.http.security import AccessPolicy
from codex_mcp.http.session import HttpSession, SessionManager, SessionRefused
from codex_mcp.http.wire import HttpConnection, HttpError, HttpRequest, PeerGone
from codex_mcp.jsonrpc import ErrorReply, Request
from codex_mcp.outgoing import PROGRESS_METHOD

log = logging.getLogger(__name__)
_log_refusal = RateLimitedLog(log, logging.INFO)

MCP_PATH = "/mcp"
SESSION_HEADER = "mcp-session-id"
VERSION_HEADER = "mcp-protocol-version"
KEEPALIVE_INTERVAL = 20.0
"""An SSE comment this often on a quiet stream keeps proxies from timing it out and tells
us early when the client is gone."""
MAX_EVENTS_PER_WRITE = 256
STREAMED_METHODS = frozenset({"tools/call", "tasks/result"})
"""Requests answered on an SSE stream (when the client accepts one): a call's events and
questions, or a task's while `tasks/result` waits for it, come before the response."""
ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = (
    "content-type, accept, authorization, mcp-session-id, mcp-protocol-version, last-event-id"
)
CORS_EXPOSE_HEADERS = "mcp-session-id, mcp-protocol-version, www-authenticate"

Headers = list[tuple[str, str]]


def _set_state(entry: Tracked | None, state: State) -> None:
    if entry is not None:
        entry.set_state(state)


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


def _streamed(message: Request, session: HttpSession) -> bool:
    """Whether the request is answered on an SSE stream when the client accepts both: a call
    (its events come first), not a task-augmented one (answered at once with its task), and
    `tasks/result` (its task's messages come first)."""
    if message.method == "tools/call":
        params = message.params or {}
        return not ("task" in params and session.state.speaks(REVISION_2025_11_25))
    return message.method in STREAMED_METHODS


def _without_progress_before_response(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last chunk of a request's stream: its progress notifications are dropped when the
    response rides in the same chunk (see `outgoing.drop_superseded_progress`)."""
    if "method" in batch[-1]:
        return batch
    return [m for m in batch if m.get("method") != PROGRESS_METHOD]


class McpEndpoint:
    def __init__(self, sessions: SessionManager, policy: AccessPolicy, limits: HttpLimits) -> None:
        self._sessions = sessions
        self._policy = policy
        self._limits = limits
        self._budget = BodyBudget(limits.body_budget)

    async def serve_connection(self, stream: ByteStream, entry: Tracked | None = None) -> None:
        """Serve one client connection until it closes; never raises.

        `entry` is the connection's row in the connection table: its state says whether the
        connection may be closed to make room (waiting for a head, or closing) or not.
        """
        conn = HttpConnection(stream, self._limits.max_body, self._budget)
        ends = entry.ends if entry is not None else None
        try:
            while True:
                try:
                    request = await conn.next_request()
                    if request is None:
                        break
                    _set_state(entry, State.BUSY)
                    await self._serve(conn, request, ends)
                except HttpError as exc:
                    _set_state(entry, State.CLOSING)
                    if conn.can_respond:
                        await self._error(conn, exc.status, exc.message, list(exc.headers))
                    await conn.linger()
                    break
                if not conn.reusable:
                    _set_state(entry, State.CLOSING)
                    await conn.linger()
                    break
                _set_state(entry, State.IDLE)
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
        body = jsonrpc.encode(jsonrpc.error_response(None, code, message))
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

    async def _serve(self, conn: HttpConnection, request: HttpRequest, ends: Endpoints | None) -> None:
        preflight = request.method == "OPTIONS"
        refusal = self._policy.check(request.headers, preflight=preflight)
        if refusal is not None:
            # Answered from the head alone: the body (if any) is never read.
            peer = peer_key(ends.remote[0]) if ends is not None else "?"
            _log_refusal("refused", "refused %s from %s: %s", request.method, peer, refusal.message)
            raise HttpError(refusal.status, refusal.message, refusal.headers)
        headers = self._cors(request)
        if request.method != "POST":
            # Bodies mean nothing here; a small one is read and dropped so the connection
            # can be reused, a larger one is refused unread.
            await conn.read_body(MAX_HEAD_BYTES)
        if request.path != MCP_PATH:
            await self._error(conn, 404, f"Not Found: the MCP endpoint is {MCP_PATH}", headers)
        elif request.method == "POST":
            await self._post(conn, request, headers, ends)
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

    async def _post(
        self, conn: HttpConnection, request: HttpRequest, headers: Headers, ends: Endpoints | None
    ) -> None:
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
        existing: HttpSession | None = None
        if SESSION_HEADER in request.headers:
            existing = await self._session_for(conn, request, headers)
            if existing is None:
                return
        try:
            message = jsonrpc.parse_message(await conn.read_body())
        finally:
            conn.release_body()  # parsed: the raw bytes are gone
        if isinstance(message, ErrorReply):
            body = jsonrpc.encode(message.to_json())
            await conn.respond(400, [("content-type", "application/json"), *headers], body)
            return
        if existing is not None:
            session = existing
        else:
            if not (isinstance(message, Request) and message.method == "initialize"):
                await self._error(conn, 400, "Bad Request: the Mcp-Session-Id header is required", headers)
                return
            problem = self._version_problem(request)
            if problem is not None:
                await self._error(conn, 400, problem, headers)
                return
            created = await self._new_session(conn, headers, ends)
            if created is None:
                return
            session = created
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
        streaming = sse_ok and (_streamed(message, session) or not json_ok)
        route = session.sink.open_route(message.id, notifications=streaming)
        if not await self._handle(conn, session, message, headers):
            route.detach()
            return
        if streaming:
            await self.stream(conn, session, route, headers)
        else:
            await self._json_reply(conn, route, headers)

    async def _new_session(
        self, conn: HttpConnection, headers: Headers, ends: Endpoints | None
    ) -> HttpSession | None:
        """A session counted against the client's quota, or None after answering why not."""
        identity = "?"
        if ends is not None:
            owner = await anyio.to_thread.run_sync(socket_owner, ends)
            identity = client_identity(ends, owner)
        try:
            return await self._sessions.create(identity)
        except SessionRefused as refused:
            _log_refusal("session", "refused a session for %s: %s", identity, refused.message)
            retry = [("retry-after", str(refused.retry_after))]
            await self._error(conn, refused.status, refused.message, [*headers, *retry])
        except Exception:
            log.exception("could not start a session")
            await self._error(conn, 500, "Internal Server Error: could not start a session", headers)
        return None

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
        except* PeerGone:  # raised in the task group (the pump), so it may come grouped
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
            if ended and len(batch) > 1:
                batch = _without_progress_before_response(batch)
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
