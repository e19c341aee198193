"""Exec-policy `.rules` files: parsing, errors with positions, matching, loading."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codex_mcp.sandbox.rules import (
    PROMPT_UNDER_NEVER_REASON,
    PrefixRule,
    RuleMatch,
    RulesError,
    RuleSet,
    forbidden_reason,
    load_rules_dir,
    parse_rules,
)

VALID = """\
# Example rules.
SHELLS = ["bash", "zsh"]

prefix_rule(
    pattern = ["git", ["push", "fetch"]],  # alternatives
    decision = "prompt",
    justification = 'talks to the network',
    match = [["git", "push", "origin", "main"], "git fetch --all"],
    not_match = [["git", "status"], "git pull"],
)

prefix_rule(pattern=["git", "reset", "--hard"], decision="forbidden",
            justification=\"\"\"Use `git stash` instead.\"\"\")
prefix_rule(pattern = ["ls"])
prefix_rule(pattern = [SHELLS, "-x"], decision = "forbidden",)
"""


def error_of(text: str, path: str = "t.rules") -> RulesError:
    with pytest.raises(RulesError) as info:
        parse_rules(text, path)
    return info.value


def rules(text: str) -> RuleSet:
    return parse_rules(text, "t.rules")


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def test_parses_every_construct() -> None:
    rs = parse_rules(VALID, "v.rules")
    assert len(rs) == 4
    push, reset, ls, shells = rs.rules
    assert push == PrefixRule((("git",), ("push", "fetch")), "prompt", "talks to the network", "v.rules:4")
    assert reset.decision == "forbidden"
    assert reset.justification == "Use `git stash` instead."
    assert reset.source == "v.rules:12"
    assert ls == PrefixRule((("ls",),), "allow", None, "v.rules:14")
    assert shells.pattern == (("bash", "zsh"), ("-x",))


def test_empty_and_comment_only_files() -> None:
    assert len(rules("")) == 0
    assert len(rules("\n\n  # only a comment\n\t\n")) == 0


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        (r'"a\nb"', "a\nb"),
        (r"'it\'s'", "it's"),
        (r'"tab\there"', "tab\there"),
        (r'"\x41\u00e9\U0001F600"', "Aé\U0001f600"),
        (r'"\101\0"', "A\0"),
        (r'"back\\slash"', "back\\slash"),
        (r'r"raw\n"', "raw\\n"),
        ('"""multi\nline"""', "multi\nline"),
        ("'''q'q'''", "q'q"),
        ('"joined \\\nline"', "joined line"),
        ('""', ""),
    ],
)
def test_string_literals(literal: str, expected: str) -> None:
    rs = rules(f"prefix_rule(pattern=[{literal}])")
    assert rs.rules[0].pattern == ((expected,),)


def test_line_continuation_and_crlf() -> None:
    rs = rules('X = \\\n  ["a"]\r\nprefix_rule(pattern = X)\r\n')
    assert rs.rules[0].pattern == (("a",),)
    assert rs.rules[0].source == "t.rules:3"


def test_variables_as_whole_pattern_and_as_alternatives() -> None:
    rs = rules('P = ["npm", "test"]\nprefix_rule(pattern = P)\nA = ["x", "y"]\nprefix_rule(pattern = [A])')
    assert rs.rules[0].pattern == (("npm",), ("test",))
    assert rs.rules[1].pattern == (("x", "y"),)


def test_host_executable_parses() -> None:
    rs = rules('host_executable(name = "git", paths = ["/usr/bin/git", "~/bin/git"])')
    assert len(rs) == 0
    assert rs.host_executables == {"git": ("/usr/bin/git", "~/bin/git")}


# --------------------------------------------------------------------------------------------
# Errors, with exact positions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("foo()", "1:1", "unknown function 'foo' (expected host_executable or prefix_rule)"),
        ('\n  prefix_rule(pattern=["a"], bogus="x")', "2:30", "unknown argument 'bogus' for prefix_rule"),
        ('prefix_rule(decision="allow")', "1:1", "prefix_rule is missing the required argument 'pattern'"),
        ('prefix_rule(pattern="git")', "1:21", "pattern must be a list, got a string"),
        ("prefix_rule(pattern=[])", "1:21", "pattern cannot be empty"),
        ('prefix_rule(pattern=["a", []])', "1:27", "alternatives list in a pattern cannot be empty"),
        (
            'prefix_rule(pattern=[["a", ["b"]]])',
            "1:28",
            "alternatives in a pattern must be a list of strings",
        ),
        ('prefix_rule(pattern=["a"], decision="deny")', "1:37", "decision must be one of 'allow', 'prompt'"),
        ('prefix_rule(pattern=["a"], decision=["allow"])', "1:37", "decision must be one of"),
        (
            'prefix_rule(pattern=["a"], justification=["x"])',
            "1:42",
            "justification must be a string, got a list",
        ),
        ('prefix_rule(pattern=["a"], justification="  ")', "1:42", "justification cannot be empty"),
        ('prefix_rule(pattern=["a"], pattern=["b"])', "1:28", "duplicate argument 'pattern'"),
        ('prefix_rule(["a"])', "1:13", "positional arguments are not supported"),
        ('prefix_rule(pattern=["a"]) prefix_rule(pattern=["b"])', "1:28", "expected end of line"),
        ('x = "abc\nprefix_rule(pattern=[x])', "1:5", "unterminated string"),
        ('x = """abc\n\n', "1:5", "unterminated string"),
        ('prefix_rule(\n  pattern=["a",\n', "2:11", "unterminated '['"),
        ('prefix_rule(\n  pattern=["a"],\n', "1:12", "unterminated '('"),
        ('prefix_rule(pattern=["a")', "1:25", "expected ',' or ']', found ')'"),
        ('prefix_rule(pattern=["a"] "b")', "1:27", "expected ',' or ')', found a string"),
        ('prefix_rule(pattern=["\\q"])', "1:23", "invalid escape sequence '\\q'"),
        ('prefix_rule(pattern=["\\x4"])', "1:23", "invalid escape sequence '\\x'"),
        ('prefix_rule(pattern=["\\ud800"])', "1:23", "is not a valid code point"),
        ('prefix_rule(pattern=["\\777"])', "1:23", "octal escape"),
        ('prefix_rule(pattern=["a"], decision=1)', "1:37", "unexpected character '1'"),
        ("prefix_rule(pattern=[Y])", "1:22", "undefined name 'Y'"),
        ('X = ["a"]\nX = ["b"]', "2:1", "'X' is already defined"),
        ('prefix_rule = ["a"]', "1:1", "cannot assign to built-in 'prefix_rule'"),
        ('X = prefix_rule(pattern=["a"])', "1:5", "function calls are only allowed as statements"),
        ("prefix_rule", "1:12", "expected '=' or '(' after 'prefix_rule'"),
        (")", "1:1", "expected a statement, found ')'"),
        ('"a"', "1:1", "expected a statement, found a string"),
        ("x = ", "1:5", "expected a string or a list, found end of file"),
        ("x = [" + "[" * 70 + "]" * 71, "1:69", "lists are nested too deeply"),
        ('prefix_rule(pattern=["a"], match="a")', "1:34", "match must be a list of examples, got a string"),
        ('prefix_rule(pattern=["a"], match=[[["a"]]])', "1:36", "a match example must be a list of strings"),
        ('prefix_rule(pattern=["a"], match=[""])', "1:35", "match example is empty"),
        ('prefix_rule(pattern=["a"], match=[\'a "b\'])', "1:35", "match example cannot be split into words"),
        ('host_executable(name="git")', "1:1", "host_executable is missing the required argument 'paths'"),
        ('host_executable(name="a/b", paths=[])', "1:22", "name must be a bare program name"),
        ('host_executable(name="git", paths=["git"])', "1:36", "path 'git' must be absolute"),
        ('host_executable(name="git", paths=["/usr/bin/gitx"])', "1:36", "must be absolute"),
        ('host_executable(name="git", paths=["/bin/git"], x="y")', "1:49", "unknown argument 'x'"),
    ],
)
def test_errors_name_file_line_and_column(text: str, where: str, message: str) -> None:
    err = error_of(text, "dir/t.rules")
    line, column = (int(part) for part in where.split(":"))
    assert (err.path, err.line, err.column) == ("dir/t.rules", line, column), str(err)
    assert message in err.message
    assert str(err) == f"dir/t.rules:{line}:{column}: {err.message}"


