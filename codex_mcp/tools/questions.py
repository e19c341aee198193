"""The model's questions (`request_user_input`) as an MCP elicitation form, and the answers.

One text field per question: its header is the field's title, the question and the options
the model proposed are the description, and the person may answer in their own words.  The
form's shape follows the negotiated protocol revision like the approval forms
(`approvals`).  Only an `accept` with string answers counts; anything else (decline,
cancel, an error, a timeout) means no answer, and the model is told to decide on its own.
"""

from __future__ import annotations

from typing import Any

from codex_mcp.outgoing import Answered, Outcome
from codex_mcp.tools.approvals import LEGACY_FORM_VERSION, TITLED_FORM_VERSION

MAX_ANSWER_CHARS = 4000


def _description(question: dict[str, Any]) -> str:
    text = str(question.get("question") or "")
    options = [o for o in question.get("options") or [] if isinstance(o, dict)]
    if options:
        choices = "; ".join(
            f"{o.get('label')}" + (f" ({o.get('description')})" if o.get("description") else "")
            for o in options
        )
        text += f"\nSuggested answers: {choices}. Or answer in your own words."
    return text


def question_form(questions: list[dict[str, Any]]) -> dict[str, Any]:
    """The `requestedSchema`: one optional string per question, keyed by its id."""
    return {
        "type": "object",
        "properties": {
            str(q["id"]): {
                "type": "string",
                "title": str(q.get("header") or q["id"]),
                "description": _description(q),
            }
            for q in questions
        },
    }


def question_params(
    msg: dict[str, Any],
    thread_id: str,
    request_id: Any,
    event_id: str,
    protocol_version: str = LEGACY_FORM_VERSION,
) -> dict[str, Any]:
    """The `elicitation/create` params for a `request_user_input` event."""
    questions = [q for q in msg.get("questions") or [] if isinstance(q, dict)]
    count = len(questions)
    params: dict[str, Any] = {
        "message": f"Codex has {count} question{'s' if count != 1 else ''} for you.",
        "requestedSchema": question_form(questions),
        "threadId": thread_id,
        "codex_elicitation": "request-user-input",
        "codex_mcp_tool_call_id": str(request_id),
        "codex_event_id": event_id,
        "codex_call_id": msg.get("call_id"),
    }
    if protocol_version >= TITLED_FORM_VERSION:
        from codex_mcp._generated.mcp_2025_11_25 import ElicitRequestFormParams

        return ElicitRequestFormParams.model_validate(params).to_wire()
    from codex_mcp._generated.mcp_2025_06_18 import ElicitRequestParams

    return ElicitRequestParams.model_validate(params).to_wire()


def read_answers(outcome: Outcome, questions: list[dict[str, Any]]) -> dict[str, str] | None:
    """The person's answers by question id; None unless they accepted the form."""
    if not isinstance(outcome, Answered) or not isinstance(outcome.result, dict):
        return None
    if outcome.result.get("action") != "accept":
        return None
    content = outcome.result.get("content")
    if not isinstance(content, dict):
        return None
    wanted = {str(q.get("id")) for q in questions}
    answers = {
        key: value[:MAX_ANSWER_CHARS]
        for key, value in content.items()
        if key in wanted and isinstance(value, str) and value.strip()
    }
    return answers or None
