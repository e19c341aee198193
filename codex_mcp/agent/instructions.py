"""What the model is told besides the user's prompt: base instructions and context messages.

Base instructions are ours, one prompt per instruction family (`prompts/<kind>.md`), put
together from shared sections and the guidance for the shell and editing tools the family
is actually offered (`family_instructions`).  A `base_instructions` argument or an
instructions file replaces them, then the config's `instructions` key
(`resolve_base_instructions`).

The messages around the first prompt (permissions, AGENTS.md, environment) are
`context_items`; this module finds what goes into them: the person's own instructions
(`$CODEX_HOME/AGENTS.md`) and the project's docs.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from codex_mcp.agent.families import ApplyPatchKind, InstructionsKind, ModelFamily, ShellKind
from codex_mcp.bounded_read import UnreadableFileError, read_regular_file

AGENTS_FILENAMES = ("AGENTS.override.md", "AGENTS.md")
PERSONAL_INSTRUCTIONS_MAX_BYTES = 32 * 1024


# --- per-family instructions ------------------------------------------------------------

_INCLUDE = re.compile(r"\{\{include:([a-z_]+)\}\}")
_HEREDOC_SCRIPT = (
    "apply_patch <<'PATCH'\n*** Begin Patch\n*** Update File: path/to/file.py\n@@\n"
    " unchanged line\n-old line\n+new line\n*** End Patch\nPATCH"
)


PROMPTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "prompts")
"""The packaged prompt files, read from the package's directory as any module's source is
(`importlib.resources` would add its whole import chain, `zipfile` and `tempfile` among
it, to a first call; the package is always installed as plain files)."""


@functools.cache
def prompt_file(name: str) -> str:
    """A packaged prompt file (`prompts/<name>`), without its final newline."""
    with open(os.path.join(PROMPTS_DIR, name), encoding="utf-8") as file:
        return file.read().rstrip("\n")


def _heredoc_example(shell: ShellKind) -> str:
    if shell in ("shell", "local_shell"):
        argv = ["bash", "-lc", _HEREDOC_SCRIPT]
        return "```\n" + json.dumps(argv) + "\n```"
    return "```\n" + _HEREDOC_SCRIPT + "\n```"


def _editing_guidance(apply_patch: ApplyPatchKind, shell: ShellKind) -> str:
    if apply_patch == "none" and shell == "none":
        return ""
    kind = "heredoc" if apply_patch == "none" else apply_patch
    text = prompt_file(f"apply_patch/{kind}.md")
    text = text.replace("{{heredoc_example}}", _heredoc_example(shell))
    return text.replace("{{patch_format}}", prompt_file("apply_patch/format.md"))


@functools.cache
def compose_instructions(kind: InstructionsKind, shell: ShellKind, apply_patch: ApplyPatchKind) -> str:
    """One family prompt with its sections, and the guidance for the tools it is offered."""
    text = prompt_file(f"{kind}.md")
    text = _INCLUDE.sub(lambda m: prompt_file(f"sections/{m.group(1)}.md"), text)
    text = text.replace("{{shell_tools}}", prompt_file(f"shell/{shell}.md"))
    text = text.replace("{{editing_tool}}", _editing_guidance(apply_patch, shell))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def family_instructions(family: ModelFamily, shell: ShellKind | None = None) -> str:
    """The base instructions written for `family`; `shell` when the session serves another
    shell tool than the family's own (e.g. shell_command in place of exec_command)."""
    return compose_instructions(family.instructions, shell or family.shell, family.apply_patch)


def resolve_base_instructions(
    family: ModelFamily,
    *,
    override: str | None = None,
    config_instructions: str | None = None,
    shell: ShellKind | None = None,
) -> str:
    """What goes in the request's `instructions`.

    `override` (a `base_instructions` argument, or the text of `model_instructions_file` /
    `experimental_instructions_file`) wins; then the config's `instructions` key, which
    Codex 0.147 also treats as a replacement of the base prompt; then the family's own.
    """
    if override:
        return override
    if config_instructions and config_instructions.strip():
        return config_instructions.strip()
    return family_instructions(family, shell)


# --- the person's own instructions ------------------------------------------------------


