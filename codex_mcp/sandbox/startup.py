"""Shells started outside the sandbox must not read start-up files the sandbox could write.

When the person approves a command to run outside the sandbox while HOME (or ZDOTDIR, or a
system profile) lies where the sandbox can write, a login or interactive shell would source
`~/.bash_profile`, `~/.profile`, `~/.bashrc`, `~/.zshrc`, ... that an earlier sandboxed
command may have planted.  `without_startup_files` makes every shell the approved command
starts read none of them, wherever it appears:

* the command itself (`bash -lc ...`), or behind the programs that run their arguments as a
  command (`env`, `nice`, `timeout 5`, `setsid`, `xargs`, `stdbuf -oL`, `sudo`, ...): its
  login and interactive flags are dropped and bash gets `--noprofile --norc`, zsh `-f`;
* a shell started *inside* a script (`bash -c "bash -lc make"`, `exec -l bash`,
  `env -S "bash -l"`) cannot be rewritten: a command whose arguments start a login or
  interactive shell is refused (`StartupFilesRefused`), with a message saying why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

SHELLS = frozenset(["bash", "sh", "dash", "zsh", "ksh", "mksh"])
# Programs that run the rest of their arguments as a command, after options of their own.
_WRAPPERS = frozenset(
    ["env", "nice", "nohup", "timeout", "setsid", "stdbuf", "time", "command", "exec", "xargs", "chrt",
     "ionice", "taskset", "sudo", "doas", "flock", "unbuffer", "caffeinate", "chroot", "prlimit", "busybox"]
)  # fmt: skip
_OPTIONS_WITH_VALUE = frozenset("oO")
# A shell word with a login or interactive flag, anywhere in a script or argument.
_NESTED_LOGIN = re.compile(
    r"(?:^|[\s;&|(`'\"/=])(?:ba|da|z|k|mk)?sh\b[^;&|\n]*?\s(?:--login|--interactive|-[A-Za-z]*[li][A-Za-z]*)\b"
    r"|\bexec\s+(?:-[a-z]*\s+)*-[a-z]*l"
    r"|\benv\s+(?:-[A-Za-z]*\s+)*(?:-S|--split-string)"
)


class StartupFilesRefused(Exception):
    """The approved command would start a shell whose start-up files cannot be trusted."""


def without_startup_files(argv: Sequence[str]) -> tuple[list[str], bool]:
    """`argv` with every shell it starts directly reading no start-up files; and whether
    anything changed.  Raises `StartupFilesRefused` for a login or interactive shell started
    where it cannot be rewritten (inside a script)."""
    out = list(argv)
    changed = False
    start = 0
    if out and os.path.basename(out[0]) in _WRAPPERS:
        # The first shell among the arguments is the one the wrapper (chain) runs; options
        # with values (`sudo -u someone`, `nice -n 5`) need no parsing to find it.
        start = next((k for k in range(1, len(out)) if os.path.basename(out[k]) in SHELLS), len(out))
    if start < len(out) and os.path.basename(out[start]) in SHELLS:
        name = os.path.basename(out[start])
        rewritten = _rewrite_shell(out[start:], name)
        changed = rewritten != out[start:]
        out[start:] = rewritten
    for arg in out[1:]:
        if _NESTED_LOGIN.search(arg):
            raise StartupFilesRefused(
                "the command starts a login or interactive shell inside its arguments, and that shell's "
                "start-up files (~/.profile, ~/.bashrc, ...) lie where the sandbox can write, so they "
                "cannot be trusted outside it; run it without `-l`/`-i` or approve it with HOME "
                "outside the writable roots"
            )
    return out, changed


def _rewrite_shell(argv: list[str], name: str) -> list[str]:
    """A shell's argv without login/interactive flags, plus its "read no start-up files"
    flags."""
    out = [argv[0]]
    rest = argv[1:]
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in ("--login", "--interactive"):
            i += 1
            continue
        if arg in ("--rcfile", "--init-file"):
            i += 2
            continue
        if arg.startswith("--") and arg != "--":
            out.append(arg)
            i += 1
            continue
        if len(arg) > 1 and arg[0] in "-+" and arg != "--":
            flags = arg[1:].replace("l", "").replace("i", "")
            if flags:
                out.append(arg[0] + flags)
            i += 1
            if _OPTIONS_WITH_VALUE & set(flags) and i < len(rest):
                out.append(rest[i])
                i += 1
            continue
        break
    out.extend(rest[i:])
    if name == "bash":
        out[1:1] = ["--noprofile", "--norc"]
    elif name == "zsh":
        out[1:1] = ["-f"]
    return out
