"""A call's arguments, checked without pydantic on the way every well-formed call takes.

`tools/args.py` holds the pydantic models our published schemas are generated from, and
they stay the definition of what is valid.  Importing pydantic and building those
validators costs more than the rest of a first call together, so a call whose arguments are
plainly valid (every key a known field, each value of its field's JSON type) is accepted
here by a table of the same fields; anything else -- a wrong type, a missing or unknown
argument, a field given under both its names -- goes to the models, which decide and word
the error.  The hand path therefore only ever accepts what the models accept, with the
same values (`tests/test_call_args.py` holds the table to the models and checks agreement
on generated inputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codex_mcp.tools.names import CODEX_TOOL_NAME as CODEX_TOOL_NAME
from codex_mcp.tools.names import REPLY_TOOL_NAME as REPLY_TOOL_NAME
from codex_mcp.uuids import canonical as canonical_uuid

APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never")
SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")


@dataclass(frozen=True, slots=True)
class CodexArgs:
    """Arguments of the `codex` tool (the fields of `args.CodexToolArgs`)."""

    prompt: str
    model: str | None = None
    profile: str | None = None
    cwd: str | None = None
    approval_policy: str | None = None
    sandbox: str | None = None
    config: dict[str, Any] | None = None
    base_instructions: str | None = None
    developer_instructions: str | None = None
    compact_prompt: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyArgs:
    """Arguments of the `codex-reply` tool (the fields of `args.CodexReplyArgs`)."""

    prompt: str
    thread_id: str | None = None
    conversation_id: str | None = None


# (attribute, wire name, accepted values: `str`, `dict`, or a tuple of allowed strings)
FieldSpec = tuple[str, str, Any]
CODEX_FIELDS: tuple[FieldSpec, ...] = (
    ("prompt", "prompt", str),
    ("model", "model", str),
    ("profile", "profile", str),
    ("cwd", "cwd", str),
    ("approval_policy", "approval-policy", APPROVAL_POLICIES),
    ("sandbox", "sandbox", SANDBOX_MODES),
    ("config", "config", dict),
    ("base_instructions", "base-instructions", str),
    ("developer_instructions", "developer-instructions", str),
    ("compact_prompt", "compact-prompt", str),
)
REPLY_FIELDS: tuple[FieldSpec, ...] = (
    ("prompt", "prompt", str),
    ("thread_id", "threadId", str),
    ("conversation_id", "conversationId", str),
)
REQUIRED = frozenset({"prompt"})


def _value_ok(value: Any, accepted: Any) -> bool:
    if value is None:
        return True  # every optional field takes null; a null prompt is caught as missing
    if accepted is str:
        return type(value) is str
    if accepted is dict:
        return type(value) is dict and all(type(k) is str for k in value)
    return type(value) is str and value in accepted


def fast_fields(
    arguments: dict[str, Any], fields: tuple[FieldSpec, ...], *, extra_allowed: bool
) -> dict[str, Any] | None:
    """`{attribute: value}` when `arguments` is plainly valid for `fields`; None when the
    models must decide (they also word the error)."""
    by_key = {}
    for attr, wire, accepted in fields:
        by_key[wire] = (attr, accepted)
        by_key[attr] = (attr, accepted)
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        spec = by_key.get(key)
        if spec is None:
            if extra_allowed:
                continue
            return None
        attr, accepted = spec
        if attr in out or not _value_ok(value, accepted):
            return None  # the same field under both names, or a value the models must judge
        out[attr] = value
    if any(out.get(name) is None for name in REQUIRED):
        return None
    return out


def parse_codex_args(arguments: dict[str, Any] | None) -> CodexArgs | str:
    """The `codex` call's arguments, or the error text for the caller."""
    if arguments is None:
        return "Missing arguments for the codex tool: `prompt` is required."
    fast = fast_fields(arguments, CODEX_FIELDS, extra_allowed=False)
    if fast is not None:
        if fast.get("config") is not None:
            fast["config"] = dict(fast["config"])  # as the model does: the call's own copy
        return CodexArgs(**fast)
    from codex_mcp.tools.args import validate_codex_args

    checked = validate_codex_args(arguments)
    return checked if isinstance(checked, str) else CodexArgs(**checked)


def parse_reply_args(arguments: dict[str, Any] | None) -> tuple[ReplyArgs, str] | str:
    """The `codex-reply` call's arguments and its thread id (canonical UUID text), or the
    error text for the caller."""
    if arguments is None:
        return "Missing arguments for the codex-reply tool: `threadId` and `prompt` are required."
    fast = fast_fields(arguments, REPLY_FIELDS, extra_allowed=True)
    if fast is not None:
        args = ReplyArgs(**fast)
    else:
        from codex_mcp.tools.args import validate_reply_args

        checked = validate_reply_args(arguments)
        if isinstance(checked, str):
            return checked
        args = ReplyArgs(**checked)
    raw_id = args.thread_id or args.conversation_id
    if not raw_id:
        return "Missing `threadId`: pass the threadId returned by the codex tool."
    try:
        return args, canonical_uuid(raw_id)
    except ValueError:
        return f"Invalid `threadId` {raw_id!r}: expected a UUID such as the codex tool returns."
