"""Exec-policy rules: `$CODEX_HOME/rules/*.rules` files of `prefix_rule(...)` statements.

A rule matches a command when its `pattern` is a prefix of the command's argv (each pattern
element is one token or a list of alternative tokens).  Rules decide before the approval
policy: `allow` runs without asking, `prompt` always asks, `forbidden` rejects.  When several
rules match, the strictest decision wins (forbidden > prompt > allow).

For `bash|sh|zsh -c|-lc SCRIPT`, a script made only of plain words joined by `&&`, `||`, `;`
and `|` is evaluated command by command; any other script (redirections, variables, globs,
`NAME=value` prefixes, ...) is evaluated as the argv it is.  An `allow` only counts when every
command of the script is matched by some rule; otherwise the approval policy decides.

Everything here is pure except `load_rules_dir`, which reads the files.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from codex_mcp.bounded_read import read_regular_file
from codex_mcp.sandbox.rules_parse import Call, RulesError, Value, parse_calls
from codex_mcp.sandbox.safe_commands import split_simple_script

__all__ = [
    "DECISIONS",
    "FORBIDDEN_DEFAULT_REASON",
    "PROMPT_UNDER_NEVER_REASON",
    "Decision",
    "PrefixRule",
    "RuleMatch",
    "RuleSet",
    "RulesError",
    "forbidden_reason",
    "load_rules_dir",
    "parse_rules",
]

Decision = Literal["allow", "prompt", "forbidden"]
DECISIONS: tuple[Decision, ...] = ("allow", "prompt", "forbidden")
_STRICTNESS: dict[str, int] = {"allow": 0, "prompt": 1, "forbidden": 2}

# Texts Codex gives the model: a forbidden command, and a prompt rule under approval "never".
FORBIDDEN_DEFAULT_REASON = "blocked by policy"
PROMPT_UNDER_NEVER_REASON = "approval required by policy, but AskForApproval is set to Never"

_FUNCTIONS = frozenset(["prefix_rule", "host_executable"])
_PREFIX_RULE_ARGS = frozenset(["pattern", "decision", "justification", "match", "not_match"])
_HOST_EXECUTABLE_ARGS = frozenset(["name", "paths"])
_SHELLS = frozenset(["bash", "sh", "zsh"])
_SHELL_FLAGS = frozenset(["-c", "-lc"])
# A shell wrapper is only unwrapped when the shell is a bare name or lives in one of these.
_TRUSTED_BIN_DIRS = frozenset(["/bin", "/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"])
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class PrefixRule:
    """One `prefix_rule`; `pattern[i]` holds the alternatives accepted for argv[i]."""

    pattern: tuple[tuple[str, ...], ...]
    decision: Decision
    justification: str | None
    source: str  # "file:line"

    def matches(self, argv: Sequence[str]) -> bool:
        """Whether this rule alone matches argv (exactly, or by argv[0]'s basename when argv[0]
        is an absolute path), ignoring any `host_executable` restrictions."""
        return _prefix_matches(self.pattern, argv) or _prefix_matches(self.pattern, _by_basename(argv))


@dataclass(frozen=True)
class RuleMatch:
    """The deciding rule; `command` is the argv (or the script's sub-command) it matched."""

    decision: Decision
    rule: PrefixRule
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """The rules of one or more files, in load order.

    `host_executables` maps a program name to the absolute paths allowed to resolve to it by
    basename (`~/` is expanded with `home`); a name without an entry resolves from any path."""

    rules: tuple[PrefixRule, ...] = ()
    host_executables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    home: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "host_executables", {k: tuple(v) for k, v in self.host_executables.items()})

    def __len__(self) -> int:
        return len(self.rules)

    def merged(self, other: RuleSet) -> RuleSet:
        """This set followed by `other` (host-executable paths are unioned)."""
        hosts = {name: tuple(paths) for name, paths in self.host_executables.items()}
        for name, paths in other.host_executables.items():
            hosts[name] = hosts.get(name, ()) + tuple(p for p in paths if p not in hosts.get(name, ()))
        return RuleSet(self.rules + other.rules, hosts, self.home or other.home)

    def evaluate(self, argv: Sequence[str]) -> RuleMatch | None:
        """The strictest matching rule for argv, or None when the approval policy decides."""
        best: RuleMatch | None = None
        unmatched = False
        for command in _commands_of(tuple(argv)):
            matched = self._matching_rules(command)
            if not matched:
                unmatched = True
            for rule in matched:
                if best is None or _STRICTNESS[rule.decision] > _STRICTNESS[best.decision]:
                    best = RuleMatch(rule.decision, rule, command)
        if best is None or (unmatched and best.decision == "allow"):
            return None
        return best

    def _matching_rules(self, command: tuple[str, ...]) -> list[PrefixRule]:
        exact = [rule for rule in self.rules if _prefix_matches(rule.pattern, command)]
        if exact or not self._may_resolve(command[0]):
            return exact
        renamed = _by_basename(command)
        return [rule for rule in self.rules if _prefix_matches(rule.pattern, renamed)]

    def _may_resolve(self, program: str) -> bool:
        if not program.startswith("/"):
            return False
        allowed = self.host_executables.get(program.rsplit("/", 1)[1])
        if allowed is None:
            return True
        wanted = os.path.normpath(program)
        return any(os.path.normpath(self._expand(path)) == wanted for path in allowed)

    def _expand(self, path: str) -> str:
        if path.startswith("~/") and self.home:
            return self.home.rstrip("/") + path[1:]
        return path