def read_personal_instructions(codex_home: Path, limit: int = PERSONAL_INSTRUCTIONS_MAX_BYTES) -> str | None:
    """`$CODEX_HOME/AGENTS.override.md` or else `$CODEX_HOME/AGENTS.md`, trimmed; None if
    neither holds text.  Read bounded (a huge or special file costs nothing) and as a
    regular file only; the first existing candidate decides, as for project docs."""
    for name in AGENTS_FILENAMES:
        candidate = Path(codex_home) / name
        try:
            data = read_regular_file(candidate, limit=limit, truncate=True)
        except FileNotFoundError:
            continue
        except OSError:
            return None
        text = data.decode("utf-8", errors="ignore").strip()
        return text or None
    return None


async def aread_personal_instructions(
    codex_home: Path, limit: int = PERSONAL_INSTRUCTIONS_MAX_BYTES
) -> str | None:
    """`read_personal_instructions` in a worker thread."""
    return await anyio.to_thread.run_sync(read_personal_instructions, codex_home, limit)


# --- project docs -----------------------------------------------------------------------


@dataclass
class ProjectDocs:
    """The joined project docs (None when there are none) and why any candidate was skipped.

    `text` trims each file; `raw_text` keeps each file as written (its trailing newline
    included), which is how the model is shown them."""

    text: str | None = None
    warnings: list[str] = field(default_factory=list)
    raw_text: str | None = None


def find_project_root(cwd: Path) -> Path | None:
    for directory in (cwd, *cwd.parents):
        if (directory / ".git").exists():
            return directory
    return None


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def discover_project_docs(cwd: Path, max_bytes: int, fallback_names: tuple[str, ...] = ()) -> ProjectDocs:
    """AGENTS.md files from the repository root down to `cwd`, joined, within `max_bytes`.

    The repository decides what these files contain, and their text goes to the model
    provider with no tool call and nothing shown to anyone, so only what the repository
    itself holds is read: a regular file whose real path is inside the root (the git root,
    or `cwd` without one).  A candidate that links outside, or that is a FIFO, device or
    socket, is skipped with a warning, and the next name in that directory is tried.  Each
    read is bounded by what is left of `max_bytes` (a huge or sparse file costs no more than
    the budget) and never blocks on a FIFO.  Call it off the event loop
    (`adiscover_project_docs`): a slow filesystem stalls only a worker thread.
    """
    docs = ProjectDocs()
    if max_bytes <= 0:
        return docs
    root = find_project_root(cwd) or cwd
    chain = [cwd]
    if root != cwd and root in cwd.parents:
        chain = [cwd, *[p for p in cwd.parents if p == root or root in p.parents]]
        chain.reverse()
    real_root = os.path.realpath(root)
    names = AGENTS_FILENAMES + tuple(fallback_names)
    parts: list[str] = []
    raw_parts: list[str] = []
    budget = max_bytes
    for directory in chain:
        for name in names:
            data = _read_doc(directory / name, real_root, budget, docs.warnings)
            if data is None:
                continue
            raw = data.decode("utf-8", errors="ignore")
            text = raw.strip()
            if text:
                parts.append(text)
                raw_parts.append(raw)
                budget -= len(data)
            break
        if budget <= 0:
            break
    docs.text = "\n\n".join(parts) if parts else None
    docs.raw_text = "\n\n".join(raw_parts) if raw_parts else None
    return docs


def _read_doc(candidate: Path, real_root: str, budget: int, warnings: list[str]) -> bytes | None:
    """The first `budget` bytes of one candidate, or None when it is absent or not usable."""
    try:
        os.lstat(candidate)
    except OSError:
        return None
    real = os.path.realpath(candidate)
    if not _within(real, real_root):
        warnings.append(
            f"{candidate} points outside the repository (to {real}); it was not read. "
            "Project docs are read only from files inside the repository."
        )
        return None
    try:
        # The resolved path, without following a link there: what was checked is what is read.
        return read_regular_file(real, limit=budget, truncate=True, follow_symlinks=False)
    except UnreadableFileError as exc:
        if not os.path.isdir(real):
            warnings.append(f"{candidate} was not read: {exc.strerror or exc}")
        return None
    except OSError:
        return None


async def adiscover_project_docs(
    cwd: Path, max_bytes: int, fallback_names: tuple[str, ...] = ()
) -> ProjectDocs:
    """`discover_project_docs` in a worker thread."""
    return await anyio.to_thread.run_sync(discover_project_docs, cwd, max_bytes, fallback_names)
