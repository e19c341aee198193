"""The README's embedding example runs as written, against the scripted mock model."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.scripted_model import ScriptedModel
from tests.support.server import server_env, write_config

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parent.parent / "README.md"


def embedding_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Embedding without MCP") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the README's embedding section has no python example"
    return match.group(1)


def test_the_readme_example_is_short_and_uses_the_structured_api() -> None:
    code = embedding_example()
    assert len(code.strip().splitlines()) <= 15
    for name in ("Codex()", "start_thread", "thread.turn(", "ApprovalRequest", "thread.run("):
        assert name in code


def test_the_readme_example_runs(tmp_path: Path, scripted_model: ScriptedModel) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    write_config(home, scripted_model, ceiling=None)
    scripted_model.shell("echo fixed > fixed.txt")
    scripted_model.text("the tests pass now")
    patch = "*** Begin Patch\n*** Add File: CHANGELOG.md\n+- fixed the tests\n*** End Patch\n"
    scripted_model.apply_patch(patch)
    scripted_model.text("added the entry")
    script = tmp_path / "example.py"
    script.write_text(embedding_example(), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=work,
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Two model requests of 110 tokens each (the patch call, then the answer).
    assert proc.stdout.startswith("added the entry 220 "), proc.stdout
    assert "+- fixed the tests" in proc.stdout
    assert (work / "fixed.txt").read_text() == "fixed\n", "the approved command ran"
    assert (work / "CHANGELOG.md").read_text() == "- fixed the tests\n"
