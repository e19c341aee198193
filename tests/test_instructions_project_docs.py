"""Project docs discovery: which AGENTS.md files are read, in what order, within what budget,
and which are skipped (with a warning) because they are not the repository's own files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_mcp.agent.config.model import Config
from codex_mcp.agent.context_items import thread_context_items
from codex_mcp.agent.instructions import adiscover_project_docs, discover_project_docs


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_from_the_root_down_to_the_cwd(repo: Path) -> None:
    write(repo / "AGENTS.md", "root\n")
    write(repo / "a" / "AGENTS.md", "middle\n")
    write(repo / "a" / "b" / "c" / "AGENTS.md", "leaf\n")
    write(repo.parent / "AGENTS.md", "above the repository\n")
    docs = discover_project_docs(repo / "a" / "b" / "c", 32 * 1024)
    assert docs.text == "root\n\nmiddle\n\nleaf"
    assert docs.warnings == []


def test_without_a_git_root_only_the_cwd(tmp_path: Path) -> None:
    write(tmp_path / "AGENTS.md", "parent\n")
    write(tmp_path / "cwd" / "AGENTS.md", "here\n")
    assert discover_project_docs(tmp_path / "cwd", 1000).text == "here"


def test_git_file_marks_a_root_too(tmp_path: Path) -> None:
    write(tmp_path / "wt" / ".git", "gitdir: elsewhere\n")
    write(tmp_path / "wt" / "AGENTS.md", "worktree root\n")
    assert discover_project_docs(tmp_path / "wt" / "sub", 1000).text == "worktree root"


def test_names_in_order_first_existing_wins(repo: Path) -> None:
    write(repo / "AGENTS.md", "plain\n")
    write(repo / "CLAUDE.md", "fallback\n")
    assert discover_project_docs(repo, 1000, ("CLAUDE.md",)).text == "plain"
    write(repo / "AGENTS.override.md", "override\n")
    assert discover_project_docs(repo, 1000, ("CLAUDE.md",)).text == "override"
    (repo / "AGENTS.override.md").unlink()
    (repo / "AGENTS.md").unlink()
    assert discover_project_docs(repo, 1000, ("CLAUDE.md",)).text == "fallback"
    assert discover_project_docs(repo, 1000).text is None


def test_the_budget_truncates_and_is_shared(repo: Path) -> None:
    write(repo / "AGENTS.md", "a" * 60)
    write(repo / "sub" / "AGENTS.md", "b" * 60)
    assert discover_project_docs(repo / "sub", 100).text == "a" * 60 + "\n\n" + "b" * 40
    assert discover_project_docs(repo / "sub", 50).text == "a" * 50
    assert discover_project_docs(repo / "sub", 0).text is None


def test_a_sparse_huge_file_costs_only_the_budget(repo: Path) -> None:
    with open(repo / "AGENTS.md", "wb") as f:
        f.write(b"head ")
        f.truncate(4 * 1024 * 1024 * 1024)  # 4 GiB of holes
    docs = discover_project_docs(repo, 32 * 1024)
    assert docs.text is not None and docs.text.startswith("head") and len(docs.text) <= 32 * 1024


def test_invalid_utf8_and_empty_files(repo: Path) -> None:
    (repo / "AGENTS.md").write_bytes(b"ok \xff\xfe bytes\n")
    assert discover_project_docs(repo, 1000).text == "ok  bytes"
    (repo / "AGENTS.md").write_bytes(b"  \n")
    write(repo / "CLAUDE.md", "not used: the empty AGENTS.md came first\n")
    assert discover_project_docs(repo, 1000, ("CLAUDE.md",)).text is None


def test_links_inside_the_repository_are_followed(repo: Path) -> None:
    write(repo / "docs" / "agents.md", "shared\n")
    (repo / "AGENTS.md").symlink_to("docs/agents.md")
    docs = discover_project_docs(repo, 1000)
    assert (docs.text, docs.warnings) == ("shared", [])


def test_links_out_of_the_repository_are_skipped_with_a_warning(repo: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "outside" / "secret.md", "secret\n")
    (repo / "AGENTS.md").symlink_to(secret)
    write(repo / "CLAUDE.md", "the next name is tried\n")
    docs = discover_project_docs(repo, 1000, ("CLAUDE.md",))
    assert docs.text == "the next name is tried"
    (warning,) = docs.warnings
    assert "AGENTS.md points outside the repository" in warning and str(secret) in warning


def test_a_symlinked_directory_out_of_the_repository(repo: Path, tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "AGENTS.md", "elsewhere\n")
    write(repo / "AGENTS.md", "root\n")
    (repo / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    docs = discover_project_docs(repo / "sub", 1000)
    assert docs.text == "root"
    assert len(docs.warnings) == 1 and "points outside the repository" in docs.warnings[0]


def test_a_repository_reached_through_a_link_is_still_inside(tmp_path: Path, repo: Path) -> None:
    write(repo / "AGENTS.md", "via link\n")
    (tmp_path / "alias").symlink_to(repo, target_is_directory=True)
    docs = discover_project_docs(tmp_path / "alias", 1000)
    assert (docs.text, docs.warnings) == ("via link", [])


def test_special_files_are_skipped(repo: Path) -> None:
    os.mkfifo(repo / "AGENTS.override.md")
    (repo / "AGENTS.md").mkdir()
    write(repo / "CLAUDE.md", "fallback\n")
    docs = discover_project_docs(repo, 1000, ("CLAUDE.md",))
    assert docs.text == "fallback"
    (warning,) = docs.warnings  # the FIFO; a directory is skipped silently
    assert "AGENTS.override.md was not read" in warning and "FIFO" in warning


def test_links_to_pseudo_files_are_skipped(repo: Path) -> None:
    (repo / "AGENTS.md").symlink_to("/proc/self/environ")
    docs = discover_project_docs(repo, 1000)
    assert docs.text is None and "points outside the repository" in docs.warnings[0]


@pytest.mark.anyio
async def test_async_discovery_and_the_context_message(repo: Path) -> None:
    write(repo / "AGENTS.md", "be careful\n")
    docs = await adiscover_project_docs(repo, 1000)
    config = Config(codex_home=repo / "home", cwd=repo)
    items = thread_context_items(config, personal_instructions="mine", project_docs=docs.raw_text, env={})
    texts = [part["text"] for item in items for part in item["content"]]
    # The person's own instructions, then the project's file as written (newline kept).
    assert (
        f"# AGENTS.md instructions for {repo}\n\n<INSTRUCTIONS>\nmine\n\n--- project-doc ---\n\n"
        "be careful\n\n</INSTRUCTIONS>" in texts
    )
    assert [i["role"] for i in items] == ["developer", "user"]
    assert all(i["id"].startswith("msg_") for i in items)
