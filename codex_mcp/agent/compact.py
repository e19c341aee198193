"""Compaction: replace a long history by a summary plus the recent user messages.

The summary comes from the same model, asked (with the compact prompt) to write a hand-off
note for itself.  The new history keeps the thread's initial context, the most recent user
messages within a budget, and the summary as a user message; the rollout records the
replacement so a resumed thread starts from the compacted history too.
"""

from __future__ import annotations

from collections.abc import Callable

from codex_mcp.agent import events as ev
from codex_mcp.agent.config.model import Config
from codex_mcp.agent.events import Emit
from codex_mcp.agent.history import History
from codex_mcp.agent.items import is_message, message_text, text_message
from codex_mcp.agent.model.types import OutputItemDone, Prompt, ResponseItem
from codex_mcp.agent.sampling import ModelStream, retry_reporter

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
    text = message_text(item)
    return role == "user" and (text.startswith("<environment_context>") or text.startswith("# AGENTS.md"))


def _user_text(item: ResponseItem) -> str | None:
    if not is_message(item, "user") or _is_context(item):
        return None
    return message_text(item)


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
    return [*context, *recent, text_message("user", SUMMARY_PREFIX + summary)]


async def compact_history(
    model: ModelStream,
    config: Config,
    history: History,
    make_prompt: Callable[[list[ResponseItem]], Prompt],
    *,
    thread_id: str,
    turn_id: str,
    emit: Emit,
) -> None:
    """Ask the model for a summary and make the compacted history the thread's history.

    `make_prompt(items)` is the thread's request for `items` (its family's instructions and
    fields, no tools): the summary is written by the same model under the same contract."""
    prompt_text = config.compact_prompt or DEFAULT_COMPACT_PROMPT
    request = [*history.items, text_message("user", prompt_text)]
    prompt = make_prompt(request)
    summary = ""
    async for event in model.stream(
        prompt, model=config.model, thread_id=thread_id, turn_id=turn_id, on_retry=retry_reporter(emit)
    ):
        if isinstance(event, OutputItemDone) and event.item.get("type") == "message":
            summary = message_text(event.item)
    new_history = rebuild_history(history.items, summary.strip() or "(no summary was produced)")
    history.replace(new_history, summary)
    await emit(ev.context_compacted())
