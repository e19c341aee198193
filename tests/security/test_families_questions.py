"""`request_user_input` from a hostile model, and clients that cannot or will not answer.

The model chooses the questions and when to ask; the person may never answer.  Judged from
outside: what reaches the client (no elicitation for refused questions), how long the call
takes (bounded by `elicitation_timeout_sec`, never a hang), what the model is told, and the
server answering `ping` while a question waits.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from codex_mcp.agent.handlers.user_input import DECLINED, NOBODY_TO_ASK
from tests.security.harness import assert_alive, run_call
from tests.support.raw_client import result_of, same_id, text_of, wait_until
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, write_config

pytestmark = pytest.mark.e2e

QUESTION = {
    "id": "choice",
    "header": "Pick",
    "question": "Which one?",
    "options": [{"label": "A", "description": "first"}, {"label": "B", "description": "second"}],
}


def ask(model: ScriptedModel, questions: list[object], call_id: str = "q") -> str:
    model.function("request_user_input", {"questions": questions}, call_id)
    model.text("decided")
    return call_id


def test_an_answer_reaches_the_model(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    call_id = ask(scripted_model, [QUESTION])
    client = spawn_server(policy=lambda msg: {"action": "accept", "content": {"choice": "B, but carefully"}})
    result = run_call(client)
    assert not result.get("isError"), result
    (request,) = client.server_requests()
    params = request["params"]
    assert params["codex_elicitation"] == "request-user-input" and params["codex_call_id"] == call_id
    assert params["requestedSchema"]["properties"]["choice"]["type"] == "string"
    assert scripted_model.call_output(call_id) == '{"answers": {"choice": {"answers": ["B, but carefully"]}}}'


def test_an_unanswered_question_ends_within_the_bound(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    write_config(codex_home, scripted_model, extra="[codex_mcp]\nelicitation_timeout_sec = 2\n")
    call_id = ask(scripted_model, [QUESTION])
    client = spawn_server(policy="never")
    rid = client.call_tool("codex", {"prompt": "go", "approval-policy": "never", "sandbox": "read-only"})
    started = time.monotonic()
    wait_until(lambda: bool(client.server_requests()), 15, "the question to reach the client")
    assert_alive(client)  # the server answers while the question waits
    response = client.wait_response(rid, 30)
    assert time.monotonic() - started < 15
    assert not response["result"].get("isError"), response
    assert scripted_model.call_output(call_id) == DECLINED


@pytest.mark.parametrize("policy", ["decline", "cancel", "error"])
def test_a_refused_form_tells_the_model_to_decide(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, policy: str
) -> None:
    call_id = ask(scripted_model, [QUESTION])
    client = spawn_server(policy=policy)  # type: ignore[arg-type]
    result = run_call(client)
    assert not result.get("isError"), result
    assert scripted_model.call_output(call_id) == DECLINED


def test_a_client_without_forms_is_not_asked(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    call_id = ask(scripted_model, [QUESTION])
    client = spawn_server(capabilities={})
    result = run_call(client, timeout=20)
    assert not result.get("isError"), result
    assert client.server_requests() == []
    assert scripted_model.call_output(call_id) == NOBODY_TO_ASK


@pytest.mark.parametrize(
    ("questions", "problem"),
    [
        ([QUESTION] * 50, "at most 3"),
        ([{**QUESTION, "question": "?" * 200_000}], "at most 1000"),
        ([{**QUESTION, "options": [{"label": "x", "description": "y"}] * 5000}], "at most 6"),
        ([{**QUESTION, "id": "a" * 10_000}], "at most 64"),
        (["not an object"], "must be an object"),
    ],
)
def test_oversized_or_malformed_questions_never_reach_the_person(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, questions: list[object], problem: str
) -> None:
    call_id = ask(scripted_model, questions)
    client = spawn_server()
    result = run_call(client)
    assert not result.get("isError"), result
    assert client.server_requests() == []
    output = scripted_model.call_output(call_id)
    assert output.startswith("failed to parse function arguments") and problem in output
    assert_alive(client)


def test_cancelling_the_call_while_a_question_waits_withdraws_it(
    scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    """The question is withdrawn with the call, a late answer is ignored, the thread goes on."""
    scripted_model.function("request_user_input", {"questions": [QUESTION]}, "q")
    client = spawn_server(policy="never")
    rid = client.call_tool("codex", {"prompt": "go", "approval-policy": "never", "sandbox": "read-only"})
    question = client.wait_for(lambda m: m.get("method") == "elicitation/create")
    client.notify("notifications/cancelled", {"requestId": rid, "reason": "user stopped it"})
    client.wait_for(
        lambda m: (
            m.get("method") == "notifications/cancelled"
            and same_id((m.get("params") or {}).get("requestId"), question["id"])
        )
    )
    client.send(
        {"jsonrpc": "2.0", "id": question["id"], "result": {"action": "accept", "content": {"choice": "A"}}}
    )
    assert_alive(client)
    assert client.responses_to(rid) == []
    assert len(scripted_model.requests) == 1  # the model was not asked again
    scripted_model.text("after the cancel")
    reply = client.call_tool("codex-reply", {"threadId": question["params"]["threadId"], "prompt": "again"})
    assert text_of(result_of(client.wait_response(reply))) == "after the cancel"
