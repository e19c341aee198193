"""Approvals as MCP elicitation: the request we send, and how we read any answer.

The request keeps the original server's `codex_*` params, so existing Codex-aware clients
work, and adds a real `requestedSchema` with a `decision` choice, so a generic MCP client
can render a form; its shape follows the negotiated protocol revision (2025-11-25 clients get
`mode: "form"` and a titled choice that defaults to deny).  Every way an answer can fail to
arrive (no capability, a JSON-RPC error, a timeout, a disconnect) resolves as `denied` with a
reason: a turn never hangs on a client.
A dismissed request (`cancel`) denies too; only an explicit `abort` decision stops the turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codex_mcp.agent.events import REVIEW_DECISIONS, ReviewDecision
from codex_mcp.outgoing import Answered, Disconnected, Failed, Outcome, TimedOut

LEGACY_FORM_VERSION = "2025-06-18"
"""The revision whose form shape every client understands (2025-11-25 still accepts `enumNames`);
used when the caller does not say which revision was negotiated."""
TITLED_FORM_VERSION = "2025-11-25"
"""From this revision on (revisions are ISO dates, so they order as strings): `mode`, titled choices
and defaults."""

_DECISION_LABELS: dict[ReviewDecision, str] = {
    "approved": "Allow once",
    "approved_for_session": "Allow for this session",
    "denied": "Deny",
    "abort": "Deny and stop",
}
_DECISION_FIELD: dict[str, Any] = {
    "type": "string",
    "title": "Decision",
    "description": "approved: allow once; approved_for_session: allow this and identical requests in "
    "this session; denied: refuse and let the agent continue; abort: refuse and stop the turn.",
}
SAFE_DECISION: ReviewDecision = "denied"
"""What a form shows preselected: submitting it untouched must never allow anything."""

DECISION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {
            **_DECISION_FIELD,
            "enum": list(REVIEW_DECISIONS),
            "enumNames": [_DECISION_LABELS[d] for d in REVIEW_DECISIONS],
        }
    },
}
"""The form for clients before 2025-11-25: an enum with display names, no default (that revision
has no `default` for enum fields)."""

DECISION_SCHEMA_2025_11_25: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {
            **_DECISION_FIELD,
            "oneOf": [{"const": d, "title": _DECISION_LABELS[d]} for d in REVIEW_DECISIONS],
            "default": SAFE_DECISION,
        }
    },
}
"""The 2025-11-25 form: a titled single-select choice (that revision's replacement for
`enumNames`), defaulting to the safe decision."""


_NETWORK_DECISIONS: tuple[ReviewDecision, ...] = ("approved", "approved_for_session", "denied")
_NETWORK_LABELS: dict[ReviewDecision, str] = {
    "approved": "Allow once (this command)",
    "approved_for_session": "Allow for this session",
    "denied": "Deny",
}
_NETWORK_FIELD: dict[str, Any] = {
    "type": "string",
    "title": "Decision",
    "description": "approved: this command may reach the host; approved_for_session: every command of "
    "this session may; denied: the connection is refused and the agent is told.",
}
NETWORK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {
            **_NETWORK_FIELD,
            "enum": list(_NETWORK_DECISIONS),
            "enumNames": [_NETWORK_LABELS[d] for d in _NETWORK_DECISIONS],
        }
    },
}
NETWORK_SCHEMA_2025_11_25: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {
            **_NETWORK_FIELD,
            "oneOf": [{"const": d, "title": _NETWORK_LABELS[d]} for d in _NETWORK_DECISIONS],
            "default": SAFE_DECISION,
        }
    },
}
"""The network question's form: allow once, allow for the session, deny (no "stop the turn":
the connection belongs to a command that is already running)."""


DISMISSED_REASON = (
    "the approval request was dismissed without a decision (the client answered `cancel`), "
    "so this action was denied; the turn goes on"
)


@dataclass(frozen=True)
class Verdict:
    """The client's answer to an approval elicitation, as the agent's decision."""

    decision: ReviewDecision
    reason: str | None = None
    """Why we decided for the user (shown to the model and the client); None for a real answer."""
    amendment: bool = False
    """The person approved the proposed command prefix too (`approved_execpolicy_amendment`)."""


def _elicitation_params(
    kind: str,
    question: str,
    msg: dict[str, Any],
    thread_id: str,
    request_id: Any,
    event_id: str,
    protocol_version: str,
) -> dict[str, Any]:
    """The params both approval kinds share, in the shape of the negotiated protocol revision and
    checked against that revision's model (the `codex_*` extras ride along as additional
    properties)."""
    reason = msg.get("reason")
    modern = protocol_version >= TITLED_FORM_VERSION
    network = kind == "network-approval"
    if network:
        schema = NETWORK_SCHEMA_2025_11_25 if modern else NETWORK_SCHEMA
    else:
        schema = DECISION_SCHEMA_2025_11_25 if modern else DECISION_SCHEMA
    params: dict[str, Any] = {
        "message": question if network else (f"{reason}\n{question}" if reason else question),
        "requestedSchema": schema,
        "threadId": thread_id,
        "codex_elicitation": kind,
        "codex_mcp_tool_call_id": str(request_id),
        "codex_event_id": event_id,
        "codex_call_id": msg.get("call_id"),
    }
    if kind in ("exec-approval", "network-approval"):
        params["codex_command"] = [str(a) for a in msg.get("command") or []]
        params["codex_cwd"] = msg.get("cwd")
        params["codex_parsed_cmd"] = msg.get("parsed_cmd") or []
    if network:
        params["codex_network_approval_context"] = dict(msg.get("network_approval_context") or {})
    else:
        params["codex_changes"] = msg.get("changes") or {}
    if reason:
        params["codex_reason"] = reason
    if msg.get("grant_root"):
        params["codex_grant_root"] = msg["grant_root"]
    if modern:
        from codex_mcp._generated.mcp_2025_11_25 import ElicitRequestFormParams

        return ElicitRequestFormParams.model_validate(params).to_wire()  # writes "mode": "form"
    from codex_mcp._generated.mcp_2025_06_18 import ElicitRequestParams

    return ElicitRequestParams.model_validate(params).to_wire()


def exec_elicitation_params(
    msg: dict[str, Any],
    thread_id: str,
    request_id: Any,
    event_id: str,
    protocol_version: str = LEGACY_FORM_VERSION,
) -> dict[str, Any]:
    command = [str(a) for a in msg.get("command") or []]
    try:
        import shlex  # only when a command is asked about

        shown = shlex.join(command)
    except (TypeError, ValueError):
        shown = " ".join(command)
    question = f"Allow Codex to run `{shown}` in `{msg.get('cwd')}`?"
    return _elicitation_params(
        "exec-approval", question, msg, thread_id, request_id, event_id, protocol_version
    )


def network_elicitation_params(
    msg: dict[str, Any],
    thread_id: str,
    request_id: Any,
    event_id: str,
    protocol_version: str = LEGACY_FORM_VERSION,
) -> dict[str, Any]:
    """The question for a running command's connection through the proxy: where (host,
    port, protocol) and which command, so the person can judge it in any client."""
    context = msg.get("network_approval_context") or {}
    host, port, protocol = context.get("host"), context.get("port"), context.get("protocol")
    shown = f"[{host}]" if ":" in str(host) else str(host)
    command = [str(a) for a in msg.get("command") or []]
    try:
        import shlex

        asked_by = shlex.join(command)
    except (TypeError, ValueError):
        asked_by = " ".join(command)
    if len(asked_by) > 500:
        asked_by = asked_by[:497] + "..."
    question = (
        f"Allow network access to {shown}, port {port} ({protocol})?\n"
        f"Requested by the sandboxed command `{asked_by}` in `{msg.get('cwd')}`."
    )
    return _elicitation_params(
        "network-approval", question, msg, thread_id, request_id, event_id, protocol_version
    )


def patch_elicitation_params(
    msg: dict[str, Any],
    thread_id: str,
    request_id: Any,
    event_id: str,
    protocol_version: str = LEGACY_FORM_VERSION,
) -> dict[str, Any]:
    question = "Allow Codex to apply proposed code changes?"
    return _elicitation_params(
        "patch-approval", question, msg, thread_id, request_id, event_id, protocol_version
    )


AMENDMENT_DECISION = "approved_execpolicy_amendment"


def _decision(value: Any) -> Verdict | None:
    if isinstance(value, str) and value in REVIEW_DECISIONS:
        return Verdict(value)
    if isinstance(value, dict) and value:
        # Newer Codex clients answer {"approved_execpolicy_amendment": {...}}: an approval of
        # the command and of the prefix the request proposed (the request's, never the
        # client's: whatever prefix the answer names, only the proposed one can be granted).
        key = next(iter(value))
        if isinstance(key, str) and key.startswith("approved"):
            return Verdict("approved", amendment=key == AMENDMENT_DECISION)
    return None


_ELICIT_ACTIONS = ("accept", "cancel", "decline")


def _form_value_ok(value: Any) -> bool:
    if type(value) is list:
        return all(type(v) is str for v in value)
    return type(value) in (str, int, bool, float)


def _elicit_result(result: dict[str, Any]) -> tuple[str, Any] | None:
    """(action, content) of an `ElicitResult`, None when it is not one.  The usual answers
    are checked here; anything unusual goes to the MCP model (loading pydantic for it)."""
    action, content, meta = result.get("action"), result.get("content"), result.get("_meta")
    if (
        "meta" not in result
        and type(action) is str
        and action in _ELICIT_ACTIONS
        and (meta is None or type(meta) is dict)
        and (content is None or (type(content) is dict and all(map(_form_value_ok, content.values()))))
    ):
        return action, content
    from pydantic import ValidationError

    from codex_mcp.mcp_types import ElicitResult

    try:
        answer = ElicitResult.model_validate(result)
    except ValidationError:
        return None
    return answer.action, answer.content


def read_answer(result: Any) -> Verdict:
    """Map any client answer shape onto a decision.  Unknown shapes deny."""
    if not isinstance(result, dict):
        return Verdict("denied", "the client's answer was not an object")
    if "decision" in result and "action" not in result:  # the original server's shape
        verdict = _decision(result["decision"])
        return verdict or Verdict("denied", f"unknown decision {result['decision']!r}")
    answer = _elicit_result(result)
    if answer is None:
        return Verdict("denied", "the client's answer had no recognisable decision")
    action, content = answer
    if action == "accept":
        if isinstance(content, dict) and "decision" in content:
            verdict = _decision(content["decision"])
            return verdict or Verdict("denied", f"unknown decision {content['decision']!r}")
        return Verdict("approved")
    if action == "decline":
        return Verdict("denied")
    # cancel: the request was dismissed without a choice, or the client cannot ask at all
    # (a headless client answers every request this way).  Neither says "stop the turn":
    # only an explicit `abort` decision does.  This one action is denied and the model told.
    return Verdict("denied", DISMISSED_REASON)


def verdict_for(outcome: Outcome) -> Verdict:
    if isinstance(outcome, Answered):
        return read_answer(outcome.result)
    if isinstance(outcome, Failed):
        message = outcome.error.get("message", "unknown error")
        return Verdict("denied", f"the client could not show the approval request ({message}); denied")
    if isinstance(outcome, TimedOut):
        return Verdict("denied", f"no answer to the approval request within {outcome.seconds:g} s; denied")
    assert isinstance(outcome, Disconnected)
    return Verdict("denied", f"the approval request could not be answered ({outcome.reason}); denied")


NO_ELICITATION_REASON = (
    "the MCP client does not support approval requests (it did not declare the elicitation "
    "capability), so this was denied; use approval-policy `never` with a sandbox for such clients"
)
