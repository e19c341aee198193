"""The names of our MCP tools (their schemas are in `args`, their checks in `call_args`)."""

CODEX_TOOL_NAME = "codex"
REPLY_TOOL_NAME = "codex-reply"
