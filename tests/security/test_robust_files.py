"""What leaves the machine from files: `view_image` and project docs (AGENTS.md).

The model picks the path of `view_image`, and a cloned repository picks what its
AGENTS.md is; both end up in a request to the provider.  Each attack is judged from
outside: what the provider received (no environment, no file from outside the
repository, no non-image as an image), the server's answer to `ping` during the attack,
its peak RSS, and the warning the client is shown.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.security.harness import assert_alive, outside_dir
from tests.security.robust_support import (
    PEAK_RSS_LIMIT_MB,
    MiB,
    PingMonitor,
    Spawner,
    assert_no_traceback,
    configure,
    events_of,
    result_text,
    run_codex,
    spawner,
    vm_hwm_mb,
)
from tests.support.scripted_model import ScriptedModel

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and FIFOs")

PNG_HEAD = b"\x89PNG\r\n\x1a\n"
SECRET = "robust-secret-7f3a"


@pytest.fixture
def spawn(
    codex_home: Path, workspace: Path, tmp_path: Path, scripted_model: ScriptedModel
) -> Iterator[Spawner]:
    with spawner(codex_home, workspace, tmp_path, scripted_model) as s:
        yield s


def sent_images(model: ScriptedModel) -> list[str]:
    return [
        str(part.get("image_url"))
        for request in model.requests
        for item in request.items()
        if isinstance(item.get("content"), list)
        for part in item["content"]
        if isinstance(part, dict) and part.get("type") == "input_image"
    ]


def everything_sent(model: ScriptedModel) -> str:
    return "\n".join(repr(request.body) for request in model.requests)


# --- view_image ----------------------------------------------------------------------------


def _html(ws: Path) -> str:
    (ws / "page.png").write_text(f"<html><body>{SECRET}</body></html>")
    return "page.png"


def _text_as_jpeg(ws: Path) -> str:
    (ws / "notes.jpg").write_text(f"OPENAI_API_KEY={SECRET}\n")
    return "notes.jpg"


def _empty(ws: Path) -> str:
    (ws / "empty.png").write_bytes(b"")
    return "empty.png"


def _fifo(ws: Path) -> str:
    os.mkfifo(ws / "pipe.png")
    return "pipe.png"


def _link_to_environ(ws: Path) -> str:
    (ws / "env.png").symlink_to("/proc/self/environ")
    return "env.png"


def _directory(ws: Path) -> str:
    (ws / "dir.png").mkdir()
    return "dir.png"


def _sparse_gigabyte(ws: Path) -> str:
    with open(ws / "huge.png", "wb") as f:
        f.write(PNG_HEAD)
        f.truncate(1024 * MiB)
    return "huge.png"


VIEW_IMAGE_ATTACKS: dict[str, tuple[Callable[[Path], str], str]] = {
    "proc-self-environ": (lambda ws: "/proc/self/environ", "system pseudo-file"),
    "proc-self-cmdline": (lambda ws: "/proc/self/cmdline", "system pseudo-file"),
    "symlink-to-environ": (_link_to_environ, "system pseudo-file"),
    "dev-zero": (lambda ws: "/dev/zero", "system pseudo-file"),
    "sys-file": (lambda ws: "/sys/kernel/hostname", "system pseudo-file"),
    "html-named-png": (_html, "is not an image"),
    "secrets-named-jpg": (_text_as_jpeg, "is not an image"),
    "empty-file": (_empty, "is not an image"),
    "fifo": (_fifo, "not a regular file (a FIFO)"),
    "directory": (_directory, "not a regular file (a directory)"),
    "sparse-1-gib-png": (_sparse_gigabyte, "over the limit of 20971520 bytes"),
}


@pytest.mark.parametrize("attack", sorted(VIEW_IMAGE_ATTACKS))
def test_view_image_sends_only_images(
    attack: str, scripted_model: ScriptedModel, spawn: Spawner, workspace: Path
) -> None:
    make, fragment = VIEW_IMAGE_ATTACKS[attack]
    path = make(workspace)
    client = spawn()
    call_id = scripted_model.function("view_image", {"path": path})
    scripted_model.text("no image then")
    with PingMonitor(client) as monitor:
        _, result = run_codex(client, 60)
    monitor.check()
    assert result_text(result) == "no image then", result
    output = scripted_model.call_output(call_id)
    assert output.startswith(("unable to attach", "unable to read image")), output
    assert fragment in output, output
    assert sent_images(scripted_model) == []
    sent = everything_sent(scripted_model)
    assert SECRET not in sent and "test-key" not in sent
    assert base64.b64encode(b"MOCK_API_KEY").decode()[:12] not in sent
    assert vm_hwm_mb(client.proc.pid) < PEAK_RSS_LIMIT_MB
    assert_no_traceback(client)


def test_view_image_budget_per_turn(scripted_model: ScriptedModel, spawn: Spawner, workspace: Path) -> None:
    for name in ("a.png", "b.png"):
        with open(workspace / name, "wb") as f:
            f.write(PNG_HEAD)
            f.truncate(18 * MiB)
    client = spawn()
    first = scripted_model.function("view_image", {"path": "a.png"})
    second = scripted_model.function("view_image", {"path": "b.png"})
    scripted_model.text("one image")
    _, result = run_codex(client, 60)
    assert result_text(result) == "one image", result
    assert scripted_model.call_output(first) == "attached local image path"
    assert "larger than what is left of the 32 MiB of images one turn may attach" in (
        scripted_model.call_output(second)
    )
    assert len(sent_images(scripted_model)) == 2  # the same image, in the 2 requests after it
    assert vm_hwm_mb(client.proc.pid) < PEAK_RSS_LIMIT_MB


# --- project docs ----------------------------------------------------------------------------


def agents_texts(model: ScriptedModel) -> list[str]:
    """The AGENTS.md part of the context message (the environment is its other part)."""
    first = model.requests[-1 if len(model.requests) == 1 else 1]
    return [
        str(part.get("text"))
        for item in first.items()
        if item.get("role") == "user"
        for part in item.get("content") or []
        if isinstance(part, dict) and str(part.get("text", "")).startswith("# AGENTS.md instructions")
    ]


def doc_call(client: Any, model: ScriptedModel, **arguments: Any) -> tuple[Any, list[str]]:
    """A `codex` call whose model answers at once; returns (request id, warnings shown)."""
    model.text("read the docs")
    with PingMonitor(client) as monitor:
        rid, result = run_codex(client, 60, **arguments)
    monitor.check()
    assert result_text(result) == "read the docs", result
    warnings = [str(w.get("message")) for w in events_of(client, rid, "warning")]
    # The scripted provider's slug is outside the model catalogue, which is warned about too.
    return rid, [w for w in warnings if "model catalogue" not in w]


def test_symlinked_agents_md_pointing_outside(
    scripted_model: ScriptedModel, spawn: Spawner, workspace: Path
) -> None:
    with outside_dir() as outside:
        (outside / "secret.md").write_text(f"{SECRET}\n")
        (workspace / ".git").mkdir()
        (workspace / "AGENTS.md").symlink_to(outside / "secret.md")
        client = spawn()
        _, warnings = doc_call(client, scripted_model)
    assert SECRET not in everything_sent(scripted_model)
    assert any("AGENTS.md points outside the repository" in w for w in warnings), warnings


def test_symlinked_fallback_file_pointing_outside(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner, workspace: Path
) -> None:
    configure(codex_home, scripted_model, extra='project_doc_fallback_filenames = ["CLAUDE.md"]')
    with outside_dir() as outside:
        (outside / "notes.md").write_text(f"{SECRET}\n")
        (workspace / "CLAUDE.md").symlink_to(outside / "notes.md")
        client = spawn()
        _, warnings = doc_call(client, scripted_model)
    assert SECRET not in everything_sent(scripted_model)
    assert any("CLAUDE.md points outside the repository" in w for w in warnings), warnings


def test_symlinked_directory_on_the_way_to_cwd(
    scripted_model: ScriptedModel, spawn: Spawner, workspace: Path
) -> None:
    with outside_dir() as outside:
        (outside / "AGENTS.md").write_text(f"{SECRET}\n")
        (workspace / ".git").mkdir()
        (workspace / "AGENTS.md").write_text("root rules\n")
        (workspace / "sub").symlink_to(outside, target_is_directory=True)
        client = spawn()
        _, warnings = doc_call(client, scripted_model, cwd=str(workspace / "sub"))
    assert SECRET not in everything_sent(scripted_model)
    assert any("points outside the repository" in w for w in warnings), warnings
    assert "root rules" in agents_texts(scripted_model)[0]


def test_agents_md_linked_to_proc_environ(
    scripted_model: ScriptedModel, spawn: Spawner, workspace: Path
) -> None:
    (workspace / "AGENTS.md").symlink_to("/proc/self/environ")
    client = spawn()
    _, warnings = doc_call(client, scripted_model)
    assert "test-key" not in everything_sent(scripted_model)
    assert any("points outside the repository" in w for w in warnings), warnings


def test_agents_md_fifo_is_skipped_without_blocking(
    scripted_model: ScriptedModel, spawn: Spawner, workspace: Path
) -> None:
    os.mkfifo(workspace / "AGENTS.md")
    (workspace / "AGENTS.override.md").mkdir()  # a directory: skipped silently
    client = spawn()
    _, warnings = doc_call(client, scripted_model)
    assert any("AGENTS.md was not read" in w and "FIFO" in w for w in warnings), warnings
    assert not any("AGENTS.override.md" in w for w in warnings), warnings
    assert_alive(client)


def test_sparse_500_mb_agents_md_costs_only_the_budget(
    scripted_model: ScriptedModel, spawn: Spawner, workspace: Path
) -> None:
    with open(workspace / "AGENTS.md", "wb") as f:
        f.write(b"# house rules\n" + b"r" * 40_000)
        f.truncate(500 * MiB)
    client = spawn()
    doc_call(client, scripted_model)
    docs = agents_texts(scripted_model)
    assert len(docs) == 1 and "# house rules" in docs[0]
    assert 32 * 1024 - 100 < docs[0].count("r") <= 32 * 1024
    assert vm_hwm_mb(client.proc.pid) < 100
    assert_no_traceback(client)


def test_symlink_inside_the_repository_is_followed(
    scripted_model: ScriptedModel, spawn: Spawner, workspace: Path
) -> None:
    (workspace / ".git").mkdir()
    (workspace / "docs").mkdir()
    (workspace / "docs" / "agents.md").write_text("shared rules\n")
    (workspace / "AGENTS.md").symlink_to(workspace / "docs" / "agents.md")
    client = spawn()
    _, warnings = doc_call(client, scripted_model)
    assert warnings == []
    assert "shared rules" in agents_texts(scripted_model)[0]
