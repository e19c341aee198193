"""The context messages that open a thread, in the layout Codex 0.147 sends (pure builders).

Two messages precede the person's first prompt:

1. a `developer` message: the caller's developer instructions (if any) as its own part,
   then `<permissions instructions>`, which states the sandbox mode, the network and the
   approval policy, and under `on-request` explains escalation and `prefix_rule`;
2. one `user` message with two parts: the AGENTS.md instructions (the person's global file
   from CODEX_HOME, then the project's, each as written) and `<environment_context>`:
   `cwd`, `shell`, `current_date`, `timezone`, and `filesystem` (the workspace roots and the
   permission profile, in the reference's XML shape).

Everything here is a function of its arguments; the few facts about the machine (the
user's shell, the time zone, today's date) have their own small readers at the end.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from codex_mcp.agent.config.model import Config
from codex_mcp.agent.ids import item_id
from codex_mcp.agent.instructions import prompt_file
from codex_mcp.agent.items import text_message
from codex_mcp.sandbox.policy import ApprovalPolicy, SandboxPolicy, writable_roots_for


def escape(text: str) -> str:
    """`&`, `<` and `>` as XML entities, exactly as `xml.sax.saxutils.escape` does (that
    module's import chain, `urllib.request` and `http.client` among it, cost a first call
    several milliseconds)."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


PROTECTED_NAMES = (".git", ".agents", ".codex")
"""Kept read-only inside every writable root; listed in this order in the profile."""

_SANDBOX_TEXT = {
    "read-only": "`sandbox_mode` is `read-only`: commands can read any file but cannot write anywhere.",
    "workspace-write": "`sandbox_mode` is `workspace-write`: commands can read any file and write inside "
    "the writable roots (the working directory among them), except `.git`, `.agents` and `.codex` "
    "directly under a root. Writing anywhere else needs approval.",
    "danger-full-access": "`sandbox_mode` is `danger-full-access`: there is no sandbox; commands run "
    "with all of the user's permissions.",
}

_APPROVAL_TEXT = {
    "untrusted": "`approval_policy` is `untrusted`: commands other than a short list of known "
    "read-only ones are shown to the person, who decides whether each one runs (in the "
    "sandbox). Keep commands simple and purposeful so that each is easy to approve.",
    "on-failure": "`approval_policy` is `on-failure`: commands run in the sandbox without asking; "
    "when one fails there, the person is asked whether to run it again without the sandbox.",
    "never": "`approval_policy` is `never`: nobody can approve anything. Do not set "
    "`sandbox_permissions` to `require_escalated`; such calls are refused. When the sandbox "
    "stops you, find a way within it or say in your final answer what could not be done.",
}


def permissions_instructions(
    policy: SandboxPolicy,
    approval: ApprovalPolicy,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    proxy_mode: str | None = None,
) -> str:
    """The `<permissions instructions>` part of the developer message.

    `proxy_mode`: the network proxy's mode when commands reach hosts through it (the network
    itself restricted); the model is told how, so that it uses HTTP clients rather than
    concluding that the network is gone."""
    network = "enabled" if policy.has_network else "restricted"
    if proxy_mode is not None and not policy.has_network and not policy.is_full_access:
        how = "the person is asked about each host" if proxy_mode == "ask" else "an allow list decides"
        network += (
            f", except through a proxy ({how}; HTTP_PROXY/HTTPS_PROXY are set, so curl, pip, npm, git "
            "and most HTTP clients use it; other sockets stay blocked)"
        )
    lines = [
        "<permissions instructions>",
        f"{_SANDBOX_TEXT[policy.mode]} Network access is {network}.",
    ]
    if approval == "on-request":
        lines.append(prompt_file("permissions/on_request.md"))
    else:
        lines.append(_APPROVAL_TEXT[approval])
    if policy.mode == "workspace-write":
        roots = sorted(writable_roots_for(policy, os.fspath(cwd), env or {}, resolve=False))
        lines.append("Writable roots: " + ", ".join(f"`{r}`" for r in roots) + ".")
    lines.append("</permissions instructions>")
    return "\n".join(lines)


# --- environment context ---------------------------------------------------------------------


def _entry(access: str, *, path: str | None = None, special: str | None = None) -> str:
    inner = f"<special>{escape(special)}</special>" if special else f"<path>{escape(path or '')}</path>"
    return f'<entry access="{access}">{inner}</entry>'


