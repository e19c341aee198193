"""The item layer of the event stream, as Codex 0.147 sends it.

Besides the older per-kind events (`agent_message`, `exec_command_begin`, ...), a 0.147
client sees every piece of a turn as a *thread item* that starts and completes:
`item_started` / `item_completed` `{thread_id, turn_id, item, started_at_ms[,
completed_at_ms]}` for the user's message, the agent's message and reasoning, each command,
each patch and each web search, with the streamed text in between as
`agent_message_content_delta` / `reasoning_content_delta` (which name the item).

Tool handlers emit only the older events; `ItemTracker` derives the item events from them
(an `item_started` before `exec_command_begin` / `patch_apply_begin`, an `item_completed`
before the matching end event), so the item layer is built here, in one place, for every
handler, including those added later.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codex_mcp.agent.events.payloads import (
        AgentMessageContentDelta,
        EventMsg,
        ItemCompleted,
        ItemStarted,
        ReasoningContentDeltaMsg,
        WebSearchBegin,
        WebSearchEnd,
    )


ITEM_STARTED = "item_started"
ITEM_COMPLETED = "item_completed"
AGENT_MESSAGE_CONTENT_DELTA = "agent_message_content_delta"
REASONING_CONTENT_DELTA = "reasoning_content_delta"
WEB_SEARCH_BEGIN = "web_search_begin"
WEB_SEARCH_END = "web_search_end"

_OWN_KEYS = frozenset({"type", "call_id", "turn_id", "started_at_ms", "completed_at_ms"})
MAX_OPEN_ITEMS = 1024
"""Items a turn remembers as started and not yet completed.  A provider's stream decides how
many items begin (a hostile one can open millions and complete none), so the oldest is
forgotten beyond this; its `item_completed`, if it ever comes, is stamped at completion."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def item_started(thread_id: str, turn_id: str, item: dict[str, Any], started_at_ms: int) -> ItemStarted:
    return {
        "type": "item_started",
        "thread_id": thread_id,
        "turn_id": turn_id,
        "item": item,
        "started_at_ms": started_at_ms,
    }


def item_completed(
    thread_id: str, turn_id: str, item: dict[str, Any], started_at_ms: int, completed_at_ms: int
) -> ItemCompleted:
    return {
        "type": "item_completed",
        "thread_id": thread_id,
        "turn_id": turn_id,
        "item": item,
        "started_at_ms": started_at_ms,
        "completed_at_ms": completed_at_ms,
    }


def agent_message_content_delta(
    thread_id: str, turn_id: str, item_id: str, delta: str
) -> AgentMessageContentDelta:
    return {
        "type": "agent_message_content_delta",
        "thread_id": thread_id,
        "turn_id": turn_id,
        "item_id": item_id,
        "delta": delta,
    }


def reasoning_content_delta(
    thread_id: str, turn_id: str, item_id: str, delta: str, summary_index: int
) -> ReasoningContentDeltaMsg:
    return {
        "type": "reasoning_content_delta",
        "thread_id": thread_id,
        "turn_id": turn_id,
        "item_id": item_id,
        "delta": delta,
        "summary_index": summary_index,
    }


def web_search_begin(call_id: str) -> WebSearchBegin:
    return {"type": "web_search_begin", "call_id": call_id}


def web_search_end(call_id: str, query: str, action: dict[str, Any]) -> WebSearchEnd:
    return {"type": "web_search_end", "call_id": call_id, "query": query, "action": action}


# --- the items -----------------------------------------------------------------------------


def user_message_item(item_id: str, texts: list[str]) -> dict[str, Any]:
    return {
        "type": "UserMessage",
        "id": item_id,
        "content": [{"type": "text", "text": t, "text_elements": []} for t in texts],
    }


def agent_message_item(item_id: str, text: str) -> dict[str, Any]:
    return {"type": "AgentMessage", "id": item_id, "content": [{"type": "Text", "text": text}]}


def reasoning_item(item_id: str, summary: list[str], raw: list[str]) -> dict[str, Any]:
    return {"type": "Reasoning", "id": item_id, "summary_text": summary, "raw_content": raw}


def web_search_item(item_id: str, query: str, action: dict[str, Any]) -> dict[str, Any]:
    return {"type": "WebSearch", "id": item_id, "query": query, "action": action}


def web_search_action(call: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the query, the action) of a `web_search_call` item, whatever the provider filled in."""
    action = call.get("action")
    if not isinstance(action, dict) or not isinstance(action.get("type"), str):
        return "", {"type": "other"}
    query = action.get("query")
    if not isinstance(query, str):
        queries = action.get("queries")
        query = next((q for q in queries if isinstance(q, str)), "") if isinstance(queries, list) else ""
    return query, dict(action)


def _command_item(begin: dict[str, Any]) -> dict[str, Any]:
    """A CommandExecution item from the fields of `exec_command_begin` (whichever it has)."""
    item: dict[str, Any] = {"type": "CommandExecution", "id": begin.get("call_id", "")}
    item.update({k: v for k, v in begin.items() if k not in _OWN_KEYS})
    return item


class ItemTracker:
    """Derives the item events of one turn from the tool events its handlers emit.

    `before(msg)` returns the events that go out just before `msg`.  It remembers when each
    item started, so its `item_completed` carries the same `started_at_ms`.
    """

    def __init__(self, thread_id: str, turn_id: str) -> None:
        self.thread_id = thread_id
        self.turn_id = turn_id
        self._started: dict[str, tuple[int, dict[str, Any]]] = {}

    def start(self, item: dict[str, Any]) -> ItemStarted:
        at = now_ms()
        started = self._started
        key = str(item["id"])
        started.pop(key, None)
        while len(started) >= MAX_OPEN_ITEMS:
            del started[next(iter(started))]
        started[key] = (at, item)
        return item_started(self.thread_id, self.turn_id, item, at)

    def complete(self, item: dict[str, Any]) -> ItemCompleted:
        at, _ = self._started.pop(str(item["id"]), (now_ms(), item))
        return item_completed(self.thread_id, self.turn_id, item, at, now_ms())

    def is_open(self, item_id: str) -> bool:
        return item_id in self._started

    def before(self, msg: EventMsg | dict[str, Any]) -> list[EventMsg]:
        kind = msg.get("type")
        if kind == "exec_command_begin":
            return [self.start({**_command_item(dict(msg)), "status": "in_progress"})]
        if kind == "exec_command_end":
            end = dict(msg)
            status = end.get("status") or ("completed" if end.get("exit_code") == 0 else "failed")
            return [self.complete({**_command_item(end), "status": status})]
        if kind == "patch_apply_begin":
            item = {
                "type": "FileChange",
                "id": msg.get("call_id", ""),
                "changes": msg.get("changes"),
                "auto_approved": msg.get("auto_approved"),
            }
            return [self.start(item)]
        if kind == "patch_apply_end":
            item = {
                "type": "FileChange",
                "id": msg.get("call_id", ""),
                "changes": msg.get("changes"),
                "status": msg.get("status") or ("completed" if msg.get("success") else "failed"),
                "stdout": msg.get("stdout", ""),
                "stderr": msg.get("stderr", ""),
            }
            return [self.complete(item)]
        return []