def forbidden_reason(argv: Sequence[str], match: RuleMatch) -> str:
    """The text given to the model for a forbidden command: "`cmd` rejected: <justification>"."""
    reason = match.rule.justification or FORBIDDEN_DEFAULT_REASON
    return f"`{shlex.join(argv)}` rejected: {reason}"


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------


def _prefix_matches(pattern: tuple[tuple[str, ...], ...], argv: Sequence[str]) -> bool:
    if len(argv) < len(pattern):
        return False
    return all(arg in alternatives for arg, alternatives in zip(argv, pattern, strict=False))


def _by_basename(argv: Sequence[str]) -> Sequence[str]:
    """argv with an absolute argv[0] replaced by its basename (else argv unchanged)."""
    if not argv or not argv[0].startswith("/"):
        return argv
    base = argv[0].rsplit("/", 1)[1]
    return [base, *argv[1:]] if base else argv


def _shell_script(argv: tuple[str, ...]) -> str | None:
    if len(argv) != 3 or argv[1] not in _SHELL_FLAGS:
        return None
    directory, _, name = argv[0].rpartition("/")
    if name not in _SHELLS:
        return None
    if "/" in argv[0] and os.path.normpath(directory or "/") not in _TRUSTED_BIN_DIRS:
        return None
    return argv[2]


