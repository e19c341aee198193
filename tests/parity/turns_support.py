"""Comparing whole turns: the events each server sent, the requests after the first, the
outputs the model got back, and the questions put to the person.

Each function adds difference keys (with a detail) to a dict, like `support.compare`:
`event-order`, `event-fields:<type>`, `event-id:<type>`, `followup-items:<n>`,
`tool-output:<call id>`, `elicitation-keys`, `result`.  `allowed.TURN_DIFFERENCES` lists
the ones that are deliberate.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Any

from tests.parity.support import Captured

IGNORED_EVENTS: dict[str, str] = {
    "raw_response_item": (
        "the reference echoes every history item to the client (the developer and context "
        "messages, every tool output) besides the item events that carry the same content; "
        "we send the item events only, which keeps a turn's event stream a fraction of the size"
    ),
    "raw_response_completed": "it accompanies raw_response_item (the same usage is in token_count).",
    "exec_command_output_delta": (
        "how many deltas a command's output comes in depends on when the reader wakes, on "
        "both sides: the reference sent one for an `echo hi` in one measurement and none for "
        "an equally quick command in another; the whole output is in exec_command_end, whose "
        "values are compared"
    ),
}

EXTRA_FIELDS: dict[str, dict[str, str]] = {
    "session_configured": {
        "sandbox_policy": "clients written for Codex before 0.147 read the sandbox from it; "
        "the permission_profile Codex 0.147 sends is there too.",
    },
    "apply_patch_approval_request": {
        "reason": "older clients read it (always null here, as Codex sends it when it has one).",
        "grant_root": "older clients read it (always null here).",
    },
}
"""Fields we send beyond the reference's, per event type, with the reason."""


VALUE_FIELDS: dict[str, tuple[str, ...]] = {
    "turn_diff": ("unified_diff",),
    "agent_message": ("message", "phase"),
    "agent_message_content_delta": ("delta",),
    "reasoning_content_delta": ("delta", "summary_index"),
    "agent_reasoning": ("text",),
    "agent_reasoning_section_break": ("summary_index",),
    "user_message": ("message", "images"),
    "plan_update": ("plan", "explanation"),
    "patch_apply_begin": ("auto_approved", "changes"),
    "patch_apply_end": ("stdout", "success", "status", "changes"),
    "web_search_end": ("call_id", "query", "action"),
    "exec_command_begin": ("call_id", "command", "parsed_cmd", "source"),
    "exec_command_end": ("call_id", "command", "parsed_cmd", "source", "exit_code", "stdout", "stderr",
                         "aggregated_output", "formatted_output", "status"),
    "web_search_begin": ("call_id",),
    "task_started": ("model_context_window", "collaboration_mode_kind"),
    "task_complete": ("last_agent_message",),
    "mcp_startup_complete": ("ready", "failed", "cancelled"),
    "session_configured": ("model", "model_provider_id", "approval_policy", "approvals_reviewer",
                           "permission_profile", "cwd"),
}  # fmt: skip
"""Fields whose values must be equal too (the rest are ids, times and paths of the run)."""


def _types(captured: Captured) -> list[str]:
    return [e["msg"]["type"] for e in captured.events if e["msg"]["type"] not in IGNORED_EVENTS]


def _kept(captured: Captured) -> list[dict[str, Any]]:
    return [e for e in captured.events if e["msg"]["type"] not in IGNORED_EVENTS]


UNORDERED_EVENTS: dict[str, str] = {
    "plan_update": (
        "the reference runs the calls of one round as concurrent tasks, so two update_plan "
        "calls of one response announce their plans in either order (measured: 1 run in 6 "
        "out of call order); we announce them in call order.  Their values are compared as a "
        "multiset: each of ours must match one of the reference's"
    ),
}
"""Event types whose order among themselves the reference does not fix, with the reason."""


