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
  (`Exit code: …\\nWall time: … seconds\\nOutput:\\n…`);
* `format_shell_command_output` and `format_unified_exec_output` are the forms of current
  Codex (`shell_command`, `exec_command` / `write_stdin`), with its middle truncation
  (`truncation.py`).
"""

from __future__ import annotations

import json
import math
import re
import struct

from codex_mcp.agent.exec.buffer import omission_marker
from codex_mcp.agent.exec.runner import ExecOutput
from codex_mcp.agent.exec.truncation import (
    TruncationPolicy,
    approx_tokens_from_bytes,
    formatted_truncate_text,
    truncate_text,
)

__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "DEFAULT_SHELL_COMMAND_POLICY",
    "MODEL_FORMAT_HEAD_BYTES",
    "MODEL_FORMAT_HEAD_LINES",
    "MODEL_FORMAT_MAX_BYTES",
    "MODEL_FORMAT_MAX_LINES",
    "MODEL_FORMAT_TAIL_LINES",
    "count_lines",
    "effective_output_policy",
    "format_duration_seconds",
    "format_exec_output_for_model",
    "format_exec_output_str",
    "format_exec_output_text",
    "format_shell_command_output",
    "format_unified_exec_output",
    "shell_command_wall_time",
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


# ---- the current Codex forms: `shell_command` and `exec_command` / `write_stdin` -------------

DEFAULT_SHELL_COMMAND_POLICY = TruncationPolicy.bytes(10_000)
"""The budget of the fallback model family (per-family budgets come from the catalogue)."""
DEFAULT_MAX_OUTPUT_TOKENS = 10_000
"""`exec_command` / `write_stdin` without `max_output_tokens`."""
SERIALIZATION_ALLOWANCE = 1.2
DEFAULT_MODEL_POLICY = TruncationPolicy.tokens(DEFAULT_MAX_OUTPUT_TOKENS)
"""A model family's budget when none is known (families with a smaller one pass theirs)."""


def _f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def format_f32(x: float) -> str:
    """An f32 as Rust's `Display` prints it: the shortest decimal that reads back the same."""
    value = _f32(x)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    for digits in range(1, 12):
        text = f"{value:.{digits}f}"
        if _f32(float(text)) == value:
            return text
    return repr(value)


def shell_command_wall_time(seconds: float) -> str:
    """Seconds rounded to 0.1 in single precision, printed like the reference (`0`, `0.5`)."""
    tenths = _f32(_f32(seconds) * 10.0)
    return format_f32(_f32(math.floor(tenths + 0.5) / 10.0))


def format_shell_command_output(
    out: ExecOutput, policy: TruncationPolicy = DEFAULT_SHELL_COMMAND_POLICY
) -> str:
    """The `shell_command` result text of current Codex:

    ```
    Exit code: {exit_code}
    Wall time: {seconds} seconds
    Total output lines: {n}      <- only when truncation changed the line count
    Output:
    {output, cut to the model family's budget in the middle}
    ```

    The output is the timed-out note (if any), then stdout, then stderr.  When the runner
    already dropped the middle of a huge stream, the counts still describe everything the
    command printed (the dropped bytes are counted as characters).
    """
    content = out.aggregated_output
    total_lines = count_lines(content) if out.aggregated_total_lines is None else out.aggregated_total_lines
    if out.timed_out:
        content = timed_out_note(out) + content
        total_lines += 1
    dropped = 0
    if out.aggregated_total_lines is not None:
        retained = len(out.stdout.encode(_ENC, _ERRORS)) + len(out.stderr.encode(_ENC, _ERRORS))
        gaps = _GAP_LINE.findall(out.stdout) + _GAP_LINE.findall(out.stderr)
        gap_chars = sum(len(g) for g in gaps)
        dropped = out.stdout_total_bytes + out.stderr_total_bytes - (retained - gap_chars) - gap_chars
    formatted = truncate_text(content, policy)
    if dropped and formatted != content:
        formatted = _adjust_removed(formatted, dropped)
    sections = [
        f"Exit code: {out.exit_code}",
        f"Wall time: {shell_command_wall_time(out.duration_s)} seconds",
    ]
    if total_lines != count_lines(formatted):
        sections.append(f"Total output lines: {total_lines}")
    sections += ["Output:", formatted]
    return "\n".join(sections)


