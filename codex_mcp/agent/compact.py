"""Compaction: replace a long history by a summary plus the recent user messages.

The summary comes from the same model, asked (with the compact prompt) to write a hand-off
note for itself.  The new history keeps the thread's initial context, the most recent user
messages within a budget, and the summary as a user message; the rollout records the
replacement so a resumed thread starts from the compacted history too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from codex_mcp.agent import instructions
from codex_mcp.agent.model.types import OutputItemDone, Prompt, ResponseItem

if TYPE_CHECKING:
    from codex_mcp.agent.session import Thread

DEFAULT_COMPACT_PROMPT = (
    "You are handing this task over to another instance of yourself that will not see the "
    "conversation so far. Write a concise hand-off note: the goal, what has been done (files "
    "changed, commands run and what they showed), decisions made and why, and exactly what "
    "remains to do next. Keep concrete names, paths and values; drop chatter."
)
SUMMARY_PREFIX = "Summary of the conversation so far (written before older messages were dropped):\n\n"
RECENT_USER_BUDGET_CHARS = 20_000


def _is_context(item: ResponseItem) -> bool:
    if item.get("type") != "message":
        return False
    role = item.get("role")
    if role == "developer":
        return True
    text = "".join(p.get("text", "") for p in item.get("content") or [] if isinstance(p, dict))
    return role == "user" and (text.startswith("<environment_context>") or text.startswith("# AGENTS.md"))


def _user_text(item: ResponseItem) -> str | None:
    if item.get("type") != "message" or item.get("role") != "user" or _is_context(item):
        return None
    return "".join(p.get("text", "") for p in item.get("content") or [] if isinstance(p, dict))


def rebuild_history(history: list[ResponseItem], summary: str) -> list[ResponseItem]:
    """Pure: the compacted history for `history` and its `summary`."""
    context = [item for item in history if _is_context(item)]
    recent: list[ResponseItem] = []
    budget = RECENT_USER_BUDGET_CHARS
    for item in reversed(history):
        text = _user_text(item)
        if text is None or text.startswith(SUMMARY_PREFIX):
            continue
        if len(text) > budget:
            break
        budget -= len(text)
        recent.append(item)
    recent.reverse()
    return [*context, *recent, instructions.text_message("user", SUMMARY_PREFIX + summary)]


async def compact_history(thread: Thread, turn_id: str) -> list[ResponseItem]:
    prompt_text = thread.config.compact_prompt or DEFAULT_COMPACT_PROMPT
    history = [*thread.history, instructions.text_message("user", prompt_text)]
    prompt = Prompt(
        instructions=thread.instructions, input=history, tools=[], prompt_cache_key=thread.thread_id
    )

    async def on_retry(message: str, attempt: int, max_attempts: int, delay: float) -> None:
        await thread.emit(turn_id, {"type": "stream_error", "message": message, "codex_error_info": None})

    summary = ""
    async for event in thread.model_client.stream(
        prompt, model=thread.config.model, thread_id=thread.thread_id, turn_id=turn_id, on_retry=on_retry
    ):
        if isinstance(event, OutputItemDone) and event.item.get("type") == "message":
            summary = "".join(
                p.get("text", "") for p in event.item.get("content") or [] if isinstance(p, dict)
            )
    new_history = rebuild_history(thread.history, summary.strip() or "(no summary was produced)")
    thread.recorder.record("compacted", {"message": summary, "replacement_history": new_history})
    await thread.emit(turn_id, {"type": "context_compacted"})
    return new_history
