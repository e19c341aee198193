"""The context messages of a new thread in Codex 0.147's layout (pure builders).

The `<environment_context>` strings below have the shape measured from codex-cli 0.147:
the same element names, nesting, order, escaping and whitespace.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_mcp.agent.context_items import (
    agents_md_text,
    context_items,
    environment_context,
    local_timezone_name,
    permissions_instructions,
    today,
    user_shell_name,
)
from codex_mcp.sandbox.policy import SandboxPolicy

WS = "/work/ws"


def env_ctx(policy: SandboxPolicy, cwd: str = WS) -> str:
    return environment_context(
        cwd=cwd, shell="bash", current_date="2026-12-04", timezone="Etc/UTC", policy=policy
    )


def expected(filesystem: str, cwd: str = WS) -> str:
    return (
        "<environment_context>\n"
        f"  <cwd>{cwd}</cwd>\n"
        "  <shell>bash</shell>\n"
        "  <current_date>2026-12-04</current_date>\n"
        "  <timezone>Etc/UTC</timezone>\n"
        f"  {filesystem}\n"
        "</environment_context>"
    )


def test_workspace_write_environment_context() -> None:
    assert env_ctx(SandboxPolicy(mode="workspace-write")) == expected(
        "<filesystem><workspace_roots><root>/work/ws</root></workspace_roots>"
        '<permission_profile type="managed"><file_system type="restricted">'
        '<entry access="read"><special>:root</special></entry>'
        '<entry access="write"><path>/work/ws</path></entry>'
        '<entry access="write"><special>:slash_tmp</special></entry>'
        '<entry access="write"><special>:tmpdir</special></entry>'
        '<entry access="read"><path>/work/ws/.git</path></entry>'
        '<entry access="read"><path>/work/ws/.agents</path></entry>'
        '<entry access="read"><path>/work/ws/.codex</path></entry>'
        "</file_system></permission_profile></filesystem>"
    )


def test_extra_roots_and_excluded_temp_dirs() -> None:
    policy = SandboxPolicy(
        mode="workspace-write",
        writable_roots=("/var/tmp",),
        network_access=True,
        exclude_slash_tmp=True,
        exclude_tmpdir_env_var=True,
    )
    assert env_ctx(policy) == expected(
        "<filesystem><workspace_roots><root>/work/ws</root><root>/var/tmp</root></workspace_roots>"
        '<permission_profile type="managed"><file_system type="restricted">'
        '<entry access="read"><special>:root</special></entry>'
        '<entry access="write"><path>/work/ws</path></entry>'
        '<entry access="write"><path>/var/tmp</path></entry>'
        '<entry access="read"><path>/work/ws/.git</path></entry>'
        '<entry access="read"><path>/var/tmp/.git</path></entry>'
        '<entry access="read"><path>/work/ws/.agents</path></entry>'
        '<entry access="read"><path>/var/tmp/.agents</path></entry>'
        '<entry access="read"><path>/work/ws/.codex</path></entry>'
        '<entry access="read"><path>/var/tmp/.codex</path></entry>'
        "</file_system></permission_profile></filesystem>"
    )


def test_read_only_and_full_access_profiles() -> None:
    assert env_ctx(SandboxPolicy(mode="read-only")) == expected(
        "<filesystem><workspace_roots><root>/work/ws</root></workspace_roots>"
        '<permission_profile type="managed"><file_system type="restricted">'
        '<entry access="read"><special>:root</special></entry>'
        "</file_system></permission_profile></filesystem>"
    )
    assert env_ctx(SandboxPolicy(mode="danger-full-access")) == expected(
        "<filesystem><workspace_roots><root>/work/ws</root></workspace_roots>"
        '<permission_profile type="disabled"><file_system type="unrestricted" /></permission_profile>'
        "</filesystem>"
    )


def test_restricted_reads_are_listed_instead_of_the_root() -> None:
    text = env_ctx(SandboxPolicy(mode="read-only", readable_roots=("/work/ws", "/usr")))
    assert '<entry access="read"><path>/usr</path></entry>' in text and ":root" not in text


def test_paths_are_escaped_in_the_xml() -> None:
    cwd = "/tmp/w&s<x>"
    text = env_ctx(SandboxPolicy(mode="workspace-write"), cwd)
    assert "<cwd>/tmp/w&amp;s&lt;x&gt;</cwd>" in text
    assert "<root>/tmp/w&amp;s&lt;x&gt;</root>" in text and "w&s" not in text


def test_permissions_on_request_explain_escalation_and_prefix_rules() -> None:
    text = permissions_instructions(SandboxPolicy(mode="workspace-write"), "on-request", WS, {"TMPDIR": "/t"})
    assert text.startswith("<permissions instructions>\n") and text.endswith("\n</permissions instructions>")
    for needle in ("`workspace-write`", "restricted", "require_escalated", "justification", "prefix_rule"):
        assert needle in text, needle
    assert "Writable roots: `/t`, `/tmp`, `/work/ws`." in text
    assert 2500 < len(text) < 5000


@pytest.mark.parametrize("approval", ["never", "untrusted", "on-failure"])
def test_permissions_without_escalation_guidance(approval: str) -> None:
    text = permissions_instructions(SandboxPolicy(mode="read-only"), approval, WS)  # type: ignore[arg-type]
    assert "prefix_rule" not in text and f"`{approval}`" in text and "Writable roots" not in text
    assert len(text) < 800


def test_permissions_state_network_and_full_access() -> None:
    full = permissions_instructions(SandboxPolicy(mode="danger-full-access"), "never", WS)
    assert "`danger-full-access`" in full and "Network access is enabled." in full
    net = permissions_instructions(SandboxPolicy(mode="workspace-write", network_access=True), "never", WS)
    assert "Network access is enabled." in net


def test_agents_md_text() -> None:
    project = "# Project rules\n\nUse tabs.\n"
    assert agents_md_text(WS, None, project) == (
        f"# AGENTS.md instructions for {WS}\n\n<INSTRUCTIONS>\n"
        "# Project rules\n\nUse tabs.\n\n</INSTRUCTIONS>"
    )
    assert agents_md_text(WS, "  Global.  \n", None) == (
        "# AGENTS.md instructions\n\n<INSTRUCTIONS>\nGlobal.\n</INSTRUCTIONS>"
    )
    assert agents_md_text(WS, "Global.\n", project) == (
        f"# AGENTS.md instructions for {WS}\n\n<INSTRUCTIONS>\nGlobal.\n\n--- project-doc ---\n\n"
        "# Project rules\n\nUse tabs.\n\n</INSTRUCTIONS>"
    )
    assert agents_md_text(WS, " \n", "\n") is None


def test_context_items_layout() -> None:
    policy = SandboxPolicy(mode="workspace-write")
    common = dict(policy=policy, approval="on-request", cwd=WS, shell="zsh", current_date="d", timezone="z")
    items = context_items(**common, developer_instructions="Be terse.", project_docs="rules\n")  # type: ignore[arg-type]
    developer, user = items
    assert (developer["role"], user["role"]) == ("developer", "user")
    assert [p["type"] for p in developer["content"]] == ["input_text", "input_text"]
    assert developer["content"][0]["text"] == "Be terse."
    assert developer["content"][1]["text"].startswith("<permissions instructions>")
    assert user["content"][0]["text"].startswith("# AGENTS.md instructions for")
    assert user["content"][1]["text"].startswith("<environment_context>")
    bare = context_items(**common)  # type: ignore[arg-type]
    assert [len(i["content"]) for i in bare] == [1, 1]
    ids = iter(["msg_a", "msg_b"])
    with_ids = context_items(**common, new_id=lambda prefix: next(ids))  # type: ignore[arg-type]
    assert [i["id"] for i in with_ids] == ["msg_a", "msg_b"]
    assert list(with_ids[0]) == ["type", "id", "role", "content"]


def test_machine_facts() -> None:
    assert local_timezone_name({"TZ": "Europe/Paris"}) == "Europe/Paris"
    assert local_timezone_name({"TZ": ":America/New_York"}) == "America/New_York"
    zone = local_timezone_name({"TZ": "/etc/../../evil"})
    assert ".." not in zone and zone
    login_shell = pwd.getpwuid(os.getuid()).pw_shell
    usable = login_shell and not login_shell.endswith(("/nologin", "/false"))
    assert user_shell_name({"SHELL": "/usr/bin/fish"}) == (Path(login_shell).name if usable else "fish")
    assert len(today()) == 10 and today()[4] == "-"


@given(st.text(alphabet=st.sampled_from(list("&<>\"' ;amp\u00e9x")) | st.characters(), max_size=40))
def test_escape_is_what_saxutils_escape_gives(text: str) -> None:
    from xml.sax.saxutils import escape as standard

    from codex_mcp.agent.context_items import escape

    assert escape(text) == standard(text)
