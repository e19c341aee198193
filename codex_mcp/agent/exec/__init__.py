"""Running the model's commands: spawning, capture, and the text sent back to the model."""

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
