"""`experimental_resume`: a session continued from a rollout file, never from any other file.

The path comes from the person's config; a calling model cannot set it (the call ceiling
refuses the key).  Judged from outside: the call's result, and whether anything of a file
outside `$CODEX_HOME/sessions` ever reached the model provider.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.security.harness import assert_alive, outside_dir, run_call
from tests.support.raw_client import text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory, write_config

pytestmark = pytest.mark.e2e

SECRET = "outside-secret-7361"
THREAD = "01a2428c-74b1-7482-88bd-9f1c9f7e26cd"


def rollout_lines(text: str) -> str:
    """A rollout whose history holds `text` as a user message."""
    lines = [
        {
            "timestamp": "t",
            "type": "session_meta",
            "payload": {"id": THREAD, "cwd": "/tmp", "instructions": "x"},
        },
        {
            "timestamp": "t",
            "type": "response_item",
            "payload": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        },
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


def sent_to_model(model: ScriptedModel) -> str:
    return "".join(r.raw.decode("utf-8", "replace") for r in model.requests)


def test_a_recorded_session_is_continued(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path
) -> None:
    day = codex_home / "sessions" / "2026" / "12" / "04"
    day.mkdir(parents=True)
    path = day / f"rollout-2026-12-04T10-00-00-{THREAD}.jsonl"
    path.write_text(rollout_lines("the earlier question"))
    write_config(codex_home, scripted_model, extra=f'experimental_resume = "{path}"\n')
    scripted_model.text("continued")
    client = spawn_server()
    result = run_call(client, sandbox="read-only", cwd=str(workspace))
    assert text_of(result) == "continued", result
    assert result["structuredContent"]["threadId"] == THREAD
    assert "the earlier question" in scripted_model.requests[0].user_texts()


@pytest.mark.parametrize("where", ["absolute", "symlink", "traversal"])
def test_a_file_outside_the_sessions_tree_is_never_read(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path, workspace: Path, where: str
) -> None:
    with outside_dir() as outside:
        target = outside / f"rollout-2026-12-04T10-00-00-{THREAD}.jsonl"
        target.write_text(rollout_lines(SECRET))
        day = codex_home / "sessions" / "2026"
        day.mkdir(parents=True)
        if where == "absolute":
            named = str(target)
        elif where == "symlink":
            link = day / target.name
            os.symlink(target, link)
            named = str(link)
        else:
            named = str(day / ".." / ".." / os.path.relpath(target, codex_home))
        write_config(codex_home, scripted_model, extra=f'experimental_resume = "{named}"\n')
        scripted_model.text("should not be asked")
        client = spawn_server()
        result = run_call(client, sandbox="read-only", cwd=str(workspace))
        assert result.get("isError") is True, result
        assert "experimental_resume" in text_of(result)
        assert scripted_model.requests == []
        assert SECRET not in sent_to_model(scripted_model)
        assert_alive(client)


@pytest.mark.parametrize(
    "config",
    [
        {"experimental_resume": "/etc/passwd"},
        {"default_permissions": ":danger-full-access"},
        {"permissions": {"p": {"extends": ":danger-full-access"}}},
    ],
)
def test_a_call_cannot_set_the_keys_that_widen_or_read(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path, config: dict[str, object]
) -> None:
    client = spawn_server()
    result = run_call(client, sandbox="read-only", cwd=str(workspace), config=config)
    assert result.get("isError") is True, result
    assert next(iter(config)) in text_of(result)
    assert scripted_model.requests == []
