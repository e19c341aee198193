"""What the model is told besides the user's prompt: base instructions and context messages.

The base prompt is ours (`prompts/base.md`).  Around the first prompt of a thread the
model gets, in order: a developer message with its permissions (and the caller's
developer instructions as a separate part), the project's AGENTS.md files, and an
`<environment_context>` block.  Each is a plain Responses `message` item so it is stored in
the history and rollout like any other.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import anyio.to_thread

from codex_mcp.agent.config.model import Config
from codex_mcp.agent.items import text_message
from codex_mcp.bounded_read import UnreadableFileError, read_regular_file

AGENTS_FILENAMES = ("AGENTS.override.md", "AGENTS.md")


@functools.cache
def default_base_instructions() -> str:
    return resources.files("codex_mcp.agent").joinpath("prompts/base.md").read_text(encoding="utf-8")


def base_instructions(config: Config) -> str:
    return config.base_instructions if config.base_instructions else default_base_instructions()


# --- project docs -----------------------------------------------------------------------


@dataclass
class ProjectDocs:
    """The joined project docs (None when there are none) and why any candidate was skipped."""

    text: str | None = None
    warnings: list[str] = field(default_factory=list)


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
    budget = max_bytes
    for directory in chain:
        for name in names:
            data = _read_doc(directory / name, real_root, budget, docs.warnings)
            if data is None:
                continue
            text = data.decode("utf-8", errors="ignore").strip()
            if text:
                parts.append(text)
                budget -= len(data)
            break
        if budget <= 0:
            break
    docs.text = "\n\n".join(parts) if parts else None
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


# --- context messages -------------------------------------------------------------------

_POLICY_TEXT = {
    "untrusted": "Commands that are not known to be read-only need the user's approval before they run.",
    "on-failure": "Commands run in the sandbox; if one fails there, you may be asked whether to retry "
    "it without the sandbox.",
    "on-request": "Commands run in the sandbox. When one needs more access, call it with "
    "`with_escalated_permissions: true` and a one-sentence `justification`; the user decides.",
    "never": "Nobody can approve anything: never ask for approval. Work within the sandbox, and if "
    "something cannot be done within it, say so in your final message.",
}

_SANDBOX_TEXT = {
    "read-only": "The sandbox is read-only: you can read any file, but commands cannot write files.",
    "workspace-write": "The sandbox lets commands write inside the working directory{roots} and temp "
    "directories; everything else is read-only.",
    "danger-full-access": "There is no sandbox: commands run with the user's full permissions.",
}


def permissions_text(config: Config) -> str:
    policy = config.sandbox_policy
    roots = ""
    if policy.writable_roots:
        roots = " and in " + ", ".join(f"`{r}`" for r in policy.writable_roots)
    sandbox = _SANDBOX_TEXT[policy.mode].format(roots=roots)
    network = "enabled" if policy.has_network else "restricted"
    return (
        "<permissions>\n"
        f"sandbox_mode: {policy.mode}. {sandbox}\n"
        f"network_access: {network}.\n"
        f"approval_policy: {config.approval_policy}. {_POLICY_TEXT[config.approval_policy]}\n"
        "</permissions>"
    )


def environment_context(config: Config) -> str:
    policy = config.sandbox_policy
    lines = [
        "<environment_context>",
        f"  <cwd>{config.cwd}</cwd>",
        f"  <approval_policy>{config.approval_policy}</approval_policy>",
        f"  <sandbox_mode>{policy.mode}</sandbox_mode>",
        f"  <network_access>{'enabled' if policy.has_network else 'restricted'}</network_access>",
    ]
    if policy.mode == "workspace-write":
        lines.append("  <writable_roots>")
        for root in (str(config.cwd), *policy.writable_roots):
            lines.append(f"    <root>{root}</root>")
        lines.append("  </writable_roots>")
    shell = Path(os.environ.get("SHELL") or "/bin/bash").name
    lines += [
        f"  <shell>{shell}</shell>",
        f"  <current_date>{datetime.now().astimezone():%Y-%m-%d}</current_date>",
        "</environment_context>",
    ]
    return "\n".join(lines)


def initial_context_items(config: Config, project_docs: str | None = None) -> list[dict[str, Any]]:
    """The context messages of a new thread; `project_docs` as `adiscover_project_docs` found them."""
    developer_parts = [permissions_text(config)]
    if config.developer_instructions:
        developer_parts.append(config.developer_instructions)
    items = [text_message("developer", *developer_parts)]
    user_docs = []
    if config.user_instructions:
        user_docs.append(config.user_instructions.strip())
    if project_docs:
        user_docs.append(project_docs)
    if user_docs:
        body = "\n\n".join(user_docs)
        items.append(
            text_message(
                "user",
                f"# AGENTS.md instructions for {config.cwd}\n\n<INSTRUCTIONS>\n{body}\n</INSTRUCTIONS>",
            )
        )
    items.append(text_message("user", environment_context(config)))
    return items
