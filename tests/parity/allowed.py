"""Every known difference between our first request and codex-cli 0.147's, with its reason.

The parity test computes the differences of each scenario as short keys (`tool-missing:X`,
`field:reasoning`, `header:originator`, ...).  A key in `ALWAYS_ALLOWED` may occur in any
scenario.  `FAMILY_DIFFERENCES[slug]` lists the differences that are deliberate for that
slug; they must occur exactly (a listed difference that disappears is reported too, so this
table stays true).  Anything else fails the test.
"""

from __future__ import annotations

ALWAYS_ALLOWED: dict[str, str] = {
    "tool-missing:tool_search": (
        "tool_search finds deferred tools (apps, plugins, MCP tools loaded on demand); this "
        "server offers MCP tools directly and has no deferred tools for it to find."
    ),
    "tool-missing:multi_agent_v1": (
        "the multi_agent_v1 namespace spawns sub-agents; this server runs one agent per thread."
    ),
    "developer:skills": (
        "the reference lists the bundled skills it installs under CODEX_HOME/skills; this server "
        "installs no skills, so its developer message has no skills part."
    ),
    "header:originator": "the originator is ours (codex_mcp by default, configurable), not codex_cli_rs.",
    "header:x-codex-beta-features": (
        "it announces remote compaction v2, which this server does not implement (it compacts locally)."
    ),
    "env-timezone": (
        "machine-dependent: we honour TZ when it names a zone (the date is computed in that zone "
        "too); the reference reads /etc/localtime only."
    ),
}

_REF_UNKNOWN = (
    "Codex 0.147's catalogue lacks this slug and serves it its fallback contract (with a "
    "warning); we give the family the contract it was trained on"
)

FAMILY_DIFFERENCES: dict[str, dict[str, str]] = {
    "gpt-5-codex": {
        "tool-missing:exec_command": f"{_REF_UNKNOWN}: shell_command, not exec_command.",
        "tool-missing:write_stdin": f"{_REF_UNKNOWN}: no exec sessions.",
        "tool-extra:shell_command": f"{_REF_UNKNOWN}: its shell tool.",
        "tool-extra:apply_patch": f"{_REF_UNKNOWN}: the freeform apply_patch tool.",
        "field:reasoning": f"{_REF_UNKNOWN}: effort medium with the summary.",
        "warning-presence": f"{_REF_UNKNOWN}; we know it, so no warning.",
    },
    "gpt-5.1-codex-max": {
        "tool-missing:exec_command": f"{_REF_UNKNOWN}: shell_command, not exec_command.",
        "tool-missing:write_stdin": f"{_REF_UNKNOWN}: no exec sessions.",
        "tool-extra:shell_command": f"{_REF_UNKNOWN}: its shell tool.",
        "tool-extra:apply_patch": f"{_REF_UNKNOWN}: the freeform apply_patch tool.",
        "field:reasoning": f"{_REF_UNKNOWN}: effort medium with the summary.",
        "warning-presence": f"{_REF_UNKNOWN}; we know it, so no warning.",
    },
    "gpt-5.3-codex": {
        "tool-extra:apply_patch": f"{_REF_UNKNOWN}: the freeform apply_patch tool.",
        "tool-schema:view_image": f"{_REF_UNKNOWN}: it takes original-resolution images (detail).",
        "tool-schema:web_search": f"{_REF_UNKNOWN}: text and image search results.",
        "field:parallel_tool_calls": f"{_REF_UNKNOWN}: parallel tool calls.",
        "field:reasoning": f"{_REF_UNKNOWN}: effort medium with the summary.",
        "field:text": f"{_REF_UNKNOWN}: verbosity low.",
        "warning-presence": f"{_REF_UNKNOWN}; we know it, so no warning.",
    },
    "gpt-5.2-codex": {
        "field:text": (
            "Codex 0.147 serves gpt-5.2-codex the gpt-5.2 entry (a prefix match) and so sends "
            "verbosity low; the codex-tuned endpoints accept only their default verbosity, so we "
            "send none."
        ),
    },
    "mock-model": {
        "tool-extra:apply_patch": (
            "a slug outside the catalogue gets the freeform apply_patch tool besides the "
            "reference's fallback contract: a model we know nothing about is better served by a "
            "tool whose grammar the request states than by shell heredocs."
        ),
    },
    "o3": {
        "tool-missing:exec_command": (
            f"{_REF_UNKNOWN}: it was trained on an argv `shell` tool, which is no longer offered "
            "to a model; shell_command (one command line) is the nearest contract offered."
        ),
        "tool-missing:write_stdin": f"{_REF_UNKNOWN}: no exec sessions.",
        "tool-extra:shell_command": f"{_REF_UNKNOWN}: shell_command in place of its argv `shell` tool.",
        "field:reasoning": f"{_REF_UNKNOWN}: effort medium with the summary.",
        "context-window": f"{_REF_UNKNOWN}: a 200k window (190k reported), not 272k.",
        "warning-presence": f"{_REF_UNKNOWN}; we know it, so no warning.",
    },
}

CODE_MODE = (
    "The gpt-5.6 family is trained on Codex's code mode: the reference sends no `instructions` "
    "or `tools` keys and puts its tools (a JavaScript `exec`) in an `additional_tools` input "
    "item.  Out of scope here: we serve these slugs the classic gpt-5.5 contract with a warning."
)

NOT_COMPARED: dict[str, str] = {
    "instructions": (
        "the text is ours by design; the test checks only that it shares no passage with the "
        "reference's and that an explicit override is sent as given."
    ),
    "tool and parameter descriptions": "ours by design; names, types, enums and required lists are compared.",
    "permission instruction wording": "ours by design; the wrapper and where it sits are compared.",
    "ids and timestamps": (
        "thread, turn, installation and item ids are random on both sides; their presence is compared."
    ),
}


_QUESTIONS = (
    "0.147's MCP server answers request_user_input with 'unavailable in Default mode' without "
    "asking anyone; we put the questions to the person as an elicitation form and give the "
    "model their answers"
)

TURN_DIFFERENCES: dict[str, dict[str, str]] = {
    "gpt-5.5-request-user-input": {
        "elicitation-count": f"{_QUESTIONS}: one form is sent.",
        "tool-output:call_question": f"{_QUESTIONS}: the model reads the answers.",
        "event-order": f"{_QUESTIONS}: a request_user_input event announces the question.",
    },
    "gpt-5.5-patch-approved": {
        "event-order": (
            "after a patch the person approved, 0.147 sends no turn_diff at all (it does after a "
            "patch it applied on its own); we send the turn's diff after every patch, however "
            "it was allowed, and after each round, as 0.147 does for the patches it tracks."
        ),
    },
}
"""Deliberate differences of a whole-turn scenario (`test_turns`), by scenario id."""
