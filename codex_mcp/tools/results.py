"""The `CallToolResult` of our tools: the agent's final message, or what went wrong.

Both tools answer `content: [{type: "text", text}]` and `structuredContent: {threadId, content}`.
An error result is `isError: true`; once a thread exists its id rides along, in
`structuredContent` and in a last text block `threadId: <id>`, since some clients show their
model only the text of an error.
"""

from __future__ import annotations

from typing import Any

from codex_mcp.agent import events as ev
from codex_mcp.agent.events import Event


def _result(text: str, thread_id: str | None, is_error: bool) -> dict[str, Any]:
    """The wire form of MCP's `CallToolResult`, keys in the model's order (built by hand: the
    model would load pydantic on every first call; `tests/test_call_args.py` compares)."""
    texts = [text]
    if is_error and thread_id is not None:
        # A block of its own keeps the first block the bare message.
        texts.append(f"threadId: {thread_id}")
    result: dict[str, Any] = {"content": [{"text": t, "type": "text"} for t in texts]}
    if is_error:
        result["isError"] = True
    if thread_id is not None:
        result["structuredContent"] = {"threadId": thread_id, "content": text}
    return result


def error_result(text: str, thread_id: str | None = None) -> dict[str, Any]:
    """An `isError` CallToolResult (with the thread's id once a thread exists)."""
    return _result(text, thread_id, is_error=True)


def success_result(thread_id: str, text: str) -> dict[str, Any]:
    return _result(text, thread_id, is_error=False)


def turn_result(thread_id: str, last: Event | None) -> dict[str, Any]:
    """The result of a call whose turn ended with `last` (None: it emitted nothing)."""
    if last is None:
        return error_result("The turn ended without any event.", thread_id)
    kind = last.type
    if kind == ev.TASK_COMPLETE:
        return success_result(thread_id, last.msg.get("last_agent_message") or "")
    if kind == ev.TURN_ABORTED:
        return error_result("Turn aborted.", thread_id)
    if kind == ev.ERROR:
        return error_result(str(last.msg.get("message") or "the model request failed"), thread_id)
    return error_result(f"The turn ended unexpectedly after `{kind}`.", thread_id)
