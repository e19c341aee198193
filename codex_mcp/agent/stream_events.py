"""What the client sees of one model response while it streams: items and their deltas.

Each output item of a response becomes a thread item that starts (when the provider says
it began, or at its first delta) and completes (when the whole item arrives), with its text
streamed in between.  Codex 0.147 names the deltas after the item
(`agent_message_content_delta`, `reasoning_content_delta`); older clients know
`agent_message_delta` / `agent_reasoning_delta`, which `[codex_mcp] delta_events` selects.
Hosted web searches, run by the provider itself, are relayed as `web_search_begin` /
`web_search_end`.

`ResponseRelay.on_event` turns one stream event into events for the client and returns the
completed item, in the shape it is kept (`items.normalize_model_item`), if the event
completed one.
"""

from __future__ import annotations

from typing import Any

from codex_mcp.agent import events as ev
from codex_mcp.agent.config.model import DeltaEvents
from codex_mcp.agent.events import Emit, ItemTracker
from codex_mcp.agent.events.thread_items import (
    agent_message_item,
    reasoning_item,
    web_search_action,
    web_search_item,
)
from codex_mcp.agent.ids import item_id as new_item_id
from codex_mcp.agent.items import OUTPUT_TEXT_KINDS, is_message, message_text, normalize_model_item
from codex_mcp.agent.model.types import (
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ReasoningContentDelta,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    ResponseEvent,
    ResponseItem,
)

MAX_ITEMS_PER_RESPONSE = 1000
"""Output items of one response announced to the client as started.  A real response has a
handful; a hostile provider could open millions, each an `item_started` the client has to
take in ahead of everything else.  Beyond this, items are still kept and completed, but
their start is not announced."""


class ResponseRelay:
    """The client's view of one response (one per sampling attempt)."""

    def __init__(
        self,
        tracker: ItemTracker,
        emit: Emit,
        *,
        deltas: DeltaEvents = "content",
        hide_reasoning: bool = False,
        show_raw_reasoning: bool = False,
    ) -> None:
        self._tracker = tracker
        self._emit = emit
        self._content = deltas in ("content", "both")
        self._legacy = deltas in ("legacy", "both")
        self._hide = hide_reasoning
        self._raw = show_raw_reasoning and not hide_reasoning
        self._message: str | None = None
        """The id of the agent message being streamed."""
        self._reasoning: str | None = None
        self._opened = 0

    async def _start(self, item: dict[str, Any]) -> None:
        self._opened += 1
        if self._opened <= MAX_ITEMS_PER_RESPONSE:
            await self._emit(self._tracker.start(item))

    async def on_event(self, event: ResponseEvent) -> ResponseItem | None:
        if isinstance(event, OutputTextDelta):
            await self._text_delta(event)
        elif isinstance(event, OutputItemAdded):
            await self._added(event.item)
        elif isinstance(event, OutputItemDone):
            return await self._done(event.item)
        elif isinstance(event, ReasoningSummaryPartAdded):
            if not self._hide:
                item_id = await self._open_reasoning(event.item_id)
                await self._emit(ev.agent_reasoning_section_break(item_id, event.summary_index))
        elif isinstance(event, ReasoningSummaryDelta):
            if not self._hide:
                await self._reasoning_delta(event)
        elif isinstance(event, ReasoningContentDelta) and self._raw:
            await self._emit(ev.agent_reasoning_raw_content_delta(event.delta))
        return None

    # -- opening items ---------------------------------------------------------------------

    async def _added(self, item: dict[str, Any]) -> None:
        kind = item.get("type")
        given = str(item.get("id") or "")
        if kind == "message" and item.get("role") == "assistant":
            await self._open_message(given)
        elif kind == "reasoning" and not self._hide:
            await self._open_reasoning(given)
        elif kind == "web_search_call":
            await self._open_search(given or new_item_id("ws"))

    async def _open_message(self, given: str) -> str:
        if self._message is not None and (not given or given == self._message):
            return self._message
        self._message = given or new_item_id("msg")
        await self._start(agent_message_item(self._message, ""))
        return self._message

    async def _open_reasoning(self, given: str) -> str:
        if self._reasoning is not None and (not given or given == self._reasoning):
            return self._reasoning
        self._reasoning = given or new_item_id("rs")
        await self._start(reasoning_item(self._reasoning, [], []))
        return self._reasoning

    async def _open_search(self, search_id: str) -> None:
        if self._tracker.is_open(search_id) or self._opened >= MAX_ITEMS_PER_RESPONSE:
            return
        await self._start(web_search_item(search_id, "", {"type": "other"}))
        await self._emit(ev.web_search_begin(search_id))

    # -- deltas ----------------------------------------------------------------------------

    async def _text_delta(self, event: OutputTextDelta) -> None:
        item_id = await self._open_message(event.item_id)
        tracker = self._tracker
        if self._content:
            await self._emit(
                ev.agent_message_content_delta(tracker.thread_id, tracker.turn_id, item_id, event.delta)
            )
        if self._legacy:
            await self._emit(ev.agent_message_delta(event.delta))

    async def _reasoning_delta(self, event: ReasoningSummaryDelta) -> None:
        item_id = await self._open_reasoning(event.item_id)
        tracker = self._tracker
        if self._content:
            await self._emit(
                ev.reasoning_content_delta(
                    tracker.thread_id, tracker.turn_id, item_id, event.delta, event.summary_index
                )
            )
        if self._legacy:
            await self._emit(ev.agent_reasoning_delta(event.delta))

    # -- completed items -------------------------------------------------------------------

    async def _done(self, raw: ResponseItem) -> ResponseItem:
        item = normalize_model_item(raw)
        kind = item.get("type")
        if is_message(item, "assistant"):
            text = message_text(item, OUTPUT_TEXT_KINDS)
            item_id = await self._open_message(str(item.get("id") or ""))
            self._message = None
            await self._emit(self._tracker.complete(agent_message_item(item_id, text)))
            await self._emit(ev.agent_message(text))
        elif kind == "reasoning" and not self._hide:
            await self._reasoning_done(item)
        elif kind == "web_search_call":
            search_id = str(item.get("id") or new_item_id("ws"))
            await self._open_search(search_id)
            query, action = web_search_action(item)
            await self._emit(self._tracker.complete(web_search_item(search_id, query, action)))
            await self._emit(ev.web_search_end(search_id, query, action))
        return item

    async def _reasoning_done(self, item: ResponseItem) -> None:
        summary = _texts(item.get("summary"))
        raw = _texts(item.get("content")) if self._raw else []
        item_id = await self._open_reasoning(str(item.get("id") or ""))
        self._reasoning = None
        await self._emit(self._tracker.complete(reasoning_item(item_id, summary, raw)))
        for text in summary:
            await self._emit(ev.agent_reasoning(text))
        for text in raw:
            await self._emit(ev.agent_reasoning_raw_content(text))


def _texts(parts: Any) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [
        str(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str) and p["text"]
    ]