def test_match_examples_are_validated_at_the_rules_line() -> None:
    text = 'prefix_rule(pattern=["ls"])\n\nprefix_rule(\n  pattern=["git", "push"],\n  match=["git pull"],\n)'
    err = error_of(text)
    assert (err.line, err.column) == (3, 1)
    assert err.message == "match example 'git pull' does not match pattern ['git', 'push']"


def test_not_match_examples_are_validated() -> None:
    err = error_of('prefix_rule(pattern=["git", ["push", "fetch"]], not_match=[["git", "fetch", "x y"]])')
    assert err.message == "not_match example \"git fetch 'x y'\" matches pattern ['git', ['push', 'fetch']]"


def test_examples_may_use_basename_and_alternatives() -> None:
    rules(
        'prefix_rule(pattern=["git", ["a", "b"]], match=["/usr/bin/git b", ["git", "a"]],\n'
        '            not_match=["./git a"])'
    )


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------


def decision(rs: RuleSet, argv: list[str]) -> str | None:
    match = rs.evaluate(argv)
    return None if match is None else match.decision


def test_prefix_and_alternatives() -> None:
    rs = rules('prefix_rule(pattern=["gh", "pr", ["view", "list"]], decision="prompt")')
    assert decision(rs, ["gh", "pr", "view", "7888"]) == "prompt"
    assert decision(rs, ["gh", "pr", "list"]) == "prompt"
    assert decision(rs, ["gh", "pr"]) is None  # shorter than the pattern
    assert decision(rs, ["gh", "pr", "--repo", "x", "view"]) is None  # an exact prefix only
    assert decision(rs, ["gh", "pr", "merge"]) is None
    assert decision(rs, []) is None


