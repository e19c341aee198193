"""The model-facing text of `exec_command`/`write_stdin` and `shell_command`, byte for byte.

Expected strings are what codex-cli 0.147 sent its model for the same command output (with
the fallback model family, whose budget is 10,000 bytes; chunk id and wall time aside),
recorded by driving `codex mcp-server` with the scripted mock model.
"""

from __future__ import annotations

import pytest

from codex_mcp.agent.exec.buffer import HeadTailBuffer, omission_marker
from codex_mcp.agent.exec.format import (
    effective_output_policy,
    format_shell_command_output,
    format_unified_exec_output,
    shell_command_wall_time,
)
from codex_mcp.agent.exec.runner import ExecOutput
from codex_mcp.agent.exec.truncation import (
    TruncationPolicy,
    approx_token_count,
    count_lines,
    formatted_truncate_text,
    truncate_text,
)

FALLBACK = TruncationPolicy.tokens(2500)  # 10,000 bytes


def seq(n: int) -> str:
    return "".join(f"{i}\n" for i in range(1, n + 1))


def unified(
    raw: bytes, max_tokens: int | None, *, exit_code: int | None = 0, session: int | None = None
) -> str:
    text, _ = format_unified_exec_output(
        chunk_id="abc123", wall_time_s=0.0, exit_code=exit_code, session_id=session,
        text=raw.decode("utf-8", "replace"), total_bytes=len(raw), max_output_tokens=max_tokens,
        model_policy=FALLBACK,
    )  # fmt: skip
    return text


HEAD = "Chunk ID: abc123\nWall time: 0.0000 seconds\nProcess exited with code 0\n"


def test_short_output_is_framed_as_the_reference_does() -> None:
    assert unified(b"hi\n", None) == HEAD + "Original token count: 1\nOutput:\nhi\n"
    assert unified(b"", None) == HEAD + "Original token count: 0\nOutput:\n"
    running = unified(b"ready\r\n", None, exit_code=None, session=76644)
    assert running == (
        "Chunk ID: abc123\nWall time: 0.0000 seconds\nProcess running with session ID 76644\n"
        "Original token count: 2\nOutput:\nready\r\n"
    )


def test_token_count_is_of_the_raw_bytes() -> None:
    # "a\xffb\n": 4 raw bytes (1 token), though the replacement character takes 3 bytes.
    assert unified(b"a\xffb\n", None) == HEAD + "Original token count: 1\nOutput:\na\ufffdb\n"


def test_truncation_keeps_head_and_tail_with_the_token_marker() -> None:
    out = unified(b"x" * 100_000 + b"\n", 100)
    body = out.split("Output:\n", 1)[1]
    assert "Original token count: 25001\n" in out
    head, _, rest = body.partition("…24901 tokens truncated…")
    assert (
        head
        == "Warning: truncated output (original token count: 25001)\nTotal output lines: 1\n\n" + "x" * 200
    )
    assert rest == "x" * 199 + "\n"


def test_truncation_of_many_lines() -> None:
    out = unified(seq(5000).encode(), 50)
    assert out.endswith(
        "Original token count: 5974\nOutput:\nWarning: truncated output (original token count: 5974)\n"
        "Total output lines: 5000\n\n" + seq(36) + "3…5924 tokens truncated…" + seq(5000)[-100:]
    )


def test_default_budget_is_the_model_familys() -> None:
    raw = seq(20000).encode()
    body = unified(raw, None).split("Output:\n", 1)[1]
    prefix = "Warning: truncated output (original token count: 27224)\nTotal output lines: 20000\n\n"
    assert body.startswith(prefix)
    head, _, tail = body[len(prefix) :].partition("…24724 tokens truncated…")
    assert (len(head), len(tail)) == (5000, 5000)
    # A larger family budget lets the call's own default (10,000 tokens) apply.
    assert effective_output_policy(None, TruncationPolicy.tokens(10_000)) == TruncationPolicy.tokens(10_000)
    assert effective_output_policy(100, FALLBACK) == TruncationPolicy.tokens(100)
    assert effective_output_policy(10**9, TruncationPolicy.bytes(10_000)) == TruncationPolicy.tokens(2500)


