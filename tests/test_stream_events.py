"""What a client sees of a streaming response (`stream_events`) and of tool calls (`ItemTracker`)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from codex_mcp.agent.config.model import DeltaEvents
from codex_mcp.agent.events import ItemTracker
from codex_mcp.agent.model.types import (
    OutputItemAdded,
    OutputItemDone,
    OutputTextDelta,
    ReasoningContentDelta,
    ReasoningSummaryDelta,
    ReasoningSummaryPartAdded,
    ResponseEvent,
)
from codex_mcp.agent.stream_events import ResponseRelay

pytestmark = pytest.mark.anyio

REASONING = {
    "type": "reasoning",
    "id": "rs_1",
    "summary": [{"type": "summary_text", "text": "Looking"}, {"type": "summary_text", "text": "Deciding"}],
    "content": [{"type": "reasoning_text", "text": "raw thoughts"}],
    "encrypted_content": "E",
}
MESSAGE = {
    "type": "message",
    "id": "msg_1",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
}
RESPONSE: list[ResponseEvent] = [
    OutputItemAdded({"type": "reasoning", "id": "rs_1"}),
    ReasoningSummaryPartAdded("rs_1", 0),
    ReasoningSummaryDelta("Look", 0, "rs_1"),
    ReasoningSummaryDelta("ing", 0, "rs_1"),
    ReasoningSummaryPartAdded("rs_1", 1),
    ReasoningSummaryDelta("Deciding", 1, "rs_1"),
    ReasoningContentDelta("raw thoughts", 0, "rs_1"),
    OutputItemDone(REASONING),
    OutputItemAdded({"type": "message", "id": "msg_1", "role": "assistant"}),
    OutputTextDelta("Hel", "msg_1"),
    OutputTextDelta("lo", "msg_1"),
    OutputItemDone(MESSAGE),
]


async def relay(
    events: list[ResponseEvent], deltas: DeltaEvents = "content", **kw: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def emit(msg: Any) -> None:
        sent.append(dict(msg))

    r = ResponseRelay(ItemTracker("th", "tu"), emit, deltas=deltas, **kw)
    kept = []
    with anyio.fail_after(5):
        for event in events:
            item = await r.on_event(event)
            if item is not None:
                kept.append(item)
    return sent, kept


async def test_the_order_codex_sends() -> None:
    sent, kept = await relay(RESPONSE)
    assert [m["type"] for m in sent] == [
        "item_started",
        "agent_reasoning_section_break",
        "reasoning_content_delta",
        "reasoning_content_delta",
        "agent_reasoning_section_break",
        "reasoning_content_delta",
        "item_completed",
        "agent_reasoning",
        "agent_reasoning",
        "item_started",
        "agent_message_content_delta",
        "agent_message_content_delta",
        "item_completed",
        "agent_message",
    ]
    reasoning_done = sent[6]
    assert reasoning_done["item"] == {
        "type": "Reasoning",
        "id": "rs_1",
        "summary_text": ["Looking", "Deciding"],
        "raw_content": [],
    }
    assert reasoning_done["started_at_ms"] == sent[0]["started_at_ms"]
    assert sent[10] == {
        "type": "agent_message_content_delta",
        "thread_id": "th",
        "turn_id": "tu",
        "item_id": "msg_1",
        "delta": "Hel",
    }
    assert sent[5]["summary_index"] == 1 and sent[5]["item_id"] == "rs_1"
    assert sent[-1] == {"type": "agent_message", "message": "Hello", "phase": None, "memory_citation": None}
    assert kept[1] == {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello"}],
    }
    assert kept[0]["encrypted_content"] == "E" and kept[0]["content"] == REASONING["content"]


@pytest.mark.parametrize(("mode", "content", "legacy"), [("content", 2, 0), ("legacy", 0, 2), ("both", 2, 2)])
async def test_the_delta_names_follow_the_setting(mode: DeltaEvents, content: int, legacy: int) -> None:
    sent, _ = await relay(RESPONSE, deltas=mode)
    types = [m["type"] for m in sent]
    assert types.count("agent_message_content_delta") == content
    assert types.count("agent_message_delta") == legacy
    assert types.count("reasoning_content_delta") == (3 if content else 0)
    assert types.count("agent_reasoning_delta") == (3 if legacy else 0)


async def test_hidden_reasoning_sends_nothing_of_it_and_raw_is_opt_in() -> None:
    sent, kept = await relay(RESPONSE, hide_reasoning=True)
    assert not any("reasoning" in m["type"] or m.get("item", {}).get("type") == "Reasoning" for m in sent)
    assert kept[0]["type"] == "reasoning"  # still kept and replayed
    sent, _ = await relay(RESPONSE, show_raw_reasoning=True)
    assert [m["text"] for m in sent if m["type"] == "agent_reasoning_raw_content"] == ["raw thoughts"]
    assert any(m["type"] == "agent_reasoning_raw_content_delta" for m in sent)


async def test_items_without_an_opening_event_still_start_and_complete() -> None:
    # The Chat wire and some gateways send no output_item.added and no item ids.
    plain = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}
    sent, _ = await relay([OutputTextDelta("o"), OutputTextDelta("k"), OutputItemDone(plain)])
    assert [m["type"] for m in sent] == [
        "item_started",
        "agent_message_content_delta",
        "agent_message_content_delta",
        "item_completed",
        "agent_message",
    ]
    ids = {sent[0]["item"]["id"], sent[1]["item_id"], sent[3]["item"]["id"]}
    assert len(ids) == 1 and next(iter(ids)).startswith("msg_")


async def test_a_hosted_web_search_is_relayed() -> None:
    call = {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search", "query": "q"},
    }
    sent, kept = await relay(
        [OutputItemAdded({"type": "web_search_call", "id": "ws_1"}), OutputItemDone(call)]
    )
    assert [m["type"] for m in sent] == [
        "item_started",
        "web_search_begin",
        "item_completed",
        "web_search_end",
    ]
    assert sent[0]["item"] == {"type": "WebSearch", "id": "ws_1", "query": "", "action": {"type": "other"}}
    assert sent[2]["item"] == {
        "type": "WebSearch",
        "id": "ws_1",
        "query": "q",
        "action": {"type": "search", "query": "q"},
    }
    assert sent[3] == {
        "type": "web_search_end",
        "call_id": "ws_1",
        "query": "q",
        "action": {"type": "search", "query": "q"},
    }
    assert kept == [call]
    # No opening event, an action without a query: still a begin and an end.
    sent, _ = await relay([OutputItemDone({"type": "web_search_call", "id": "ws_2", "action": "junk"})])
    assert [m["type"] for m in sent] == [
        "item_started",
        "web_search_begin",
        "item_completed",
        "web_search_end",
    ]
    assert sent[-1]["query"] == "" and sent[-1]["action"] == {"type": "other"}


def test_tool_events_get_their_items_first() -> None:
    tracker = ItemTracker("th", "tu")
    begin = {
        "type": "exec_command_begin",
        "call_id": "c1",
        "turn_id": "tu",
        "command": ["ls"],
        "cwd": "/w",
        "parsed_cmd": [],
    }
    (started,) = tracker.before(begin)
    assert started["item"] == {
        "type": "CommandExecution",
        "id": "c1",
        "command": ["ls"],
        "cwd": "/w",
        "parsed_cmd": [],
        "status": "in_progress",
    }
    end = {
        **begin,
        "type": "exec_command_end",
        "exit_code": 2,
        "stdout": "",
        "stderr": "x",
        "aggregated_output": "x",
    }
    (completed,) = tracker.before(end)
    assert completed["item"]["status"] == "failed" and completed["item"]["exit_code"] == 2
    assert completed["started_at_ms"] == started["started_at_ms"]
    patch = {
        "type": "patch_apply_begin",
        "call_id": "p",
        "turn_id": "tu",
        "auto_approved": False,
        "changes": {},
    }
    assert tracker.before(patch)[0]["item"] == {
        "type": "FileChange",
        "id": "p",
        "changes": {},
        "auto_approved": False,
    }
    done = {
        "type": "patch_apply_end",
        "call_id": "p",
        "stdout": "",
        "stderr": "no",
        "success": False,
        "changes": {},
        "status": "declined",
    }
    assert tracker.before(done)[0]["item"]["status"] == "declined"
    assert tracker.before({"type": "plan_update", "plan": []}) == []
