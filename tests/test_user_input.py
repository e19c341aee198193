"""`request_user_input`: the model's questions checked, put to the person as a form, and the
answers (or their absence) told to the model."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from codex_mcp.agent.approvals import QuestionBroker
from codex_mcp.agent.events import Event, UserInputRequest
from codex_mcp.agent.handlers.user_input import (
    DECLINED,
    NOBODY_TO_ASK,
    answers_text,
    handle_request_user_input,
    validate_questions,
)
from codex_mcp.outgoing import Answered, Disconnected, Failed, TimedOut
from codex_mcp.tools.questions import question_form, question_params, read_answers

QUESTION = {
    "id": "db",
    "header": "Database",
    "question": "Which database should the service use?",
    "options": [
        {"label": "Postgres", "description": "what prod runs"},
        {"label": "SQLite", "description": ""},
    ],
}


def test_valid_questions_pass_trimmed() -> None:
    (q,) = validate_questions({"questions": [{**QUESTION, "header": "  Database "}]})
    assert q["header"] == "Database" and [o["label"] for o in q["options"]] == ["Postgres", "SQLite"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({}, "non-empty array"),
        ({"questions": []}, "non-empty array"),
        ({"questions": [QUESTION] * 4}, "at most 3"),
        ({"questions": [QUESTION, QUESTION]}, "used twice"),
        ({"questions": [{**QUESTION, "id": ""}]}, "id must be"),
        ({"questions": [{**QUESTION, "id": "x" * 65}]}, "at most 64"),
        ({"questions": [{**QUESTION, "question": "q" * 1001}]}, "at most 1000"),
        ({"questions": [{**QUESTION, "options": [{"label": "a", "description": ""}] * 7}]}, "at most 6"),
        ({"questions": [{**QUESTION, "options": ["a"]}]}, "must be an object"),
        ({"questions": ["what?"]}, "must be an object"),
    ],
)
def test_bad_questions_are_refused_with_the_reason(args: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        validate_questions(args)


def test_the_model_reads_the_answers_by_question_id() -> None:
    text = answers_text([QUESTION], {"db": " Postgres ", "other": "x"})
    assert json.loads(text) == {"answers": {"db": {"answers": ["Postgres"]}}}
    assert answers_text([QUESTION], {"db": "  "}) == DECLINED


def test_the_form_has_a_text_field_per_question() -> None:
    form = question_form([QUESTION])
    field = form["properties"]["db"]
    assert field["type"] == "string" and field["title"] == "Database"
    assert "Postgres (what prod runs); SQLite" in field["description"]
    old = question_params({"call_id": "c", "questions": [QUESTION]}, "th", 7, "turn", "2025-06-18")
    new = question_params({"call_id": "c", "questions": [QUESTION]}, "th", 7, "turn", "2025-11-25")
    assert old["codex_elicitation"] == "request-user-input" and old["codex_call_id"] == "c"
    assert old["message"] == "Codex has 1 question for you." and "mode" not in old
    assert new["mode"] == "form"


@pytest.mark.parametrize(
    ("outcome", "answers"),
    [
        (Answered({"action": "accept", "content": {"db": "Postgres"}}), {"db": "Postgres"}),
        (Answered({"action": "accept", "content": {"db": "x" * 5000}}), {"db": "x" * 4000}),
        (Answered({"action": "accept", "content": {"db": 3, "zzz": "no"}}), None),
        (Answered({"action": "accept"}), None),
        (Answered({"action": "decline"}), None),
        (Answered({"action": "cancel", "content": {"db": "Postgres"}}), None),
        (Answered({"decision": "approved"}), None),
        (Failed({"code": -32603, "message": "no"}), None),
        (TimedOut(600.0), None),
        (Disconnected("gone"), None),
    ],
)
def test_only_an_accepted_form_is_an_answer(outcome: Any, answers: dict[str, str] | None) -> None:
    assert read_answers(outcome, [QUESTION]) == answers


class Ctx:
    turn_id = "tu"

    def __init__(self, answer: Any) -> None:
        self.asked: list[dict[str, Any]] = []
        self._answer = answer
        self.ask_user = self._ask if answer != "nobody" else None

    async def _ask(self, msg: Any) -> Any:
        self.asked.append(msg)
        return self._answer


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"db": "SQLite"}, '{"answers": {"db": {"answers": ["SQLite"]}}}'),
        (None, DECLINED),
        ("nobody", NOBODY_TO_ASK),
        ({}, NOBODY_TO_ASK),
    ],
)
async def test_the_handler_always_answers_the_model(answer: Any, expected: str) -> None:
    ctx = Ctx(answer)
    with anyio.fail_after(5):
        out = await handle_request_user_input(ctx, "call-1", {"questions": [QUESTION]})  # type: ignore[arg-type]
    assert out == expected
    if answer != "nobody":
        assert ctx.asked[0]["type"] == "request_user_input" and ctx.asked[0]["call_id"] == "call-1"


@pytest.mark.anyio
async def test_the_broker_waits_for_the_answer_and_says_when_nobody_listens() -> None:
    broker = QuestionBroker()
    published: list[Event] = []

    async def publish(event: Event) -> bool:
        published.append(event)
        assert isinstance(event, UserInputRequest)
        event.respond({"db": "Postgres"})
        return True

    msg: Any = {"type": "request_user_input", "call_id": "c", "turn_id": "t", "questions": [QUESTION]}
    with anyio.fail_after(5):
        assert await broker.ask("t", msg, publish) == {"db": "Postgres"}

    async def nobody(event: Event) -> bool:
        return False

    with anyio.fail_after(5):
        assert await broker.ask("t", msg, nobody) == {}  # nobody to ask, not a refusal

    async def declines(event: Event) -> bool:
        assert isinstance(event, UserInputRequest)
        event.decline()
        return True

    with anyio.fail_after(5):
        assert await broker.ask("t", msg, declines) is None
