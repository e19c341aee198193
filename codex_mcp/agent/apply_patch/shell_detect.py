"""Recognising apply_patch invocations inside shell/exec tool calls.

Models that lack the dedicated tool send patches through the shell tool, as

* ``["apply_patch", "<patch>"]`` (or ``applypatch``);
* ``["bash", "-lc", "apply_patch <<'EOF'\\n<patch>\\nEOF\\n"]`` -- also ``zsh``/``sh`` with
  ``-c``/``-lc``, ``pwsh``/``powershell [-NoProfile] -Command`` and ``cmd /c``;
* the same script prefixed by ``cd <dir> && ``.

:func:`extract_apply_patch` returns ``None`` for anything else, so the command runs as
usual.  The script must be exactly one ``[cd <dir> &&] apply_patch <<DELIM`` statement
followed by its heredoc: other commands, pipes, ``;``/``||`` or extra arguments mean no
match.  The shell never runs: the heredoc body is taken literally.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from .errors import ApplyPatchError, HeredocError, ImplicitInvocationError
from .parser import Patch, parse_patch

APPLY_PATCH_COMMANDS = frozenset({"apply_patch", "applypatch"})
_POSIX_SHELLS = frozenset({"bash", "zsh", "sh"})
_POWERSHELLS = frozenset({"pwsh", "powershell"})


@dataclass(frozen=True)
class ShellApplyPatch:
    """An apply_patch invocation found in a command.

    ``patch`` is the patch text (the argument or the heredoc body) and ``cwd`` the
    directory its paths are relative to (the workdir, or ``cd <dir>`` joined onto it).
    When ``error`` is set the command was recognisably meant to apply a patch but cannot
    be used (the patch does not parse, the heredoc is broken, or the patch was given
    without ``apply_patch``); tell the model ``str(error)`` instead of running it.
    Otherwise ``parsed`` holds the parsed patch.
    """

    patch: str
    cwd: Path
    parsed: Patch | None = None
    error: ApplyPatchError | None = None

    @property
    def patch_text(self) -> str:
        return self.patch

    @property
    def ok(self) -> bool:
        return self.error is None and self.parsed is not None


def extract_apply_patch(argv: Sequence[str], cwd: Path) -> ShellApplyPatch | None:
    """Find an apply_patch invocation in ``argv``; ``cwd`` is the command's workdir."""
    if len(argv) == 2 and argv[0] in APPLY_PATCH_COMMANDS:
        return _parsed(argv[1], cwd)
    if len(argv) == 1:
        return _implicit(argv[0], cwd)
    script = shell_script(argv)
    if script is None:
        return None
    implicit = _implicit(script, cwd)
    if implicit is not None:
        return implicit
    try:
        found = match_heredoc_script(script)
    except HeredocError as exc:
        return ShellApplyPatch(patch="", cwd=cwd, error=exc)
    if found is None:
        return None
    directory, body = found
    return _parsed(body, cwd / directory if directory is not None else cwd)


def shell_script(argv: Sequence[str]) -> str | None:
    """The script of a ``<shell> <flag> <script>`` command, or None for other shapes."""
    if len(argv) not in (3, 4):
        return None
    shell = PureWindowsPath(argv[0]).stem.lower()
    flags = [arg.lower() for arg in argv[1:-1]]
    if len(argv) == 3 and shell in _POSIX_SHELLS and argv[1] in ("-lc", "-c"):
        return argv[2]
    if shell in _POWERSHELLS and flags in (["-command"], ["-noprofile", "-command"]):
        return argv[-1]
    if len(argv) == 3 and shell == "cmd" and flags == ["/c"]:
        return argv[2]
    return None


def _parsed(body: str, cwd: Path) -> ShellApplyPatch:
    try:
        patch = parse_patch(body)
    except ApplyPatchError as exc:
        return ShellApplyPatch(patch=body, cwd=cwd, error=exc)
    return ShellApplyPatch(patch=body, cwd=cwd, parsed=patch)


def _implicit(text: str, cwd: Path) -> ShellApplyPatch | None:
    """A bare patch used as the command itself."""
    try:
        patch = parse_patch(text)
    except ApplyPatchError:
        return None
    return ShellApplyPatch(patch=text, cwd=cwd, parsed=patch, error=ImplicitInvocationError())


_BLANK = r"[ \t]"
_WORD = r"[A-Za-z0-9_./+,:@%=^-]+"
_HEAD = re.compile(
    rf"""\s*
    (?:cd{_BLANK}+(?P<cd>{_WORD}|'[^']*'|"[^"$`\\]+"){_BLANK}*&&{_BLANK}*)?
    (?:apply_patch|applypatch)
    {_BLANK}*<<(?P<dash>-?){_BLANK}*
    (?P<delim>'[^'\n]+'|"[^"\n$`\\]+"|[A-Za-z0-9_.-]+)
    {_BLANK}*(?:\n|$)""",
    re.VERBOSE,
)


def match_heredoc_script(script: str) -> tuple[str | None, str] | None:
    """Split ``[cd DIR &&] apply_patch <<DELIM ... DELIM`` into (DIR or None, body).

    Returns None when the script is anything else.  Raises :class:`HeredocError` when
    the script starts like an apply_patch heredoc but the heredoc is not closed.
    """
    head = _HEAD.match(script)
    if head is None:
        return None
    delim = head.group("delim")
    if delim[0] in "'\"":
        delim = delim[1:-1]
    strip_tabs = bool(head.group("dash"))
    rest = script[head.end() :]
    lines = rest.split("\n")
    for index, line in enumerate(lines):
        if (line.lstrip("\t") if strip_tabs else line) == delim:
            if "".join(lines[index + 1 :]).strip():
                return None  # something runs after the heredoc
            body_lines = lines[:index]
            if strip_tabs:
                body_lines = [body_line.lstrip("\t") for body_line in body_lines]
            directory = head.group("cd")
            if directory is not None and directory[0] in "'\"":
                directory = directory[1:-1]
            return directory, "\n".join(body_lines).rstrip("\n")
    raise HeredocError(
        f"apply_patch heredoc is never closed: add a line containing only {delim} after the patch"
    )