def test_multibyte_text_is_cut_on_character_boundaries() -> None:
    out = unified(("é" * 1000 + "\n").encode(), 10)
    assert out.endswith("\n\néééééééééé…491 tokens truncated…ééééééééé\n")


@pytest.mark.parametrize(
    ("raw", "tokens", "body"),
    [
        (b"hello world\n", 0, "Total output lines: 1\n\n…3 tokens truncated…"),
        (b"hello world and more\n", 1, "Total output lines: 1\n\nhe…5 tokens truncated…e\n"),
    ],
)
def test_tiny_budgets(raw: bytes, tokens: int, body: str) -> None:
    assert unified(raw, tokens).endswith(body)


def test_output_dropped_by_the_collection_cap_is_announced() -> None:
    buf = HeadTailBuffer(1 << 20)
    data = b"x" * 5_000_000 + b"\nEND\n"
    for i in range(0, len(data), 65536):
        buf.feed(data[i : i + 65536])
    text, _ = format_unified_exec_output(
        chunk_id="", wall_time_s=0.0014, exit_code=0, session_id=None, text=buf.to_bytes().decode(),
        total_bytes=buf.total, omitted=buf.omitted, max_output_tokens=100, model_policy=FALLBACK,
    )  # fmt: skip
    assert text.startswith(
        "Wall time: 0.0014 seconds\nProcess exited with code 0\nOriginal token count: 1250002\n"
    )
    body = text.split("Output:\n", 1)[1]
    assert body.startswith(
        "Warning: truncated output (original token count: 1250002)\n... 3951429 bytes omitted ...\n\n"
        + "x" * 200
    )
    assert body.endswith("…262052 tokens truncated…" + "x" * 195 + "\nEND\n")


def test_whole_answer_fits_the_family_budget_plus_a_fifth() -> None:
    small = TruncationPolicy.tokens(50)  # 200 bytes; the answer must fit 240 bytes
    text, output = format_unified_exec_output(
        chunk_id="abc123", wall_time_s=0.0, exit_code=0, session_id=None, text=seq(2000),
        total_bytes=len(seq(2000)), max_output_tokens=None, model_policy=small,
    )  # fmt: skip
    assert len(text.encode()) <= 240 + 1
    assert "tokens truncated" in output


# ---- truncation primitives ----------------------------------------------------------------


def test_token_estimate_rounds_up() -> None:
    assert [approx_token_count("x" * n) for n in (0, 1, 4, 5)] == [0, 1, 1, 2]
    assert approx_token_count("é") == 1