def workspace_roots(policy: SandboxPolicy, cwd: str) -> list[str]:
    """The cwd, then every configured writable root (absolute, in config order)."""
    roots = [cwd]
    if policy.mode == "workspace-write":
        for raw in policy.writable_roots:
            root = os.path.normpath(os.path.join(cwd, raw))
            if root not in roots:
                roots.append(root)
    return roots


def permission_profile_xml(policy: SandboxPolicy, cwd: str) -> str:
    """`<permission_profile>`: what the file system lets commands do, as Codex 0.147 words it."""
    if policy.is_full_access:
        return '<permission_profile type="disabled"><file_system type="unrestricted" /></permission_profile>'
    if policy.readable_roots is None:
        entries = [_entry("read", special=":root")]
    else:
        entries = [_entry("read", path=os.path.normpath(p)) for p in policy.readable_roots]
    if policy.mode == "workspace-write":
        roots = workspace_roots(policy, cwd)
        entries += [_entry("write", path=root) for root in roots]
        if not policy.exclude_slash_tmp:
            entries.append(_entry("write", special=":slash_tmp"))
        if not policy.exclude_tmpdir_env_var:
            entries.append(_entry("write", special=":tmpdir"))
        for name in PROTECTED_NAMES:
            entries += [_entry("read", path=os.path.join(root, name)) for root in roots]
    return (
        '<permission_profile type="managed"><file_system type="restricted">'
        + "".join(entries)
        + "</file_system></permission_profile>"
    )


def _json_entry(access: str, *, path: str | None = None, special: str | None = None) -> dict[str, Any]:
    where: dict[str, Any] = (
        {"type": "special", "value": {"kind": special}} if special else {"type": "path", "path": path}
    )
    return {"path": where, "access": access}


def permission_profile_json(policy: SandboxPolicy, cwd: str | os.PathLike[str]) -> dict[str, Any]:
    """The same profile as `session_configured.permission_profile` carries it (JSON)."""
    if policy.is_full_access:
        return {"type": "disabled"}
    where = os.path.normpath(os.fspath(cwd))
    if policy.readable_roots is None:
        entries = [_json_entry("read", special="root")]
    else:
        entries = [_json_entry("read", path=os.path.normpath(p)) for p in policy.readable_roots]
    if policy.mode == "workspace-write":
        roots = workspace_roots(policy, where)
        entries += [_json_entry("write", path=root) for root in roots]
        if not policy.exclude_slash_tmp:
            entries.append(_json_entry("write", special="slash_tmp"))
        if not policy.exclude_tmpdir_env_var:
            entries.append(_json_entry("write", special="tmpdir"))
        for name in PROTECTED_NAMES:
            for root in roots:
                entry = _json_entry("read", path=os.path.join(root, name))
                entry["missing_path_behavior"] = "skip"
                entries.append(entry)
    return {
        "type": "managed",
        "file_system": {"type": "restricted", "entries": entries},
        "network": "enabled" if policy.has_network else "restricted",
    }


def filesystem_xml(policy: SandboxPolicy, cwd: str) -> str:
    roots = "".join(f"<root>{escape(r)}</root>" for r in workspace_roots(policy, cwd))
    profile = permission_profile_xml(policy, cwd)
    return f"<filesystem><workspace_roots>{roots}</workspace_roots>{profile}</filesystem>"


def environment_context(
    *,
    cwd: str | os.PathLike[str],
    shell: str,
    current_date: str,
    timezone: str,
    policy: SandboxPolicy,
) -> str:
    """The `<environment_context>` block, one child per line, indented two spaces."""
    where = os.path.normpath(os.fspath(cwd))
    return "\n".join(
        [
            "<environment_context>",
            f"  <cwd>{escape(where)}</cwd>",
            f"  <shell>{escape(shell)}</shell>",
            f"  <current_date>{escape(current_date)}</current_date>",
            f"  <timezone>{escape(timezone)}</timezone>",
            f"  {filesystem_xml(policy, where)}",
            "</environment_context>",
        ]
    )


# --- AGENTS.md -----------------------------------------------------------------------------

PROJECT_DOC_SEPARATOR = "\n\n--- project-doc ---\n\n"


