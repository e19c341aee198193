"""What the model gets back from an exec-style tool call (shell, local_shell, apply_patch).

Pure functions over an `ExecOutput`:

* `truncate_for_model` caps text at 10 KiB and 256 lines, keeping the first and last
  128 lines (each part further cut by bytes) around the marker
  `\\n[... omitted {omitted} of {total} lines ...]\\n\\n`;
* `format_exec_output_str` is the output text: the timed-out note, then the aggregated
  output, truncated;
* `format_exec_output_for_model` is the JSON string of the `shell` function tool:
  `{"output":"…","metadata":{"exit_code":0,"duration_seconds":0.1}}`;
* `format_exec_output_text` is the structured plain-text form
  (`Exit code: …\\nWall time: … seconds\\nOutput:\\n…`).
"""

from __future__ import annotations

import json
import re

from codex_mcp.agent.exec.runner import ExecOutput

__all__ = [
    "MODEL_FORMAT_HEAD_BYTES",
    "MODEL_FORMAT_HEAD_LINES",
    "MODEL_FORMAT_MAX_BYTES",
    "MODEL_FORMAT_MAX_LINES",
    "MODEL_FORMAT_TAIL_LINES",
    "count_lines",
    "format_duration_seconds",
    "format_exec_output_for_model",
    "format_exec_output_str",
    "format_exec_output_text",
    "timed_out_note",
    "truncate_for_model",
]

MODEL_FORMAT_MAX_BYTES = 10 * 1024
MODEL_FORMAT_MAX_LINES = 256
MODEL_FORMAT_HEAD_LINES = MODEL_FORMAT_MAX_LINES // 2
MODEL_FORMAT_TAIL_LINES = MODEL_FORMAT_MAX_LINES - MODEL_FORMAT_HEAD_LINES
MODEL_FORMAT_HEAD_BYTES = MODEL_FORMAT_MAX_BYTES // 2

# Encode/decode so that any `str` (even one holding lone surrogates) round-trips.
_ENC = "utf-8"
_ERRORS = "surrogatepass"

_TOTAL_LINES_HEADER = re.compile(r"Total output lines: (\d+)\n")


def count_lines(text: str) -> int:
    """Lines as the model format counts them: pieces ending in `\\n`, plus a final partial one."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _is_continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def _head_end(data: bytes, lines: int) -> int:
    """Byte offset just past the first `lines` lines of `data`."""
    end = 0
    for _ in range(lines):
        nl = data.find(b"\n", end)
        if nl < 0:
            return len(data)
        end = nl + 1
    return end


def _tail_start(data: bytes, lines: int) -> int:
    """Byte offset where the last `lines` lines of `data` begin."""
    if lines <= 0:
        return len(data)
    # A final newline ends the last line; it does not start an empty one.
    search_end = len(data) - 1 if data.endswith(b"\n") else len(data)
    start = len(data)
    for _ in range(lines):
        nl = data.rfind(b"\n", 0, search_end)
        if nl < 0:
            return 0
        start = nl + 1
        search_end = nl
    return start


def truncate_for_model(text: str, *, total_lines: int | None = None) -> str:
    """Cap `text` at `MODEL_FORMAT_MAX_BYTES` (UTF-8) and about `MODEL_FORMAT_MAX_LINES` lines.

    Text within both limits is returned unchanged. Otherwise the result is the first 128
    lines cut to 5 KiB, the marker `\\n[... omitted {omitted} of {total} lines ...]\\n\\n`,
    and as much of the last 128 lines as fits in the rest of the 10 KiB (cuts fall on
    character boundaries; `omitted` counts the lines outside both line windows).

    `total_lines` is for text whose middle was already dropped by the runner: it gives the
    line count of the complete text, and the text is then always treated as over the
    limits (only its first and last 10 KiB matter).
    """
    data = text.encode(_ENC, _ERRORS)
    if total_lines is None:
        total = count_lines(text)
        if len(data) <= MODEL_FORMAT_MAX_BYTES and total <= MODEL_FORMAT_MAX_LINES:
            return text
    else:
        total = total_lines

    head_lines = min(MODEL_FORMAT_HEAD_LINES, total)
    tail_lines = min(MODEL_FORMAT_TAIL_LINES, total - head_lines)
    omitted = total - head_lines - tail_lines

    head_end = min(_head_end(data, head_lines), MODEL_FORMAT_HEAD_BYTES)
    while head_end > 0 and head_end < len(data) and _is_continuation(data[head_end]):
        head_end -= 1
    head = data[:head_end]

    marker = f"\n[... omitted {omitted} of {total} lines ...]\n\n".encode(_ENC)
    remaining = MODEL_FORMAT_MAX_BYTES - len(head) - len(marker)
    if remaining <= 0 or tail_lines == 0:
        return (head + marker).decode(_ENC, _ERRORS)

    tail_begin = max(_tail_start(data, tail_lines), len(data) - remaining, head_end)
    while tail_begin < len(data) and _is_continuation(data[tail_begin]):
        tail_begin += 1
    return (head + marker + data[tail_begin:]).decode(_ENC, _ERRORS)


def timed_out_note(out: ExecOutput) -> str:
    """The line put before the output of a command that hit its timeout."""
    return f"command timed out after {int(out.duration_s * 1000)} milliseconds\n"


def format_exec_output_str(out: ExecOutput) -> str:
    """The output text the model sees: timed-out note + aggregated output, truncated."""
    text = out.aggregated_output
    total = out.aggregated_total_lines
    if out.timed_out:
        text = timed_out_note(out) + text
        if total is not None:
            total += 1
    return truncate_for_model(text, total_lines=total)


def _round_tenth(seconds: float) -> float:
    return round(seconds * 10.0) / 10.0


def format_duration_seconds(seconds: float) -> str:
    """Seconds rounded to 0.1, written without a trailing `.0` (`0`, `1.5`, `12`)."""
    text = repr(_round_tenth(seconds))
    return text[:-2] if text.endswith(".0") else text


def format_exec_output_for_model(out: ExecOutput) -> str:
    """The `function_call_output.output` JSON string for `shell` / `local_shell`.

    Exactly `{"output":<text>,"metadata":{"exit_code":<int>,"duration_seconds":<float>}}`
    (compact separators, non-ASCII kept), where the duration is rounded to 0.1 s.
    """
    payload = {
        "output": format_exec_output_str(out),
        "metadata": {"exit_code": out.exit_code, "duration_seconds": _round_tenth(out.duration_s)},
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def format_exec_output_text(out: ExecOutput) -> str:
    """The structured plain-text form of an exec-style result.

    ```
    Exit code: {exit_code}
    Wall time: {seconds} seconds
    Total output lines: {n}      <- only when the output text starts with that line
    Output:
    {output}
    ```
    """
    output = format_exec_output_str(out)
    lines = [f"Exit code: {out.exit_code}", f"Wall time: {format_duration_seconds(out.duration_s)} seconds"]
    header = _TOTAL_LINES_HEADER.match(output)
    if header is not None:
        lines.append(f"Total output lines: {header.group(1)}")
        output = output[header.end() :]
    lines.append("Output:")
    return "\n".join(lines) + "\n" + output
