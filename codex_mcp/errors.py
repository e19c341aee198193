"""Every error the package raises to its users, under one base: `CodexError`.

An embedder catches `CodexError` for "codex-mcp could not do it" and a subclass when the
reason matters.  Each class keeps the standard-library base it had before it joined this
hierarchy (`ThreadNotFound` is still a `LookupError`, `SandboxUnavailableError` a
`RuntimeError`), so existing `except` clauses keep working.

This module is at the bottom of the package: it imports nothing of ours, so any layer may
raise these, and importing it costs nothing on the server's start path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal


class CodexError(Exception):
    """Base of every error codex-mcp raises on purpose."""


# --- configuration ------------------------------------------------------------------------

Origin = Literal["config.toml", "cli", "call", "typed"]

_ORIGIN_SUFFIX: dict[str, str] = {
    "cli": " (set by a server `-c` override)",
    "call": "",  # the tool handler adds its own "from overrides" prefix
    "typed": " (set by a tool argument)",
}


class ConfigError(CodexError):
    """Invalid configuration.

    `str(err)` is a complete message:

    * from config.toml: ``{file}:{line}: {detail}`` (``{file}: {detail}`` when the line is
      unknown; ``{file}:{line}:{column}: ...`` for TOML syntax errors);
    * from a server ``-c`` override: ``{detail} (set by a server `-c` override)``;
    * from the tool's ``config`` object: ``{detail}``;
    * from a typed tool argument: ``{detail} (set by a tool argument)``.

    The parts stay available (`detail`, `key`, `origin`, `file`, `line`, `column`) for callers
    that build their own text.
    """

    def __init__(
        self,
        detail: str,
        *,
        key: str | None = None,
        origin: Origin | None = None,
        file: Path | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.detail = detail
        self.key = key
        self.origin: Origin | None = origin
        self.file = file
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        if self.file is not None:
            where = str(self.file)
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            return f"{where}: {self.detail}"
        if self.origin is not None:
            return self.detail + _ORIGIN_SUFFIX.get(self.origin, "")
        return self.detail


class CallRefused(ConfigError):
    """A call asked for more than the person's configuration lets a call choose.

    `key` is what the call tried to set; `setting` is the `[codex_mcp]` setting that would
    allow it.
    """

    def __init__(self, message: str, *, key: str, setting: str) -> None:
        super().__init__(message, key=key, origin="call")
        self.setting = setting


# --- the model ----------------------------------------------------------------------------

ErrorKind = Literal[
    "unauthorized",
    "bad_request",
    "context_window_exceeded",
    "usage_limit_exceeded",
    "quota_exceeded",
    "http_connection_failed",
    "response_stream_failed",
    "missing_credentials",
    "internal_server_error",
    "other",
]


class ProviderTransportError(CodexError):
    """The connection to a model provider failed: it could not be opened, it broke, or the
    provider's bytes were not HTTP/1.1 we accept.  The model client turns these into
    `ModelError`s (retried in the request phase, re-sampled once streaming)."""


class ProviderClosedEarly(ProviderTransportError):
    """The provider closed a reused connection before a byte of its answer: it never saw
    the request, so sending it once more is safe."""


class ModelError(CodexError):
    """A sampling request failed. `str()` is user-readable.

    `retryable` errors happened after the response started streaming (a cut stream, an idle
    timeout, `response.failed` with a transient code): the turn loop may re-sample the whole
    request, because partial output must be discarded, not patched.  Errors raised with
    `retryable=False` are final (request-phase retries, if any, are already spent).
    """

    def __init__(
        self,
        message: str,
        kind: ErrorKind = "other",
        http_status: int | None = None,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.http_status = http_status
        self.retryable = retryable
        self.retry_after = retry_after

    def codex_error_info(self) -> Any:
        """The `codex_error_info` value of an `error` event."""
        if self.kind == "http_connection_failed":
            return {"http_connection_failed": {"http_status_code": self.http_status}}
        return self.kind


# --- threads ------------------------------------------------------------------------------


class ThreadNotFound(CodexError, LookupError):
    """No live thread and no rollout file has this id."""


class RolloutError(CodexError):
    """A rollout file cannot be read within its limits (so the thread cannot be resumed)."""


class ThreadClosed(CodexError, RuntimeError):
    """The thread has been shut down; it takes no more turns."""


class ThreadBusy(CodexError, RuntimeError):
    """Another server process (or another session of this one) is running a turn on the
    thread: its rollout is locked, and a thread takes one turn at a time."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(
            f"Thread {thread_id} is running a turn in another codex-mcp-server process (or another "
            "session of this one); a thread takes one turn at a time. Reply again once that turn "
            "has finished."
        )
        self.thread_id = thread_id


# --- the sandbox --------------------------------------------------------------------------


class SandboxUnavailableError(CodexError, RuntimeError):
    """No sandbox backend can enforce the requested policy; the command must not run."""


# --- MCP servers the agent uses -----------------------------------------------------------


class McpError(CodexError):
    """A request to an MCP server failed: a JSON-RPC error, a timeout, or a lost connection."""


class McpTimeout(McpError):
    """An MCP server did not answer within the request's bound."""
