"""Detecting apply_patch invocations inside shell/exec commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp.agent.apply_patch import (
    AddFile,
    DeleteFile,
    HeredocError,
    ImplicitInvocationError,
    ParseError,
    extract_apply_patch,
)

CWD = Path("/work/project")
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"


def heredoc(prefix: str = "", opener: str = "<<'EOF'", closer: str = "EOF") -> str:
    return f"{prefix}apply_patch {opener}\n{PATCH}\n{closer}\n"


@pytest.mark.parametrize("command", ["apply_patch", "applypatch"])
def test_direct_invocation(command: str) -> None:
    found = extract_apply_patch([command, PATCH], CWD)
    assert found is not None and found.ok
    assert found.patch == PATCH == found.patch_text
    assert found.cwd == CWD
    assert found.parsed is not None
    assert found.parsed.hunks == (AddFile("hello.txt", "hi\n"),)


def test_direct_invocation_with_heredoc_text_is_lenient() -> None:
    found = extract_apply_patch(["apply_patch", f"<<'EOF'\n{PATCH}\nEOF\n"], CWD)
    assert found is not None and found.ok


def test_direct_invocation_with_bad_patch_reports_parse_error() -> None:
    found = extract_apply_patch(["apply_patch", "not a patch"], CWD)
    assert found is not None and not found.ok
    assert isinstance(found.error, ParseError)
    assert str(found.error) == "invalid patch: The first line of the patch must be '*** Begin Patch'"


@pytest.mark.parametrize(
    "argv",
    [
        ["bash", "-lc", heredoc()],
        ["bash", "-c", heredoc()],
        ["/bin/bash", "-lc", heredoc()],
        ["/usr/bin/zsh", "-lc", heredoc()],
        ["sh", "-c", heredoc()],
        ["BASH", "-lc", heredoc()],
        ["bash", "-lc", heredoc(opener="<<EOF")],
        ["bash", "-lc", heredoc(opener='<<"EOF"')],
        ["bash", "-lc", heredoc(opener="<< 'EOF'")],
        ["bash", "-lc", heredoc(opener="<<'PATCH'", closer="PATCH")],
        ["bash", "-lc", heredoc().replace("apply_patch", "applypatch")],
        ["bash", "-lc", "\n  " + heredoc() + "\n\n"],
        ["bash", "-lc", heredoc()[:-1]],  # no newline after the closing delimiter
        ["pwsh", "-Command", heredoc()],
        ["powershell.exe", "-NoProfile", "-Command", heredoc()],
        ["C:\\Windows\\System32\\cmd.exe", "/c", heredoc()],
    ],
)
def test_shell_heredoc_forms(argv: list[str]) -> None:
    found = extract_apply_patch(argv, CWD)
    assert found is not None and found.ok, found
    assert found.patch == PATCH
    assert found.cwd == CWD


def test_heredoc_body_trailing_newlines_trimmed() -> None:
    found = extract_apply_patch(["bash", "-lc", f"apply_patch <<'EOF'\n{PATCH}\n\n\nEOF\n"], CWD)
    assert found is not None and found.patch == PATCH


def test_dash_heredoc_strips_tabs() -> None:
    body = "\n".join("\t" + line for line in PATCH.split("\n"))
    found = extract_apply_patch(["bash", "-lc", f"apply_patch <<-EOF\n{body}\n\tEOF\n"], CWD)
    assert found is not None and found.ok and found.patch == PATCH


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("cd sub && ", CWD / "sub"),
        ("cd sub&&", CWD / "sub"),
        ("cd 'dir with spaces' && ", CWD / "dir with spaces"),
        ('cd "quoted dir" && ', CWD / "quoted dir"),
        ("cd /abs/elsewhere && ", Path("/abs/elsewhere")),
        ("cd ../up && ", CWD / "../up"),
    ],
)
def test_cd_prefix_changes_cwd(prefix: str, expected: Path) -> None:
    found = extract_apply_patch(["bash", "-lc", heredoc(prefix)], CWD)
    assert found is not None and found.ok
    assert found.cwd == expected
    assert found.patch == PATCH


@pytest.mark.parametrize(
    "argv",
    [
        ["ls", "-la"],
        ["apply_patch"],
        ["apply_patch", PATCH, "extra"],
        ["/usr/bin/apply_patch", PATCH],
        ["bash", "-lc", "echo hello"],
        ["bash", "-x", heredoc()],
        ["fish", "-c", heredoc()],
        ["bash", "-lc", heredoc() + "echo done\n"],
        ["bash", "-lc", "echo hi; " + heredoc()],
        ["bash", "-lc", heredoc().replace("<<'EOF'\n", "<<'EOF' | cat\n", 1)],
        ["bash", "-lc", heredoc().replace("<<'EOF'\n", "<<'EOF' extra\n", 1)],
        ["bash", "-lc", heredoc("cd a || ")],
        ["bash", "-lc", heredoc("cd a ; ")],
        ["bash", "-lc", heredoc("cd a b && ")],
        ["bash", "-lc", heredoc("cd $HOME && ")],
        ["bash", "-lc", heredoc('cd "$HOME" && ')],
        ["bash", "-lc", heredoc("mkdir a && ")],
        ["bash", "-lc", f"apply_patch '{PATCH}'"],
        ["bash", "-lc", f"apply_patch <<<'{PATCH}'"],
        ["bash", "-lc", "apply_patchx <<'EOF'\nx\nEOF\n"],
        ["pwsh", "-NoProfile", heredoc()],
        ["cmd", "/k", heredoc()],
        ["bash", "-lc", "echo '*** Begin Patch'"],
    ],
)
def test_not_an_apply_patch_invocation(argv: list[str]) -> None:
    assert extract_apply_patch(argv, CWD) is None


@pytest.mark.parametrize(
    "argv",
    [[PATCH], ["bash", "-lc", PATCH], ["sh", "-c", f"<<'EOF'\n{PATCH}\nEOF"]],
)
def test_implicit_invocation(argv: list[str]) -> None:
    found = extract_apply_patch(argv, CWD)
    assert found is not None and not found.ok
    assert isinstance(found.error, ImplicitInvocationError)
    assert str(found.error) == (
        'patch detected without explicit call to apply_patch. Rerun as ["apply_patch", "<patch>"]'
    )


def test_unterminated_heredoc_is_reported() -> None:
    found = extract_apply_patch(["bash", "-lc", f"apply_patch <<'EOF'\n{PATCH}\n"], CWD)
    assert found is not None and not found.ok
    assert isinstance(found.error, HeredocError)
    assert "EOF" in str(found.error)


def test_heredoc_with_invalid_patch_reports_parse_error() -> None:
    script = "apply_patch <<'EOF'\n*** Begin Patch\n*** Update File: x\n*** End Patch\nEOF\n"
    found = extract_apply_patch(["bash", "-lc", script], CWD)
    assert found is not None and not found.ok
    assert str(found.error) == "invalid hunk at line 2, Update file hunk for path 'x' is empty"


def test_heredoc_with_cd_and_delete() -> None:
    script = "cd app && apply_patch <<'EOF'\n*** Begin Patch\n*** Delete File: old.py\n*** End Patch\nEOF"
    found = extract_apply_patch(["bash", "-lc", script], CWD)
    assert found is not None and found.parsed is not None
    assert found.parsed.hunks == (DeleteFile("old.py"),)
    assert found.cwd == CWD / "app"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=0, max_size=4))
def test_fuzz_never_raises(argv: list[str]) -> None:
    extract_apply_patch(argv, CWD)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.sampled_from(["bash", "sh", "pwsh", "cmd"]))
def test_fuzz_scripts_never_raise(script: str, shell: str) -> None:
    flag = {"bash": "-lc", "sh": "-c", "pwsh": "-Command", "cmd": "/c"}[shell]
    for text in (script, "apply_patch <<'EOF'\n" + script, "cd x && apply_patch <<EOF\n" + script + "\nEOF"):
        extract_apply_patch([shell, flag, text], CWD)
