"""Running the model's commands: spawning, capture, and the text sent back to the model.

The names below are resolved on first use: importing any submodule runs this file, and an
eager re-export would load the runner, the fork server's client and the sandbox backends
with it -- on a first call that runs no command, a tenth of its imports.
"""

from typing import TYPE_CHECKING

from codex_mcp._lazy import lazy_exports

if TYPE_CHECKING:
    from codex_mcp.agent.exec.format import (
        MODEL_FORMAT_MAX_BYTES,
        MODEL_FORMAT_MAX_LINES,
        count_lines,
        format_duration_seconds,
        format_exec_output_for_model,
        format_exec_output_str,
        format_exec_output_text,
        truncate_for_model,
    )
    from codex_mcp.agent.exec.runner import (
        DEFAULT_EXEC_TIMEOUT_MS,
        EXIT_CODE_TIMEOUT,
        MAX_OUTPUT_DELTAS_PER_CALL,
        ExecOutput,
        ExecParams,
        OutputCallback,
        StreamName,
        run_exec,
    )

_FORMAT = "codex_mcp.agent.exec.format"
_RUNNER = "codex_mcp.agent.exec.runner"
_EXPORTS = {
    "MODEL_FORMAT_MAX_BYTES": _FORMAT,
    "MODEL_FORMAT_MAX_LINES": _FORMAT,
    "count_lines": _FORMAT,
    "format_duration_seconds": _FORMAT,
    "format_exec_output_for_model": _FORMAT,
    "format_exec_output_str": _FORMAT,
    "format_exec_output_text": _FORMAT,
    "truncate_for_model": _FORMAT,
    "DEFAULT_EXEC_TIMEOUT_MS": _RUNNER,
    "EXIT_CODE_TIMEOUT": _RUNNER,
    "MAX_OUTPUT_DELTAS_PER_CALL": _RUNNER,
    "ExecOutput": _RUNNER,
    "ExecParams": _RUNNER,
    "OutputCallback": _RUNNER,
    "StreamName": _RUNNER,
    "run_exec": _RUNNER,
}
__getattr__ = lazy_exports(__name__, _EXPORTS, globals())

__all__ = [
    "DEFAULT_EXEC_TIMEOUT_MS",
    "EXIT_CODE_TIMEOUT",
    "MAX_OUTPUT_DELTAS_PER_CALL",
    "MODEL_FORMAT_MAX_BYTES",
    "MODEL_FORMAT_MAX_LINES",
    "ExecOutput",
    "ExecParams",
    "OutputCallback",
    "StreamName",
    "count_lines",
    "format_duration_seconds",
    "format_exec_output_for_model",
    "format_exec_output_str",
    "format_exec_output_text",
    "run_exec",
    "truncate_for_model",
]