def test_lines_are_counted_like_str_lines() -> None:
    assert [count_lines(t) for t in ("", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\n")] == [0, 1, 1, 2, 2, 2]


def test_text_within_budget_is_unchanged() -> None:
    assert truncate_text("abc", TruncationPolicy.tokens(1)) == "abc"
    assert formatted_truncate_text("abcd", TruncationPolicy.bytes(4)) == "abcd"
    assert truncate_text("", TruncationPolicy.tokens(0)) == ""


def test_byte_budget_counts_removed_characters() -> None:
    assert truncate_text("é" * 10, TruncationPolicy.bytes(8)) == "éé…6 chars truncated…éé"
    assert truncate_text("abc", TruncationPolicy.bytes(0)) == "…3 chars truncated…"


# ---- the bounded buffer -------------------------------------------------------------------


def test_head_tail_buffer_keeps_both_ends_and_counts_the_middle() -> None:
    buf = HeadTailBuffer(10)
    for chunk in (b"01234", b"56789", b"abcdefghij", b"KLMNO"):
        buf.feed(chunk)
    assert buf.snapshot() == (b"01234", 15, b"KLMNO")
    assert buf.total == 25 and len(buf) == 10
    assert buf.to_bytes() == b"01234\n" + omission_marker(15).encode() + b"\nKLMNO"
    assert buf.drain() == (b"01234", 15, b"KLMNO") and buf.empty and buf.total == 0


def test_head_tail_buffer_memory_is_bounded_whatever_is_fed() -> None:
    buf = HeadTailBuffer(1024)
    for _ in range(10_000):
        buf.feed(b"y" * 700)
        assert len(buf.head) + len(buf.tail) <= 512 + 2 * 512 + 700
    assert len(buf) == 1024 and buf.omitted == 10_000 * 700 - 1024


def test_a_gap_before_a_chunk_closes_the_head() -> None:
    into = HeadTailBuffer(100)
    into.feed(b"aaa")
    into.feed(b"zzz", omitted=50)
    into.feed(b"more")
    assert into.snapshot() == (b"aaa", 50, b"zzzmore")
    assert into.total == 3 + 50 + 3 + 4


# ---- shell_command (one-shot) ---------------------------------------------------------------


def out(
    stdout: str, stderr: str = "", code: int = 0, duration: float = 0.0, timed_out: bool = False
) -> ExecOutput:
    return ExecOutput(
        exit_code=code, stdout=stdout, stderr=stderr, aggregated_output=stdout + stderr, duration_s=duration,
        timed_out=timed_out, stdout_total_bytes=len(stdout.encode()), stderr_total_bytes=len(stderr.encode()),
    )  # fmt: skip


def test_shell_command_framing() -> None:
    assert format_shell_command_output(out("hi\n")) == "Exit code: 0\nWall time: 0 seconds\nOutput:\nhi\n"
    assert format_shell_command_output(out("")) == "Exit code: 0\nWall time: 0 seconds\nOutput:\n"
    assert format_shell_command_output(out("out\n", "err\n", 3)) == (
        "Exit code: 3\nWall time: 0 seconds\nOutput:\nout\nerr\n"
    )
    assert format_shell_command_output(out("start\n", code=124, duration=0.508, timed_out=True)) == (
        "Exit code: 124\nWall time: 0.5 seconds\nOutput:\ncommand timed out after 508 milliseconds\nstart\n"
    )


def test_shell_command_truncation() -> None:
    text = format_shell_command_output(out(seq(20000)))
    assert text.startswith(
        "Exit code: 0\nWall time: 0 seconds\nTotal output lines: 20000\nOutput:\n" + seq(1000)[:5000]
    )
    assert "…98894 chars truncated…" in text and text.endswith(seq(20000)[-5000:])
    # One long line stays one line: no line-count header.
    text = format_shell_command_output(out("é" * 30000 + "\n", duration=0.1))
    assert text.startswith(
        "Exit code: 0\nWall time: 0.1 seconds\nOutput:\n" + "é" * 2500 + "…25001 chars truncated…"
    )
    assert format_shell_command_output(out(seq(300))) == (
        "Exit code: 0\nWall time: 0 seconds\nOutput:\n" + seq(300)
    )


def test_shell_command_counts_what_the_runner_dropped() -> None:
    gap = "\n[... 1000 bytes omitted ...]\n"
    head, tail = "h" * 20_000, "t" * 20_000
    o = ExecOutput(
        exit_code=0, stdout=head + gap + tail, stderr="", aggregated_output=head + gap + tail, duration_s=0.0,
        timed_out=False, aggregated_total_lines=1, stdout_total_bytes=41_000,
    )  # fmt: skip
    text = format_shell_command_output(o)
    assert f"…{41_000 - 10_000} chars truncated…" in text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.0, "0"), (0.04, "0"), (0.05, "0.1"), (0.508, "0.5"), (1.25, "1.3"), (12.0, "12"), (123.456, "123.5")],
)
def test_shell_command_wall_time(seconds: float, shown: str) -> None:
    assert shell_command_wall_time(seconds) == shown
