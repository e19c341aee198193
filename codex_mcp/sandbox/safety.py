"""Whether a command or a patch may run without asking, and whether it runs in the sandbox.

Pure functions over argv / paths / policies (agent-core §5.3-5.4).  Nothing here spawns or
touches the filesystem except `assess_patch_safety`'s symlink resolution of existing parents.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from codex_mcp.sandbox.policy import PROTECTED_SUBPATHS, ApprovalPolicy, SandboxPolicy, writable_roots_for


@dataclass(frozen=True)
class AutoApprove:
    """Run without asking; `run_sandboxed` says whether the platform sandbox must be used."""

    run_sandboxed: bool


@dataclass(frozen=True)
class AskUser:
    """Ask the user before running."""


@dataclass(frozen=True)
class Reject:
    """Do not run; `reason` is the text given back to the model."""

    reason: str


SafetyCheck = AutoApprove | AskUser | Reject

REJECT_NOT_TRUSTED = "auto-rejected because command is not on trusted list"
REJECT_EMPTY_PATCH = "empty patch"
REJECT_PATCH_OUTSIDE = "writing outside of the project; rejected by user approval settings"

# --------------------------------------------------------------------------------------------
# Known-safe (read-only) commands
# --------------------------------------------------------------------------------------------

_ALWAYS_SAFE = frozenset(
    ["cat", "cd", "cut", "echo", "expr", "false", "grep", "head", "id", "ls", "nl", "paste", "pwd",
     "rev", "seq", "stat", "tail", "tr", "true", "uname", "uniq", "wc", "which", "whoami", "numfmt",
     "tac"]
)  # fmt: skip

# argv[0] may be a bare name or live in one of these directories; any other path (say
# `./ls` written by the model into the workspace) is not trusted.
_TRUSTED_BIN_DIRS = ("/bin", "/usr/bin", "/usr/local/bin", "/opt/homebrew/bin", "/sbin", "/usr/sbin")

_FIND_UNSAFE = frozenset(
    ["-exec", "-execdir", "-ok", "-okdir", "-delete", "-fls", "-fprint", "-fprint0", "-fprintf"]
)
_GIT_READ_SUBCOMMANDS = frozenset(["status", "log", "diff", "show", "branch"])
_GIT_BRANCH_READ_FLAGS = frozenset(
    ["--list", "-l", "--show-current", "-a", "--all", "-r", "--remotes", "-v", "-vv", "--verbose"]
)
# Global git options (before the subcommand) that only select what to read.
_GIT_GLOBAL_WITH_VALUE = frozenset(["-C", "--git-dir", "--work-tree", "--namespace"])
_GIT_GLOBAL_FLAGS = frozenset(
    ["--no-pager", "-P", "--no-optional-locks", "--literal-pathspecs", "--no-replace-objects", "--bare"]
)
_SED_PRINT = re.compile(r"^[0-9]+(,[0-9]+)?p$")


def _command_name(arg0: str) -> str | None:
    if "/" not in arg0:
        return arg0
    directory, name = os.path.split(arg0)
    if os.path.normpath(directory) in _TRUSTED_BIN_DIRS:
        return name
    return None


def _git_is_safe(args: Sequence[str]) -> bool:
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _GIT_GLOBAL_WITH_VALUE:
            i += 2
            continue
        if any(arg.startswith(opt + "=") for opt in _GIT_GLOBAL_WITH_VALUE if opt.startswith("--")):
            i += 1
            continue
        if arg in _GIT_GLOBAL_FLAGS:
            i += 1
            continue
        break
    if i >= len(args):
        return False
    sub, rest = args[i], args[i + 1 :]
    if sub not in _GIT_READ_SUBCOMMANDS:
        return False
    for arg in rest:
        if arg in ("--ext-diff", "--textconv", "--paginate"):
            return False
        if arg == "--output" or arg.startswith("--output="):
            return False
        if arg == "--exec" or arg.startswith("--exec="):
            return False
    if sub == "branch":
        return all(a in _GIT_BRANCH_READ_FLAGS or a.startswith("--format=") for a in rest)
    return True


def _argv_is_safe(argv: Sequence[str]) -> bool:
    if not argv:
        return False
    name = _command_name(argv[0])
    if name is None:
        return False
    args = argv[1:]
    if name in _ALWAYS_SAFE:
        return True
    if name == "base64":
        return not any(a == "-o" or a.startswith("--output") or (a.startswith("-o")) for a in args)
    if name == "find":
        return not any(a in _FIND_UNSAFE for a in args)
    if name == "rg":
        for a in args:
            if a in ("--search-zip", "-z") or a.split("=", 1)[0] in ("--pre", "--hostname-bin"):
                return False
            if a.startswith("-") and not a.startswith("--") and "z" in a[1:]:
                return False  # a short-flag cluster containing -z
        return True
    if name == "git":
        return _git_is_safe(args)
    if name == "sed":
        if len(argv) > 4 or len(argv) < 3:
            return False
        return argv[1] == "-n" and bool(_SED_PRINT.match(argv[2]))
    return False


class _Unsafe(Exception):
    pass


_SEPARATORS = ("&&", "||", ";", "|")
# Characters that may appear in an unquoted word.  Everything with shell meaning (globs, $,
# redirections, braces, backslash, comments, history, subshells) is excluded.
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%^")


def split_simple_script(script: str) -> list[list[str]]:
    """Split a shell script made only of plain words and quoted strings joined by `&&`, `||`,
    `;` or `|` into its commands.  Raises ValueError for anything else (redirections,
    substitutions, globs, variables, subshells, backgrounding, newlines, comments, ...)."""
    commands: list[list[str]] = []
    words: list[str] = []
    word: list[str] = []
    in_word = False
    i, n = 0, len(script)

    def end_word() -> None:
        nonlocal in_word
        if in_word:
            words.append("".join(word))
            word.clear()
            in_word = False

    def end_command() -> None:
        end_word()
        if not words:
            raise ValueError("empty command in script")
        commands.append(list(words))
        words.clear()

    while i < n:
        c = script[i]
        if c in " \t":
            end_word()
            i += 1
        elif c == "'":
            close = script.find("'", i + 1)
            if close < 0:
                raise ValueError("unterminated single quote")
            word.append(script[i + 1 : close])
            in_word = True
            i = close + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise ValueError("unterminated double quote")
                d = script[i]
                if d == '"':
                    i += 1
                    break
                if d in "$`":
                    raise ValueError("expansion inside double quotes")
                if d == "\\" and i + 1 < n and script[i + 1] in '$`"\\':
                    word.append(script[i + 1])
                    i += 2
                    continue
                if d == "\\" and i + 1 < n and script[i + 1] == "\n":
                    raise ValueError("line continuation")
                if d == "!":
                    raise ValueError("history expansion")
                word.append(d)
                i += 1
            in_word = True
        elif script.startswith("&&", i) or script.startswith("||", i):
            end_command()
            i += 2
        elif c in ";|":
            end_command()
            i += 1
        elif c in _WORD_CHARS:
            if not in_word and c == "=":
                raise ValueError("word starting with '='")
            word.append(c)
            in_word = True
            i += 1
        else:
            raise ValueError(f"unsupported shell syntax {c!r}")
    end_word()
    if words:
        commands.append(list(words))
    elif commands or not script.strip():
        raise ValueError("script ends with an operator or is empty")
    return commands


def _shell_script(argv: Sequence[str]) -> str | None:
    """The script of `bash|zsh|sh -c|-lc SCRIPT`, else None."""
    if len(argv) != 3:
        return None
    name = _command_name(argv[0])
    if name not in ("bash", "zsh") or argv[1] not in ("-lc", "-c"):
        return None
    return argv[2]


def is_known_safe_command(argv: Sequence[str]) -> bool:
    """True for read-only commands that may run without approval and without a sandbox."""
    argv = list(argv)
    if _argv_is_safe(argv):
        return True
    script = _shell_script(argv)
    if script is None:
        return False
    try:
        commands = split_simple_script(script)
    except ValueError:
        return False
    for command in commands:
        # `NAME=value cmd` is an assignment in a shell, not a command word.
        if "=" in command[0]:
            return False
        if not _argv_is_safe(command):
            return False
    return True


# --------------------------------------------------------------------------------------------
# Command and patch assessment
# --------------------------------------------------------------------------------------------


def assess_command_safety(
    argv: Sequence[str],
    approval_policy: ApprovalPolicy,
    sandbox_policy: SandboxPolicy,
    approved_for_session: Iterable[tuple[str, ...]] | set[tuple[str, ...]],
    with_escalated_permissions: bool,
    sandbox_available: bool,
) -> SafetyCheck:
    """Decide how to run `argv` (agent-core §5.3 table).

    Known-safe or session-approved commands run without asking and without a sandbox.
    Rejecting escalation requests under policies other than on-request is the caller's job
    (this function follows the table, which ignores escalation there).
    """
    key = tuple(argv)
    if is_known_safe_command(argv) or key in set(approved_for_session):
        return AutoApprove(run_sandboxed=False)
    if approval_policy == "untrusted":
        return AskUser()
    if sandbox_policy.is_full_access:
        return AutoApprove(run_sandboxed=False)
    if approval_policy == "on-request":
        if with_escalated_permissions or not sandbox_available:
            return AskUser()
        return AutoApprove(run_sandboxed=True)
    # never / on-failure with read-only or workspace-write
    if sandbox_available:
        return AutoApprove(run_sandboxed=True)
    if approval_policy == "on-failure":
        return AskUser()
    return Reject(REJECT_NOT_TRUSTED)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _is_writable_path(path: str, roots: Sequence[str]) -> bool:
    for root in roots:
        if _inside(path, root):
            protected = any(_inside(path, os.path.join(root, sub)) for sub in PROTECTED_SUBPATHS)
            if not protected:
                return True
    return False


def assess_patch_safety(
    paths: Sequence[Path | str],
    cwd: Path | str,
    approval_policy: ApprovalPolicy,
    sandbox_policy: SandboxPolicy,
    writable_roots_extra: Sequence[Path | str] = (),
    *,
    sandbox_available: bool = True,
    env: dict[str, str] | None = None,
) -> SafetyCheck:
    """Decide how to apply a patch touching `paths` (agent-core §5.4).

    `paths` are every added, deleted, updated and move-destination path (relative paths are
    taken against `cwd`).  `writable_roots_extra` are roots the user granted for the session.
    A path counts as writable only if both its lexical form and its symlink-resolved form lie
    in a writable root outside the protected subpaths (`.git`, ...): stricter than Codex,
    which only checks the lexical form.
    """
    if not paths:
        return Reject(REJECT_EMPTY_PATCH)
    if approval_policy == "untrusted":
        return AskUser()
    cwd_s = os.path.normpath(os.path.join(os.getcwd(), str(cwd)))
    if sandbox_policy.is_full_access:
        writable = True
    elif sandbox_policy.mode == "read-only" and not writable_roots_extra:
        writable = False
    else:
        lexical_roots = [os.path.normpath(os.path.join(cwd_s, str(r))) for r in writable_roots_extra]
        if sandbox_policy.mode == "workspace-write":
            lexical_roots += writable_roots_for(sandbox_policy, cwd_s, env, resolve=False)
        real_roots = [os.path.realpath(r) for r in lexical_roots]
        writable = True
        for p in paths:
            lexical = os.path.normpath(os.path.join(cwd_s, str(p)))
            if not (
                _is_writable_path(lexical, lexical_roots)
                and _is_writable_path(os.path.realpath(lexical), real_roots)
            ):
                writable = False
                break
    if writable or approval_policy == "on-failure":
        if sandbox_policy.is_full_access:
            return AutoApprove(run_sandboxed=False)
        return AutoApprove(run_sandboxed=True) if sandbox_available else AskUser()
    if approval_policy == "never":
        return Reject(REJECT_PATCH_OUTSIDE)
    return AskUser()
