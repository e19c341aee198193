"""Base instructions per model family, the person's global AGENTS.md, and the order in which
overrides replace the family prompt."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from codex_mcp.agent.families import FamilyOverrides, resolve_family
from codex_mcp.agent.instructions import (
    compose_instructions,
    discover_project_docs,
    family_instructions,
    read_personal_instructions,
    resolve_base_instructions,
)

SLUGS = [
    "gpt-5.5",
    "gpt-5.4",
    "gpt-5.4-mini",
    "gpt-5.2",
    "gpt-5.3-codex",
    "gpt-5.1-codex-max",
    "gpt-5-codex",
    "gpt-5",
    "o3",
    "codex-mini-latest",
    "gpt-oss-20b",
    "mock-model",
]

TOPICS = {
    "autonomy": re.compile(r"until|finish", re.I),
    "planning": re.compile(r"update_plan"),
    "agents_md": re.compile(r"AGENTS\.md"),
    "escalation": re.compile(r"require_escalated"),
    "validation": re.compile(r"test", re.I),
    "review": re.compile(r"review", re.I),
    "formatting": re.compile(r"backticks"),
    "destructive git": re.compile(r"git reset --hard"),
}


@pytest.mark.parametrize("slug", SLUGS)
def test_every_family_prompt_is_complete(slug: str) -> None:
    family = resolve_family(slug)
    text = family_instructions(family)
    assert "{{" not in text and "}}" not in text, "an unresolved placeholder"
    assert text.endswith("\n") and "\n\n\n" not in text
    for topic, pattern in TOPICS.items():
        assert pattern.search(text), f"{slug}: no {topic} guidance"
    low, high = (5_000, 9_000) if family.instructions == "compact" else (10_000, 20_000)
    assert low <= len(text) <= high, (slug, len(text))


@pytest.mark.parametrize(
    ("slug", "overrides", "present", "absent"),
    [
        ("gpt-5.5", None, ["exec_command", "write_stdin", "apply_patch` tool"], ["shell_command`"]),
        ("gpt-5.5", FamilyOverrides(unified_exec=False), ["shell_command"], ["write_stdin"]),
        ("gpt-5-codex", None, ["shell_command", "apply_patch` tool"], ["write_stdin", "heredoc"]),
        ("o3", None, ['["bash", "-lc"', "apply_patch <<'PATCH'", "heredoc"], ["exec_command", "write_stdin"]),
        ("mock-model", None, ["exec_command", "apply_patch` tool"], ["apply_patch <<'PATCH'", "heredoc"]),
        ("codex-mini-latest", None, ["built-in local shell", "apply_patch <<'PATCH'"], ["exec_command"]),
        ("gpt-oss-20b", None, ["`input` string", "*** Begin Patch"], ["heredoc"]),
    ],
)
def test_prompts_describe_the_tools_the_family_is_offered(
    slug: str, overrides: FamilyOverrides | None, present: list[str], absent: list[str]
) -> None:
    text = family_instructions(resolve_family(slug, overrides))
    for needle in present:
        assert needle in text, (slug, needle)
    for needle in absent:
        assert needle not in text, (slug, needle)


def test_a_session_serving_another_shell_tool_gets_matching_guidance() -> None:
    family = resolve_family("gpt-5.5")
    text = family_instructions(family, shell="shell_command")
    assert "shell_command" in text and "write_stdin" not in text


def test_families_get_distinct_prompts() -> None:
    kinds = {resolve_family(s).instructions: family_instructions(resolve_family(s)) for s in SLUGS}
    assert set(kinds) == {"frontier", "codex", "compact", "classic"}
    assert len(set(kinds.values())) == 4


def test_a_family_without_tools_to_edit_or_run_says_so() -> None:
    text = compose_instructions("codex", "none", "none")
    assert "No command tool is available" in text and "apply_patch <<" not in text


def test_override_order() -> None:
    family = resolve_family("gpt-5.5")
    own = family_instructions(family)
    assert resolve_base_instructions(family) == own
    assert resolve_base_instructions(family, config_instructions="  Mine.\n") == "Mine."
    assert resolve_base_instructions(family, config_instructions=" \n") == own
    assert resolve_base_instructions(family, override="FILE", config_instructions="Mine.") == "FILE"


# --- the person's own AGENTS.md ------------------------------------------------------------


def test_personal_instructions_prefer_the_override_file(tmp_path: Path) -> None:
    assert read_personal_instructions(tmp_path) is None
    (tmp_path / "AGENTS.md").write_text("  Global rule.\n\n")
    assert read_personal_instructions(tmp_path) == "Global rule."
    (tmp_path / "AGENTS.override.md").write_text("Override.\n")
    assert read_personal_instructions(tmp_path) == "Override."
    (tmp_path / "AGENTS.override.md").write_text("   \n")
    assert read_personal_instructions(tmp_path) is None  # the first existing file decides


def test_personal_instructions_are_read_bounded(tmp_path: Path) -> None:
    big = tmp_path / "AGENTS.md"
    with open(big, "wb") as fh:
        fh.write(b"head ")
        fh.truncate(1 << 40)  # a sparse terabyte
    text = read_personal_instructions(tmp_path, limit=1024)
    assert text is not None and text.startswith("head") and len(text) <= 1024


def test_personal_instructions_never_block_or_read_devices(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "AGENTS.override.md")
    assert read_personal_instructions(tmp_path) is None
    os.unlink(tmp_path / "AGENTS.override.md")
    os.symlink("/dev/zero", tmp_path / "AGENTS.md")
    assert read_personal_instructions(tmp_path) is None
    os.unlink(tmp_path / "AGENTS.md")
    (tmp_path / "AGENTS.md").mkdir()
    assert read_personal_instructions(tmp_path) is None


def test_project_docs_raw_text_keeps_each_file_as_written(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "AGENTS.md").write_text("Root doc line.\n\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "AGENTS.md").write_text("Sub doc line.\n")
    (sub / "blank").mkdir()
    (sub / "blank" / "AGENTS.md").write_text("  \n")
    docs = discover_project_docs(sub, 1000)
    assert docs.raw_text == "Root doc line.\n\n\n\nSub doc line.\n"
    assert docs.text == "Root doc line.\n\nSub doc line."
    assert discover_project_docs(sub / "blank", 1000).raw_text == "Root doc line.\n\n\n\nSub doc line.\n"
