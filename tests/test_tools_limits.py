"""Unit checks of what the tool layer accepts: images by content, plans, and calls."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from codex_mcp.agent.handlers.call_limits import refusal_output, shrink_refused, vet_call
from codex_mcp.agent.handlers.images import NotAnImageError, image_data_url, sniff_image_mime
from codex_mcp.agent.handlers.plan import validate_plan
from codex_mcp.agent.limits import MAX_PLAN_STEPS, MAX_TOOL_ARGUMENTS_CHARS, MAX_TOOL_NAME_CHARS
from codex_mcp.bounded_read import UnreadableFileError

SIGNATURES = {
    "image/png": b"\x89PNG\r\n\x1a\n" + b"\0" * 16,
    "image/jpeg": b"\xff\xd8\xff\xe0" + b"\0" * 16,
    "image/gif": b"GIF89a" + b"\0" * 16,
    "image/webp": b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 8,
}


@pytest.mark.parametrize("mime", sorted(SIGNATURES))
def test_images_are_recognised_by_content_not_name(mime: str, tmp_path: Path) -> None:
    path = tmp_path / "misnamed.txt"
    path.write_bytes(SIGNATURES[mime])
    assert sniff_image_mime(SIGNATURES[mime]) == mime
    url = image_data_url(path)
    assert url.startswith(f"data:{mime};base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == SIGNATURES[mime]


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>", b"%PDF-1.7", b"GIF8", b"RIFF\0\0\0\0WAVE", b"\x89PNG", b"BM\0\0", b"<svg xmlns='x'/>"],
)
def test_non_images_are_refused(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(NotAnImageError, match="is not an image"):
        image_data_url(path)


@pytest.mark.parametrize(
    "path", ["/proc/self/environ", "/proc/self/status", "/dev/zero", "/sys/kernel/hostname"]
)
def test_pseudo_files_are_refused(path: str) -> None:
    with pytest.raises(UnreadableFileError, match="pseudo-file"):
        image_data_url(path)


def test_fifo_and_oversize_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "f.png")
    with pytest.raises(UnreadableFileError, match="FIFO"):
        image_data_url(tmp_path / "f.png")
    big = tmp_path / "big.png"
    with open(big, "wb") as f:
        f.write(SIGNATURES["image/png"])
        f.truncate(1000)
    with pytest.raises(UnreadableFileError, match="over the limit of 999 bytes"):
        image_data_url(big, limit=999)


# --- update_plan ---------------------------------------------------------------------------


def test_plan_caps() -> None:
    ok = {"plan": [{"step": "s", "status": "pending"}] * MAX_PLAN_STEPS, "explanation": "e"}
    assert len(validate_plan(ok)["plan"]) == MAX_PLAN_STEPS
    with pytest.raises(ValueError, match=f"has {MAX_PLAN_STEPS + 1} steps; at most {MAX_PLAN_STEPS}"):
        validate_plan({"plan": [{"step": "s", "status": "pending"}] * (MAX_PLAN_STEPS + 1)})
    with pytest.raises(ValueError, match=r"plan\[0\].step is 5000 characters"):
        validate_plan({"plan": [{"step": "s" * 5000, "status": "pending"}]})
    with pytest.raises(ValueError, match="`explanation` is 20000 characters"):
        validate_plan({"plan": [], "explanation": "e" * 20000})


# --- vetting calls ---------------------------------------------------------------------------


def call(arguments: object, name: str = "shell") -> dict[str, object]:
    return {"type": "function_call", "name": name, "arguments": arguments, "call_id": "c1"}


def test_vet_decodes_arguments_once() -> None:
    vetted = vet_call(call(json.dumps({"command": ["ls"]})))
    assert isinstance(vetted, dict) and vetted["arguments"] == {"command": ["ls"]}
    assert vet_call(call("")) == {**call(""), "arguments": {}}


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ("x" * (MAX_TOOL_ARGUMENTS_CHARS + 1), f"at most {MAX_TOOL_ARGUMENTS_CHARS} are accepted"),
        ("[" * 5000 + "]" * 5000, "nested more than 100 levels deep"),
        ("[1, 2]", "the arguments must be a JSON object"),
        ("{nope", "failed to parse function arguments"),
        ("[" + "{}," * 120_000 + "{}]", "more than 100000 opening brackets"),
    ],
)
def test_vet_refuses_hostile_arguments(arguments: str, fragment: str) -> None:
    text = vet_call(call(arguments))
    assert isinstance(text, str) and fragment in text


def test_vet_refuses_giant_names_and_inputs() -> None:
    assert "a tool name of 1025 characters" in str(vet_call(call("{}", "n" * (MAX_TOOL_NAME_CHARS + 1))))
    custom = {
        "type": "custom_tool_call",
        "name": "apply_patch",
        "input": "p" * (MAX_TOOL_ARGUMENTS_CHARS + 1),
    }
    assert "its input has" in str(vet_call(custom))
    shell = {"type": "local_shell_call", "call_id": "c", "action": {"command": ["ls"]}}
    assert vet_call(shell) is shell


def test_refusal_output_matches_the_call_shape() -> None:
    assert refusal_output(call("{}"), "no") == {
        "type": "function_call_output",
        "call_id": "c1",
        "output": "no",
    }
    custom = {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": ""}
    assert refusal_output(custom, "no")["type"] == "custom_tool_call_output"


def test_refused_payloads_are_not_kept() -> None:
    big = call("x" * 5000, "n" * 5000)
    shrunk = shrink_refused(big)
    assert json.loads(shrunk["arguments"]) == {"dropped": "[5000 characters, refused and not kept]"}
    assert shrunk["name"] == "n" * 64 and shrunk["call_id"] == "c1" and big["arguments"] == "x" * 5000
    custom = {"type": "custom_tool_call", "name": "apply_patch", "input": "p" * 5000, "call_id": "c"}
    assert shrink_refused(custom)["input"] == "[5000 characters, refused and not kept]"
    small = call("[1]")
    assert shrink_refused(small) == small