def _commands_of(argv: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The commands a rule is checked against: a simple shell script's sub-commands, else argv."""
    if not argv:
        return []
    script = _shell_script(argv)
    if script is None:
        return [argv]
    try:
        commands = split_simple_script(script)
    except ValueError:
        return [argv]
    if any(_ASSIGNMENT.match(command[0]) for command in commands):
        return [argv]  # `NAME=value cmd` is not a plain command
    return [tuple(command) for command in commands]


# --------------------------------------------------------------------------------------------
# Building rules from parsed calls
# --------------------------------------------------------------------------------------------


def _error(path: str, where: Value | Call, message: str) -> RulesError:
    return RulesError(path, where.line, where.column, message)


def _kind(value: Value) -> str:
    return "a string" if isinstance(value.data, str) else "a list"


def _string_list(path: str, value: Value, what: str) -> tuple[str, ...]:
    if isinstance(value.data, str):
        raise _error(path, value, f"{what} must be a list of strings, got a string")
    items: list[str] = []
    for item in value.data:
        if not isinstance(item.data, str):
            raise _error(path, item, f"{what} must be a list of strings, got a nested list")
        items.append(item.data)
    return tuple(items)


def _pattern(path: str, value: Value) -> tuple[tuple[str, ...], ...]:
    if isinstance(value.data, str):
        raise _error(path, value, "pattern must be a list, got a string")
    if not value.data:
        raise _error(path, value, "pattern cannot be empty")
    tokens: list[tuple[str, ...]] = []
    for element in value.data:
        if isinstance(element.data, str):
            tokens.append((element.data,))
            continue
        alternatives = _string_list(path, element, "alternatives in a pattern")
        if not alternatives:
            raise _error(path, element, "alternatives list in a pattern cannot be empty")
        tokens.append(alternatives)
    return tuple(tokens)


def _example(path: str, value: Value, what: str) -> tuple[str, ...]:
    if isinstance(value.data, str):
        try:
            argv = tuple(shlex.split(value.data))
        except ValueError as exc:
            raise _error(path, value, f"{what} example cannot be split into words: {exc}") from None
    else:
        argv = _string_list(path, value, f"a {what} example")
    if not argv:
        raise _error(path, value, f"{what} example is empty")
    return argv


def _show_pattern(pattern: tuple[tuple[str, ...], ...]) -> str:
    parts = [repr(alts[0]) if len(alts) == 1 else "[" + ", ".join(map(repr, alts)) + "]" for alts in pattern]
    return "[" + ", ".join(parts) + "]"


def _prefix_rule(path: str, call: Call) -> PrefixRule:
    args = {arg.name: arg.value for arg in call.arguments}
    for arg in call.arguments:
        if arg.name not in _PREFIX_RULE_ARGS:
            expected = ", ".join(sorted(_PREFIX_RULE_ARGS))
            raise RulesError(path, arg.line, arg.column, f"unknown argument {arg.name!r} for prefix_rule "
                             f"(expected {expected})")  # fmt: skip
    if "pattern" not in args:
        raise _error(path, call, "prefix_rule is missing the required argument 'pattern'")
    pattern = _pattern(path, args["pattern"])
    decision: Decision = "allow"
    if "decision" in args:
        value = args["decision"]
        if not isinstance(value.data, str) or value.data not in DECISIONS:
            got = repr(value.data) if isinstance(value.data, str) else _kind(value)
            raise _error(path, value, f"decision must be one of 'allow', 'prompt', 'forbidden', got {got}")
        decision = value.data
    justification: str | None = None
    if "justification" in args:
        value = args["justification"]
        if not isinstance(value.data, str):
            raise _error(path, value, f"justification must be a string, got {_kind(value)}")
        if not value.data.strip():
            raise _error(path, value, "justification cannot be empty")
        justification = value.data
    rule = PrefixRule(pattern, decision, justification, f"{path}:{call.line}")
    for what, must_match in (("match", True), ("not_match", False)):
        if what not in args:
            continue
        value = args[what]
        if isinstance(value.data, str):
            raise _error(path, value, f"{what} must be a list of examples, got a string")
        for item in value.data:
            example = _example(path, item, what)
            if rule.matches(example) != must_match:
                verb = "does not match" if must_match else "matches"
                raise _error(path, call, f"{what} example {shlex.join(example)!r} {verb} "
                             f"pattern {_show_pattern(pattern)}")  # fmt: skip
    return rule


def _host_executable(path: str, call: Call) -> tuple[str, tuple[str, ...]]:
    args = {arg.name: arg.value for arg in call.arguments}
    for arg in call.arguments:
        if arg.name not in _HOST_EXECUTABLE_ARGS:
            raise RulesError(path, arg.line, arg.column, f"unknown argument {arg.name!r} for "
                             "host_executable (expected name, paths)")  # fmt: skip
    for required in ("name", "paths"):
        if required not in args:
            raise _error(path, call, f"host_executable is missing the required argument {required!r}")
    name = args["name"]
    if not isinstance(name.data, str):
        raise _error(path, name, f"name must be a string, got {_kind(name)}")
    if not name.data or "/" in name.data:
        raise _error(path, name, "name must be a bare program name without '/'")
    paths = _string_list(path, args["paths"], "paths")
    for item, text in zip(cast(tuple[Value, ...], args["paths"].data), paths, strict=True):
        absolute = text.startswith("/") or text.startswith("~/")
        if not absolute or text.rstrip("/").rsplit("/", 1)[1] != name.data:
            raise _error(path, item, f"path {text!r} must be absolute (or start with ~/) and end in "
                         f"/{name.data}")  # fmt: skip
    return name.data, paths


def parse_rules(text: str, path: str = "<rules>") -> RuleSet:
    """Parse one rules file's text.  Raises RulesError naming `path`, line and column."""
    rules: list[PrefixRule] = []
    hosts: dict[str, tuple[str, ...]] = {}
    for call in parse_calls(text, path, _FUNCTIONS):
        if call.function == "prefix_rule":
            rules.append(_prefix_rule(path, call))
        else:
            name, paths = _host_executable(path, call)
            hosts[name] = hosts.get(name, ()) + tuple(p for p in paths if p not in hosts.get(name, ()))
    return RuleSet(tuple(rules), hosts)


MAX_RULES_FILE_BYTES = 1024 * 1024
"""A rules file larger than this is refused (rules are a few lines written by a person)."""


def _read_text(path: Path) -> str:
    """A rules file's text: a regular file only (a FIFO or device cannot block or flood the
    server), at most `MAX_RULES_FILE_BYTES`."""
    try:
        data = read_regular_file(path, limit=MAX_RULES_FILE_BYTES)
    except OSError as exc:
        raise RulesError(str(path), 1, 1, f"cannot read rules file: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        raise RulesError(str(path), line, column, "rules file is not valid UTF-8") from None


def load_rules_dir(rules_dir: Path, home: str | None = None) -> RuleSet:
    """Load every `*.rules` file of `rules_dir`, sorted by name; a missing directory gives an
    empty RuleSet.  `home` expands `~/` in host_executable paths (default: the user's home)."""
    if home is None:
        home = os.path.expanduser("~")
    result = RuleSet(home=home)
    try:
        files = sorted(p for p in rules_dir.iterdir() if p.name.endswith(".rules") and not p.is_dir())
    except FileNotFoundError:
        return result
    except NotADirectoryError:
        raise RulesError(str(rules_dir), 1, 1, "rules path is not a directory") from None
    except OSError as exc:
        message = f"cannot list rules directory: {exc.strerror or exc}"
        raise RulesError(str(rules_dir), 1, 1, message) from None
    for file in files:
        result = result.merged(parse_rules(_read_text(file), str(file)))
    return result


_CACHE: dict[Path, tuple[tuple[tuple[str, int, int], ...], RuleSet]] = {}


def _fingerprint(rules_dir: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        entries = sorted(p for p in rules_dir.iterdir() if p.name.endswith(".rules"))
    except OSError:
        return ()
    out = []
    for path in entries:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((path.name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def rules_for_home(codex_home: Path) -> RuleSet:
    """`$CODEX_HOME/rules`, re-read only when a file there changed (checked with `stat`), so
    every command can consult the current rules cheaply.  Raises `RulesError` like
    `load_rules_dir`."""
    rules_dir = codex_home / "rules"
    fingerprint = _fingerprint(rules_dir)
    cached = _CACHE.get(rules_dir)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    ruleset = load_rules_dir(rules_dir)
    _CACHE[rules_dir] = (fingerprint, ruleset)
    return ruleset