def _aligned(ref: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`ref` with the events of each `UNORDERED_EVENTS` type put in the order of the equal
    ones in `ours`, when the two hold the same values; unchanged otherwise (the positional
    comparison then names the difference)."""
    out = list(ref)
    for kind in UNORDERED_EVENTS:
        fields = VALUE_FIELDS.get(kind, ())

        def key(event: dict[str, Any], fields: tuple[str, ...] = fields) -> str:
            return json.dumps([event["msg"].get(name) for name in fields], sort_keys=True)

        ref_at = [i for i, e in enumerate(ref) if e["msg"]["type"] == kind]
        ours_of_kind = [e for e in ours if e["msg"]["type"] == kind]
        if sorted(map(key, (ref[i] for i in ref_at))) != sorted(map(key, ours_of_kind)):
            continue
        by_key: dict[str, list[dict[str, Any]]] = {}
        for i in ref_at:
            by_key.setdefault(key(ref[i]), []).append(ref[i])
        for i, mine in zip(ref_at, ours_of_kind, strict=True):
            out[i] = by_key[key(mine)].pop(0)
    return out


def _item_shape(msg: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    item = msg.get("item") or {}
    return str(item.get("type")), tuple(sorted(item))


def compare_events(ref: Captured, ours: Captured, diffs: dict[str, str]) -> None:
    """The event types in order, then each pair's fields (and item shapes)."""
    a, b = _types(ref), _types(ours)
    if a != b:
        diffs["event-order"] = "\n".join(difflib.unified_diff(a, b, "reference", "ours", lineterm="", n=2))
        return
    for ref_event, our_event in zip(_aligned(_kept(ref), _kept(ours)), _kept(ours), strict=True):
        kind = ref_event["msg"]["type"]
        if (ref_event["id"] == "") != (our_event["id"] == ""):
            diffs[f"event-id:{kind}"] = f"{ref_event['id']!r} / {our_event['id']!r}"
        ref_keys, our_keys = set(ref_event["msg"]), set(our_event["msg"])
        extra = our_keys - ref_keys - set(EXTRA_FIELDS.get(kind, {}))
        missing = ref_keys - our_keys
        if extra or missing:
            diffs[f"event-fields:{kind}"] = f"missing {sorted(missing)}, extra {sorted(extra)}"
        for name in VALUE_FIELDS.get(kind, ()):
            if ref_event["msg"].get(name) != our_event["msg"].get(name):
                diffs[f"event-value:{kind}.{name}"] = (
                    f"{ref_event['msg'].get(name)!r} != {our_event['msg'].get(name)!r}"
                )
        if kind in ("item_started", "item_completed"):
            shape_a, shape_b = _item_shape(ref_event["msg"]), _item_shape(our_event["msg"])
            if shape_a != shape_b:
                diffs[f"event-item:{kind}:{shape_a[0]}"] = f"{shape_a} != {shape_b}"


def _item_key(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item.get("type"), item.get("role"), tuple(sorted(item)))


def compare_followups(ref: Captured, ours: Captured, diffs: dict[str, str]) -> None:
    """Every request after the first: the same items, with the same keys, in the same order,
    and the same top-level fields as the first (only `client_metadata` changes)."""
    if len(ref.requests) != len(ours.requests):
        diffs["request-count"] = f"{len(ref.requests)} != {len(ours.requests)}"
        return
    for index, (r, o) in enumerate(zip(ref.requests[1:], ours.requests[1:], strict=True), start=1):
        a = [_item_key(i) for i in r.body.get("input", [])]
        b = [_item_key(i) for i in o.body.get("input", [])]
        if a != b:
            diffs[f"followup-items:{index}"] = "\n".join(
                difflib.unified_diff([str(x) for x in a], [str(x) for x in b], lineterm="", n=1)
            )
        first = ours.requests[0].body
        changed = [k for k in o.body if k not in ("input", "client_metadata") and o.body[k] != first.get(k)]
        if changed:
            diffs[f"followup-fields:{index}"] = f"ours changed {changed} after the first request"


_VOLATILE = (
    (re.compile(r"Wall time: [0-9.]+ seconds"), "Wall time: N seconds"),
    (re.compile(r"Chunk ID: [0-9a-f]+"), "Chunk ID: X"),
)


def normalize_output(text: str, cwd: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text.replace(cwd, "<cwd>")


def _outputs(captured: Captured) -> dict[str, str]:
    found: dict[str, str] = {}
    for request in captured.requests:
        for item in request.body.get("input", []):
            if str(item.get("type", "")).endswith("_call_output"):
                output = item.get("output")
                found[str(item.get("call_id"))] = output if isinstance(output, str) else json.dumps(output)
    return found


def compare_outputs(ref: Captured, ours: Captured, cwd: str, diffs: dict[str, str]) -> None:
    """The text each tool call's output gave the model."""
    a, b = _outputs(ref), _outputs(ours)
    for call_id in sorted(a.keys() | b.keys()):
        x, y = (
            normalize_output(a.get(call_id, "<none>"), cwd),
            normalize_output(b.get(call_id, "<none>"), cwd),
        )
        if x != y:
            diffs[f"tool-output:{call_id}"] = f"{x!r} != {y!r}"


def compare_elicitations(ref: Captured, ours: Captured, diffs: dict[str, str]) -> None:
    a = [list(e["params"]) for e in ref.elicitations]
    b = [list(e["params"]) for e in ours.elicitations]
    if len(a) != len(b):
        diffs["elicitation-count"] = f"{len(a)} != {len(b)}"
        return
    for x, y in zip(a, b, strict=True):
        if [k for k in x if k != "requestedSchema"] != [k for k in y if k != "requestedSchema"]:
            diffs["elicitation-keys"] = f"{x} != {y}"


def compare_results(ref: Captured, ours: Captured, diffs: dict[str, str]) -> None:
    texts = [[c.get("text") for c in r.get("content", [])] for r in ref.results]
    our_texts = [[c.get("text") for c in r.get("content", [])] for r in ours.results]
    if texts != our_texts:
        diffs["result"] = f"{texts} != {our_texts}"


def compare_turns(ref: Captured, ours: Captured, cwd: str) -> dict[str, str]:
    diffs: dict[str, str] = {}
    compare_events(ref, ours, diffs)
    compare_followups(ref, ours, diffs)
    compare_outputs(ref, ours, cwd, diffs)
    compare_elicitations(ref, ours, diffs)
    compare_results(ref, ours, diffs)
    return diffs