def test_basename_matching_for_absolute_paths_only() -> None:
    rs = rules('prefix_rule(pattern=["git", "status"])')
    assert decision(rs, ["/usr/bin/git", "status"]) == "allow"
    assert decision(rs, ["/opt/homebrew/bin/git", "status"]) == "allow"
    assert decision(rs, ["./git", "status"]) is None
    assert decision(rs, ["bin/git", "status"]) is None
    assert decision(rs, ["/"]) is None


def test_exact_first_token_wins_over_basename_fallback() -> None:
    rs = rules(
        'prefix_rule(pattern=["/usr/bin/git"], decision="prompt")\n'
        'prefix_rule(pattern=["git"], decision="forbidden")'
    )
    assert decision(rs, ["/usr/bin/git", "push"]) == "prompt"
    assert decision(rs, ["/bin/git", "push"]) == "forbidden"


def test_host_executable_restricts_basename_fallback() -> None:
    text = 'prefix_rule(pattern=["git"])\nhost_executable(name="git", paths=["/usr/bin/git", "~/bin/git"])'
    rs = parse_rules(text, "t.rules")
    assert decision(rs, ["/usr/bin/git", "log"]) == "allow"
    assert decision(rs, ["/usr/bin/../bin/git", "log"]) == "allow"
    assert decision(rs, ["/tmp/evil/git", "log"]) is None
    assert decision(rs, ["git", "log"]) == "allow"
    with_home = RuleSet(rs.rules, rs.host_executables, home="/home/me")
    assert decision(with_home, ["/home/me/bin/git"]) == "allow"
    assert decision(rs, ["/home/me/bin/git"]) is None  # no home known: `~/` never matches


