from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp.agent.exec import (
    ExecOutput,
    count_lines,
    format_duration_seconds,
    format_exec_output_for_model,
    format_exec_output_str,
    format_exec_output_text,
    truncate_for_model,
)
from codex_mcp.agent.exec.runner import _StreamCapture

MAX_BYTES = 10 * 1024


def _out(text: str, *, exit_code: int = 0, duration: float = 0.0, timed_out: bool = False) -> ExecOutput:
    return ExecOutput(
        exit_code=exit_code,
        stdout=text,
        stderr="",
        aggregated_output=text,
        duration_s=duration,
        timed_out=timed_out,
    )


def _numbered(n: int) -> str:
    return "".join(f"line {i}\n" for i in range(1, n + 1))


def test_short_text_is_unchanged() -> None:
    assert truncate_for_model("") == ""
    assert truncate_for_model("hello\nworld") == "hello\nworld"
    text = _numbered(256)
    assert truncate_for_model(text) == text


def test_too_many_lines_keeps_128_head_and_tail_lines_with_marker() -> None:
    text = _numbered(300)
    result = truncate_for_model(text)
    head = _numbered(128)
    tail = "".join(f"line {i}\n" for i in range(173, 301))
    assert result == head + "\n[... omitted 44 of 300 lines ...]\n\n" + tail


def test_too_many_bytes_cuts_head_at_5k_and_fills_tail_to_10k() -> None:
    text = "".join(f"{i:04d}" + "x" * 95 + "\n" for i in range(200))  # 100 bytes a line, 200 lines
    result = truncate_for_model(text)
    data = result.encode()
    assert len(data) == MAX_BYTES
    marker = "\n[... omitted 0 of 200 lines ...]\n\n"
    head, tail = result.split(marker)
    assert head == text[:5120]
    assert text.endswith(tail)
    assert len(tail.encode()) == MAX_BYTES - 5120 - len(marker)


def test_single_huge_line() -> None:
    text = "é" * 20_000  # 2-byte characters; the 5 KiB cut lands on a boundary either way
    result = truncate_for_model(text)
    assert len(result.encode()) <= MAX_BYTES
    assert "\n[... omitted 0 of 1 lines ...]\n\n" in result
    assert result.startswith("é" * 2560)


def test_cut_inside_multibyte_char_moves_to_boundary() -> None:
    text = "a" + "€" * 10_000  # 3-byte characters, offset by one
    result = truncate_for_model(text)
    assert len(result.encode()) <= MAX_BYTES
    head = result.split("\n[...")[0]
    assert head == "a" + "€" * 1706  # 1 + 3*1706 = 5119 <= 5120


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=120),
        max_size=600,
    ),
    st.booleans(),
)
def test_truncation_bounds_and_head_tail_preserved(lines: list[str], trailing_nl: bool) -> None:
    text = "\n".join(lines) + ("\n" if trailing_nl and lines else "")
    result = truncate_for_model(text)
    data = text.encode()
    if len(data) <= MAX_BYTES and count_lines(text) <= 256:
        assert result == text
        assert truncate_for_model(result) == result
        return
    assert len(result.encode()) <= MAX_BYTES
    # 128 head lines + 3 marker lines + 128 tail lines at most.
    assert count_lines(result) <= 128 + 3 + 128
    marker_start = result.index("\n[... omitted ")
    head = result[:marker_start]
    marker_end = result.index(" lines ...]\n\n", marker_start) + len(" lines ...]\n\n")
    tail = result[marker_end:]
    assert text.startswith(head)
    assert text.endswith(tail)
    assert f"of {count_lines(text)} lines" in result[marker_start:marker_end]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="ab€\n", max_size=300), min_size=1, max_size=40).map("".join),
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=0, max_value=30),
)
def test_runner_capping_does_not_change_model_output(fragment: str, repeat_exp: int, pad: int) -> None:
    """A stream whose middle was dropped formats exactly like the complete stream."""
    full = (fragment * (40 * 10**repeat_exp // max(len(fragment), 1) + 1))[:300_000] + "z" * pad
    capture = _StreamCapture(head_cap=16 * 1024, tail_cap=16 * 1024)
    raw = full.encode()
    for i in range(0, len(raw), 8192):
        capture.feed(raw[i : i + 8192])
    retained = capture.text()
    if capture.dropped == 0:
        assert retained == full
        return
    assert len(retained.encode()) < 33 * 1024 + 64
    assert capture.line_count() == count_lines(full)
    assert truncate_for_model(retained, total_lines=capture.line_count()) == truncate_for_model(full)


def test_timed_out_note_comes_first() -> None:
    out = _out("partial\n", exit_code=124, duration=1.234, timed_out=True)
    assert format_exec_output_str(out) == "command timed out after 1234 milliseconds\npartial\n"


def test_json_payload_shape() -> None:
    out = _out("héllo\n", exit_code=2, duration=1.26)
    payload = format_exec_output_for_model(out)
    assert payload == '{"output":"héllo\\n","metadata":{"exit_code":2,"duration_seconds":1.3}}'
    assert json.loads(payload) == {"output": "héllo\n", "metadata": {"exit_code": 2, "duration_seconds": 1.3}}
    quick = json.loads(format_exec_output_for_model(_out("", duration=0.01)))
    assert quick["metadata"]["duration_seconds"] == 0.0


def test_json_payload_truncates() -> None:
    out = _out(_numbered(1000))
    output = json.loads(format_exec_output_for_model(out))["output"]
    assert "[... omitted 744 of 1000 lines ...]" in output


def test_structured_text_form() -> None:
    out = _out("Success. Updated the following files:\nA new.txt\nM dest.txt\n", duration=0.02)
    assert format_exec_output_text(out) == (
        "Exit code: 0\nWall time: 0 seconds\nOutput:\n"
        "Success. Updated the following files:\nA new.txt\nM dest.txt\n"
    )
    assert format_exec_output_text(_out("x", exit_code=1, duration=2.46)) == (
        "Exit code: 1\nWall time: 2.5 seconds\nOutput:\nx"
    )


def test_structured_text_lifts_total_output_lines_header() -> None:
    out = _out("Total output lines: 42\nbody\n")
    assert format_exec_output_text(out) == (
        "Exit code: 0\nWall time: 0 seconds\nTotal output lines: 42\nOutput:\nbody\n"
    )


def test_structured_text_with_timeout() -> None:
    out = _out("", exit_code=124, duration=10.0, timed_out=True)
    assert format_exec_output_text(out) == (
        "Exit code: 124\nWall time: 10 seconds\nOutput:\ncommand timed out after 10000 milliseconds\n"
    )


def test_format_duration_seconds() -> None:
    assert format_duration_seconds(0.0) == "0"
    assert format_duration_seconds(0.04) == "0"
    assert format_duration_seconds(0.06) == "0.1"
    assert format_duration_seconds(3.0) == "3"
    assert format_duration_seconds(12.345) == "12.3"