def agents_md_text(cwd: str | os.PathLike[str], personal: str | None, project: str | None) -> str | None:
    """The AGENTS.md part: the person's global instructions (trimmed), then the project docs
    as written (their trailing newline kept).  The header names the cwd when project docs
    are included, since they are the ones that depend on it."""
    parts = []
    if personal and personal.strip():
        parts.append(personal.strip())
    if project and project.strip():
        parts.append(project)
    if not parts:
        return None
    header = "# AGENTS.md instructions"
    if project and project.strip():
        header += f" for {os.fspath(cwd)}"
    return f"{header}\n\n<INSTRUCTIONS>\n{PROJECT_DOC_SEPARATOR.join(parts)}\n</INSTRUCTIONS>"


# --- the items -----------------------------------------------------------------------------


def context_items(
    *,
    policy: SandboxPolicy,
    approval: ApprovalPolicy,
    cwd: str | os.PathLike[str],
    shell: str,
    current_date: str,
    timezone: str,
    developer_instructions: str | None = None,
    personal_instructions: str | None = None,
    project_docs: str | None = None,
    env: Mapping[str, str] | None = None,
    new_id: Callable[[str], str] | None = None,
    proxy_mode: str | None = None,
) -> list[dict[str, Any]]:
    """The developer message and the context user message of a new thread.

    `project_docs` is `ProjectDocs.raw_text`; `new_id(prefix)`, when given, gives each
    message an id (`msg_...`), as Codex does for every item it sends.
    """
    developer_parts = []
    if developer_instructions:
        developer_parts.append(developer_instructions)
    developer_parts.append(permissions_instructions(policy, approval, cwd, env, proxy_mode))
    user_parts = []
    agents = agents_md_text(cwd, personal_instructions, project_docs)
    if agents is not None:
        user_parts.append(agents)
    user_parts.append(
        environment_context(cwd=cwd, shell=shell, current_date=current_date, timezone=timezone, policy=policy)
    )
    items = [text_message("developer", *developer_parts), text_message("user", *user_parts)]
    if new_id is not None:
        items = [
            {"type": "message", "id": new_id("msg"), "role": i["role"], "content": i["content"]}
            for i in items
        ]
    return items


def thread_context_items(
    config: Config,
    *,
    personal_instructions: str | None,
    project_docs: str | None,
    env: Mapping[str, str],
    new_id: Callable[[str], str] = item_id,
) -> list[dict[str, Any]]:
    """`context_items` for a thread with `config`, on this machine, today.

    A thread resumed from its rollout gets these again without the AGENTS.md part
    (`personal_instructions` and `project_docs` None): the record says what policies it ran
    under, this says what it runs under now."""
    return context_items(
        policy=config.sandbox_policy,
        approval=config.approval_policy,
        cwd=config.cwd,
        shell=user_shell_name(env),
        current_date=today(),
        timezone=local_timezone_name(env),
        developer_instructions=config.developer_instructions,
        personal_instructions=personal_instructions,
        project_docs=project_docs,
        env=env,
        new_id=new_id,
        proxy_mode=config.network_proxy.mode if config.network_proxy.enabled else None,
    )


# --- facts about this machine --------------------------------------------------------------


def user_shell_name(env: Mapping[str, str] | None = None) -> str:
    """The user's login shell (the passwd entry, else $SHELL), by name: `bash`, `zsh`, ..."""
    try:
        shell = pwd.getpwuid(os.getuid()).pw_shell
    except (KeyError, OSError):
        shell = ""
    if not shell or shell.endswith(("/nologin", "/false")):
        shell = (os.environ if env is None else env).get("SHELL", "")
    name = Path(shell).name
    return name or "bash"


def local_timezone_name(env: Mapping[str, str] | None = None) -> str:
    """The IANA name of the local time zone: `TZ` when it names a zone (the date is computed
    in that zone too), else the /etc/localtime link, else /etc/timezone, else `Etc/UTC`."""
    tz = (os.environ if env is None else env).get("TZ", "").lstrip(":")
    if "/" in tz and not tz.startswith("/") and ".." not in tz:
        return tz
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    try:
        from codex_mcp.bounded_read import read_regular_file

        name = read_regular_file("/etc/timezone", limit=256, truncate=True).decode("ascii", "ignore").strip()
        if name:
            return name
    except OSError:
        pass
    return "Etc/UTC"


def today() -> str:
    return f"{datetime.now().astimezone():%Y-%m-%d}"