def test_strictest_decision_wins() -> None:
    rs = rules(
        'prefix_rule(pattern=["git"])\n'
        'prefix_rule(pattern=["git", "push"], decision="forbidden", justification="no")\n'
        'prefix_rule(pattern=["git", "push", "--dry-run"], decision="prompt")\n'
    )
    assert decision(rs, ["git", "log"]) == "allow"
    match = rs.evaluate(["git", "push", "--dry-run"])
    assert match is not None
    assert match.decision == "forbidden"
    assert match.rule.source == "t.rules:2"
    assert match.command == ("git", "push", "--dry-run")


def test_first_rule_wins_among_equals() -> None:
    rs = rules(
        'prefix_rule(pattern=["a"], decision="prompt")\nprefix_rule(pattern=["a", "b"], decision="prompt")'
    )
    match = rs.evaluate(["a", "b"])
    assert match is not None
    assert match.rule.source == "t.rules:1"


# --------------------------------------------------------------------------------------------
# Shell scripts
# --------------------------------------------------------------------------------------------

SCRIPT_RULES = (
    'prefix_rule(pattern=["ls"])\n'
    'prefix_rule(pattern=["git", "status"])\n'
    'prefix_rule(pattern=["rm"], decision="forbidden")\n'
    'prefix_rule(pattern=["curl"], decision="prompt")\n'
    'prefix_rule(pattern=[["bash", "/bin/bash"], "-lc"], decision="prompt")\n'
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["bash", "-lc", "ls && git status"], "allow"),
        (["zsh", "-c", "ls | git status; ls"], "allow"),
        (["sh", "-c", "ls -la"], "allow"),
        (["/bin/bash", "-lc", "ls || rm -rf /"], "forbidden"),
        (["bash", "-lc", "ls && curl example.com"], "prompt"),
        (["bash", "-lc", "curl x | rm y"], "forbidden"),
        # One sub-command no rule knows: an allow cannot vouch for it; the policy decides.
        (["bash", "-lc", "ls && make"], None),
        # ... but a stricter rule still applies.
        (["bash", "-lc", "make && curl x"], "prompt"),
        # Unsafe syntax: the argv is evaluated as-is, so shell rules apply.
        (["bash", "-lc", "ls > out.txt"], "prompt"),
        (["bash", "-lc", "ls $HOME"], "prompt"),
        (["bash", "-lc", "FOO=1 ls"], "prompt"),
        (["bash", "-lc", "ls &&"], "prompt"),
        (["zsh", "-lc", "rm x > y"], None),
        # A shell outside the trusted directories is not unwrapped (but is matched as-is).
        (["./bash", "-lc", "ls"], None),
        (["/tmp/x/bash", "-lc", "ls"], "prompt"),
        (["bash", "-e", "ls"], None),
    ],
)
def test_shell_scripts(argv: list[str], expected: str | None) -> None:
    assert decision(rules(SCRIPT_RULES), argv) == expected


def test_script_match_reports_the_sub_command() -> None:
    match = rules(SCRIPT_RULES).evaluate(["bash", "-lc", "ls && rm -rf build"])
    assert match is not None
    assert match.command == ("rm", "-rf", "build")


def test_messages() -> None:
    rs = rules('prefix_rule(pattern=["rm"], decision="forbidden")\nprefix_rule(pattern=["dd"], '
               'decision="forbidden", justification="Use cp.")')  # fmt: skip
    rm, dd = rs.evaluate(["rm", "-rf", "a b"]), rs.evaluate(["dd"])
    assert isinstance(rm, RuleMatch)
    assert isinstance(dd, RuleMatch)
    assert forbidden_reason(["rm", "-rf", "a b"], rm) == "`rm -rf 'a b'` rejected: blocked by policy"
    assert forbidden_reason(["dd"], dd) == "`dd` rejected: Use cp."
    assert PROMPT_UNDER_NEVER_REASON == "approval required by policy, but AskForApproval is set to Never"