_GAP_LINE = re.compile(r"\n\[\.\.\. \d+ bytes omitted \.\.\.\]\n")
_REMOVED = re.compile(r"…(\d+) (chars|tokens) truncated…")


def _adjust_removed(formatted: str, dropped_bytes: int) -> str:
    """Add what the runner dropped before truncation to the marker's count."""

    def bump(m: re.Match[str]) -> str:
        extra = dropped_bytes if m.group(2) == "chars" else approx_tokens_from_bytes(dropped_bytes)
        return f"…{int(m.group(1)) + extra} {m.group(2)} truncated…"

    return _REMOVED.sub(bump, formatted, count=1)


def effective_output_policy(
    max_output_tokens: int | None, model_policy: TruncationPolicy
) -> TruncationPolicy:
    """The token budget of one `exec_command`/`write_stdin` answer: what the call asked for
    (10,000 by default), never more than the model family's budget."""
    requested = DEFAULT_MAX_OUTPUT_TOKENS if max_output_tokens is None else max(0, max_output_tokens)
    return TruncationPolicy.tokens(min(requested, model_policy.token_budget))


def _unified_truncate(text: str, policy: TruncationPolicy, omitted: int, original_tokens: int) -> str:
    if not omitted:
        return formatted_truncate_text(text, policy)
    marker = omission_marker(omitted)
    if len(text.encode(_ENC, _ERRORS)) <= policy.byte_budget:
        return text if marker in text else f"{marker}\n{text}"
    truncated = truncate_text(text, policy)
    notice = "" if marker in truncated else f"{marker}\n"
    return f"Warning: truncated output (original token count: {original_tokens})\n{notice}\n{truncated}"


def unified_exec_header(
    chunk_id: str, wall_time_s: float, exit_code: int | None, session_id: int | None, original_tokens: int
) -> str:
    lines = []
    if chunk_id:
        lines.append(f"Chunk ID: {chunk_id}")
    lines.append(f"Wall time: {max(0.0, wall_time_s):.4f} seconds")
    if exit_code is not None:
        lines.append(f"Process exited with code {exit_code}")
    if session_id is not None:
        lines.append(f"Process running with session ID {session_id}")
    lines.append(f"Original token count: {original_tokens}")
    lines.append("Output:")
    return "\n".join(lines)


def format_unified_exec_output(
    *,
    chunk_id: str,
    wall_time_s: float,
    exit_code: int | None,
    session_id: int | None,
    text: str,
    total_bytes: int,
    omitted: int = 0,
    max_output_tokens: int | None = None,
    model_policy: TruncationPolicy = DEFAULT_MODEL_POLICY,
) -> tuple[str, str]:
    """The `exec_command` / `write_stdin` result text, and the (truncated) output part of it.

    ```
    Chunk ID: {6 hex}
    Wall time: {seconds, 4 decimals} seconds
    Process exited with code {n}          <- when the process has exited
    Process running with session ID {id}  <- while it runs
    Original token count: {bytes / 4, rounded up}
    Output:
    {output}
    ```

    `text` is what the process printed during the call (decoded), `total_bytes` how many
    bytes that was in all and `omitted` how many of them the bounded collection dropped
    from the middle (`text` then holds the omission marker where they were).  The output is
    cut to `max_output_tokens` (10,000 by default, never more than the model family's
    budget) keeping head and tail, and then, like the reference, cut further until the
    whole answer fits the family's budget plus 20%.
    """
    original = approx_tokens_from_bytes(total_bytes)
    header = unified_exec_header(chunk_id, wall_time_s, exit_code, session_id, original)
    policy = effective_output_policy(max_output_tokens, model_policy)
    output = _unified_truncate(text, policy, omitted, original)
    room = model_policy.scaled(SERIALIZATION_ALLOWANCE).byte_budget - (len(header.encode()) + 1)
    while len(output.encode(_ENC, _ERRORS)) > room and policy.limit > 0:
        excess = len(output.encode(_ENC, _ERRORS)) - room
        policy = TruncationPolicy.tokens(max(0, policy.limit - approx_tokens_from_bytes(excess)))
        output = _unified_truncate(text, policy, omitted, original)
    return f"{header}\n{output}", output
