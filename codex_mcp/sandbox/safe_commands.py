"""Which commands are "known safe": read-only enough to run without asking the person.

"Known safe" only ever means "needs no approval".  Whether a command runs in the sandbox is
decided elsewhere (`safety.assess_command_safety`): under a read-only or workspace-write policy
every command, safe or not, runs inside the sandbox unless the person approved it explicitly.
The classifier is still strict, because under danger-full-access (no sandbox at all) and under
`untrusted` it is the only thing between the model and an unasked-for side effect.

A command is safe when it is one of a short list of reading tools used without any option that
writes a file or runs another program (`uniq IN OUT`, `find -fprint`, `rg --pre`, `git --output`,
`base64 -o`, ...), or a `bash|zsh -c|-lc` script made only of such commands joined by `&&`,
`||`, `;` and `|`.  Long options are compared as the programs compare them: git (and, to be
safe, rg) accept any unambiguous prefix of a long option, so `--outp=x` counts as `--output`.

git is special: whatever its arguments, it runs programs named in the repository's own config
(`core.fsmonitor`, `diff.external`, textconv and filter drivers, `gpg.program`, ...), which a
hostile workspace or an earlier sandboxed command controls.  So git is known safe only when it
will run inside the sandbox (`without_sandbox=False`), where those programs are contained too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

__all__ = ["is_known_safe_command", "shell_script_of", "split_simple_script"]

_ALWAYS_SAFE = frozenset(
    ["cat", "cd", "cut", "echo", "expr", "false", "grep", "head", "id", "ls", "nl", "paste", "pwd",
     "rev", "seq", "stat", "tail", "tr", "true", "uname", "wc", "which", "whoami", "numfmt", "tac"]
)  # fmt: skip

# argv[0] may be a bare name or live in one of these directories; any other path (say
# `./ls` written by the model into the workspace) is not trusted.
_TRUSTED_BIN_DIRS = ("/bin", "/usr/bin", "/usr/local/bin", "/opt/homebrew/bin", "/sbin", "/usr/sbin")

# Commands that run programs named in files inside the workspace (repository config): safe
# only inside the sandbox.
_TRUSTS_WORKSPACE_CONFIG = frozenset(["git"])

_FIND_UNSAFE = frozenset(
    ["-exec", "-execdir", "-ok", "-okdir", "-delete", "-fls", "-fprint", "-fprint0", "-fprintf"]
)

_GIT_READ_SUBCOMMANDS = frozenset(["status", "log", "diff", "show", "branch"])
_GIT_BRANCH_READ_FLAGS = frozenset(
    ["--list", "-l", "--show-current", "-a", "--all", "-r", "--remotes", "-v", "-vv", "--verbose"]
)
# The only global options (before the subcommand) accepted.  Everything else is refused:
# `-C`, `--git-dir`, `--work-tree` point git at another repository (and its config), `-c` and
# `--config-env` set config, `--exec-path` picks where git finds its helper programs, `-p`
# starts a pager.
_GIT_GLOBAL_FLAGS = frozenset(["--no-pager", "-P", "--no-optional-locks", "--literal-pathspecs",
                               "--no-replace-objects"])  # fmt: skip
# Subcommand long options that write a file or run a program (their names without `--`).
_GIT_UNSAFE_LONG = ("output", "ext-diff", "textconv", "exec", "paginate", "show-signature")
_RG_UNSAFE_LONG = ("pre", "hostname-bin", "search-zip")
_SED_PRINT = re.compile(r"^[0-9]+(,[0-9]+)?p$")


def _command_name(arg0: str, search_path: str | None = None) -> str | None:
    """The program's name if `arg0` names a program of a trusted directory.

    With `search_path` (the command runs without a sandbox), a bare name must also resolve
    there to a trusted directory: a relative or empty PATH entry (the working directory, a
    hostile repository's `./bin` or `node_modules/.bin`) or any other directory that comes
    first could hold a program of the same name that runs unasked.
    """
    if "/" not in arg0:
        if search_path is None or _resolves_to_trusted(arg0, search_path):
            return arg0
        return None
    directory, name = os.path.split(arg0)
    if os.path.normpath(directory) in _TRUSTED_BIN_DIRS:
        return name
    return None


def _resolves_to_trusted(name: str, search_path: str) -> bool:
    """Whether the first PATH entry holding `name` is a trusted directory (a name found
    nowhere runs nothing).  An entry that is not absolute cannot be judged: not trusted."""
    for entry in search_path.split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            return False
        candidate = os.path.join(entry, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            trusted = {os.path.realpath(d) for d in _TRUSTED_BIN_DIRS}
            return os.path.normpath(entry) in _TRUSTED_BIN_DIRS or os.path.realpath(entry) in trusted
    return True


def _abbreviates(arg: str, names: Sequence[str]) -> bool:
    """Whether `arg` is a long option (`--name` or `--name=value`) that a prefix-matching
    parser would take as one of `names` (any non-empty prefix counts, ambiguous or not)."""
    if not arg.startswith("--") or arg == "--":
        return False
    name = arg[2:].split("=", 1)[0]
    return bool(name) and any(full.startswith(name) for full in names)


def _git_is_safe(args: Sequence[str]) -> bool:
    i = 0
    while i < len(args) and args[i] in _GIT_GLOBAL_FLAGS:
        i += 1
    if i >= len(args):
        return False
    sub, rest = args[i], args[i + 1 :]
    if sub not in _GIT_READ_SUBCOMMANDS:
        return False
    for arg in rest:
        if _abbreviates(arg, _GIT_UNSAFE_LONG):
            return False
        # `%G?` and friends in a log format verify signatures, which runs gpg.program.
        if "%G" in arg:
            return False
    if sub == "branch":
        return all(a in _GIT_BRANCH_READ_FLAGS or a.startswith("--format=") for a in rest)
    return True


def _rg_is_safe(args: Sequence[str]) -> bool:
    for a in args:
        if a == "--":
            break
        if _abbreviates(a, _RG_UNSAFE_LONG):
            return False
        if a.startswith("-") and not a.startswith("--") and "z" in a[1:]:
            return False  # -z, or a short-flag cluster containing it
    return True


def _uniq_is_safe(args: Sequence[str]) -> bool:
    """`uniq [INPUT [OUTPUT]]` writes its second operand.  Safe with at most one operand;
    an option's separate value (`-f 1`) counts as an operand, which only errs on the safe side."""
    if "--" in args:
        return False
    operands = [a for a in args if a == "-" or not a.startswith("-")]
    return len(operands) <= 1


def _argv_is_safe(argv: Sequence[str], without_sandbox: bool, search_path: str | None = None) -> bool:
    if not argv:
        return False
    name = _command_name(argv[0], search_path if without_sandbox else None)
    if name is None:
        return False
    if without_sandbox and name in _TRUSTS_WORKSPACE_CONFIG:
        return False
    args = argv[1:]
    if name in _ALWAYS_SAFE:
        return True
    if name == "uniq":
        return _uniq_is_safe(args)
    if name == "base64":
        return not any(a.startswith("-o") or _abbreviates(a, ("output",)) for a in args)
    if name == "find":
        return not any(a in _FIND_UNSAFE for a in args)
    if name == "rg":
        return _rg_is_safe(args)
    if name == "git":
        return _git_is_safe(args)
    if name == "sed":
        # `sed -n Np [FILE]` only: any further option may be a script (`--expression=w FILE`
        # opens, and truncates, FILE before reading a line; `--file=` reads a script).
        if len(argv) > 4 or len(argv) < 3:
            return False
        if len(argv) == 4 and argv[3].startswith("-"):
            return False
        return argv[1] == "-n" and bool(_SED_PRINT.match(argv[2]))
    return False


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


def shell_script_of(argv: Sequence[str]) -> str | None:
    """The script of `bash|zsh -c|-lc SCRIPT` (shell from a trusted directory), else None."""
    if len(argv) != 3:
        return None
    name = _command_name(argv[0])
    if name not in ("bash", "zsh") or argv[1] not in ("-lc", "-c"):
        return None
    return argv[2]


def is_known_safe_command(
    argv: Sequence[str], *, without_sandbox: bool = False, search_path: str | None = None
) -> bool:
    """True for commands that may run without asking the person.

    `without_sandbox`: the command would run with no sandbox around it (danger-full-access);
    then commands that execute programs named in workspace files (git) are not safe, and a
    bare program name must resolve through `search_path` (the command's PATH; default ours)
    to a trusted directory.
    """
    argv = list(argv)
    if without_sandbox and search_path is None:
        search_path = os.environ.get("PATH", os.defpath)
    if _argv_is_safe(argv, without_sandbox, search_path):
        return True
    script = shell_script_of(argv)
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
        if not _argv_is_safe(command, without_sandbox, search_path):
            return False
    return True
