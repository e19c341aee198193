"""`request_user_input`: the model asks the person one to three short questions.

The questions go to the host (over MCP: an elicitation form the person fills in) and the
answers come back as the call's output.  Every way of not getting an answer (the person
declines, the client cannot show forms, the wait runs out, nobody is listening) gives the
model a plain statement that it must decide on its own: the turn never waits forever.

What the model wrote is shown to a person, so it is bounded: at most `MAX_QUESTIONS`
questions of `MAX_TEXT_CHARS` each, `MAX_OPTIONS` options per question.
"""

from __future__ import annotations

import json
from typing import Any

from codex_mcp.agent import events as ev
from codex_mcp.agent.handlers.context import HandlerContext

MAX_QUESTIONS = 3
MAX_OPTIONS = 6
MAX_TEXT_CHARS = 1000
MAX_ID_CHARS = 64
MAX_ANSWER_CHARS = 4000

NOBODY_TO_ASK = (
    "request_user_input is not available here: nobody can be asked questions in this session. "
    "Decide on your own with the most reasonable assumption, and say which one you made."
)
DECLINED = (
    "The person did not answer the questions (declined, or no answer came in time). "
    "Decide on your own with the most reasonable assumption, and say which one you made."
)


def _text(value: Any, what: str, limit: int = MAX_TEXT_CHARS) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string")
    if len(value) > limit:
        raise ValueError(f"{what} has {len(value)} characters; at most {limit} are accepted")
    return value.strip()


def validate_questions(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The questions, checked and trimmed; ValueError naming the problem otherwise."""
    questions = args.get("questions")
    if not isinstance(questions, list) or not questions:
        raise ValueError("`questions` must be a non-empty array")
    if len(questions) > MAX_QUESTIONS:
        raise ValueError(f"at most {MAX_QUESTIONS} questions can be asked at once")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, question in enumerate(questions):
        where = f"questions[{index}]"
        if not isinstance(question, dict):
            raise ValueError(f"{where} must be an object")
        qid = _text(question.get("id"), f"{where}.id", MAX_ID_CHARS)
        if qid in seen:
            raise ValueError(f"{where}.id `{qid}` is used twice")
        seen.add(qid)
        options = question.get("options") or []
        if not isinstance(options, list) or len(options) > MAX_OPTIONS:
            raise ValueError(f"{where}.options must be an array of at most {MAX_OPTIONS} options")
        checked = []
        for o_index, option in enumerate(options):
            if not isinstance(option, dict):
                raise ValueError(f"{where}.options[{o_index}] must be an object")
            description = option.get("description")
            checked.append(
                {
                    "label": _text(option.get("label"), f"{where}.options[{o_index}].label"),
                    "description": description[:MAX_TEXT_CHARS] if isinstance(description, str) else "",
                }
            )
        out.append(
            {
                "id": qid,
                "header": _text(question.get("header"), f"{where}.header"),
                "question": _text(question.get("question"), f"{where}.question"),
                "options": checked,
            }
        )
    return out


def answers_text(questions: list[dict[str, Any]], answers: dict[str, str]) -> str:
    """The model's view of the answers: JSON keyed by question id (unanswered ones left out)."""
    by_id: dict[str, Any] = {}
    for question in questions:
        answer = answers.get(question["id"])
        if isinstance(answer, str) and answer.strip():
            by_id[question["id"]] = {"answers": [answer.strip()[:MAX_ANSWER_CHARS]]}
    if not by_id:
        return DECLINED
    return json.dumps({"answers": by_id}, ensure_ascii=False)


async def handle_request_user_input(ctx: HandlerContext, call_id: str, args: dict[str, Any]) -> str:
    try:
        questions = validate_questions(args)
    except ValueError as exc:
        return f"failed to parse function arguments: {exc}"
    if ctx.ask_user is None:
        return NOBODY_TO_ASK
    answers = await ctx.ask_user(ev.request_user_input(call_id, ctx.turn_id, questions))
    if answers is None:
        return DECLINED
    if not answers:
        return NOBODY_TO_ASK
    return answers_text(questions, answers)