# --------------------------------------------------------------------------------------------
# Loading a directory
# --------------------------------------------------------------------------------------------


def test_missing_dir_is_empty(tmp_path: Path) -> None:
    assert len(load_rules_dir(tmp_path / "nope")) == 0


def test_loads_rules_files_sorted_by_name(tmp_path: Path) -> None:
    (tmp_path / "b.rules").write_text('prefix_rule(pattern=["b"], decision="prompt")\n')
    (tmp_path / "a.rules").write_text('prefix_rule(pattern=["a"])\nhost_executable(name="a", paths=["/x/a"])')
    (tmp_path / "c.txt").write_text("not rules")
    (tmp_path / "d.rules").mkdir()
    rs = load_rules_dir(tmp_path, home="/h")
    assert [r.source for r in rs.rules] == [f"{tmp_path / 'a.rules'}:1", f"{tmp_path / 'b.rules'}:1"]
    assert rs.host_executables == {"a": ("/x/a",)}
    assert rs.home == "/h"


def test_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text('prefix_rule(pattern=["a"])\n')
    (tmp_path / "z.rules").write_text('\n\nprefix_rule(pattern=["a"], decision="nope")\n')
    with pytest.raises(RulesError) as info:
        load_rules_dir(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'z.rules'}:3:37: decision must be one of")


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_bytes(b'# ok\nx = "\xff"\n')
    with pytest.raises(RulesError) as info:
        load_rules_dir(tmp_path)
    assert str(info.value) == f"{tmp_path / 'a.rules'}:2:6: rules file is not valid UTF-8"


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "dangling.rules").symlink_to(tmp_path / "missing")
    with pytest.raises(RulesError) as info:
        load_rules_dir(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'dangling.rules'}:1:1: cannot read rules file")


def test_rules_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "rules").write_text("")
    with pytest.raises(RulesError, match="not a directory"):
        load_rules_dir(tmp_path / "rules")


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_SYNTAX = st.sampled_from([*"()[],=\"'#\\\n rR_xa0", '"""', "'''", "prefix_rule", "pattern", "\\x"])


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_only_raises_rules_error(text: str) -> None:
    try:
        parse_rules(text, "f.rules")
    except RulesError as err:
        assert err.line >= 1
        assert err.column >= 1


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutations_of_a_valid_file_only_raise_rules_error(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = data.draw(st.one_of(_SYNTAX, st.text(max_size=3)))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 20)) :]
        else:
            text = text[:at] + piece + text[at + len(piece) :]
    try:
        rs = parse_rules(text, "f.rules")
    except RulesError as err:
        assert 1 <= err.line <= text.count("\n") + 1
        assert err.column >= 1
    else:
        for rule in rs.rules:
            assert rule.pattern and all(rule.pattern)


_ARG = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["git", "/usr/bin/git", "/", "ls", "rm", "push", "bash", "-lc", "-c", "/bin/sh", ""]),
)
_SCRIPT = st.lists(st.sampled_from(["ls", "git", "status", "&&", "||", ";", "|", "'", '"', "$", "rm", " "]))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_ARG, max_size=6), st.tuples(st.sampled_from(["bash", "zsh", "sh"]),
       st.sampled_from(["-c", "-lc"]), st.one_of(st.text(), _SCRIPT.map("".join))).map(list)))  # fmt: skip
def test_evaluate_never_raises(argv: list[str]) -> None:
    rs = parse_rules(VALID + SCRIPT_RULES + 'host_executable(name="git", paths=["~/g/git"])', "v.rules")
    match = RuleSet(rs.rules, rs.host_executables, home="/h").evaluate(argv)
    assert match is None or match.decision in ("allow", "prompt", "forbidden")
