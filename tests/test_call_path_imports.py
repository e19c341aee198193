"""The import budget of the start and first-call path, checked on a real server.

A server runs a handshake and one `codex` call with the warm-up switched off, and reports
which modules were loaded when the handshake ended and when it exited.  Two budgets:

* nothing heavy anywhere on the path: pydantic and the generated MCP models (the hand paths
  in `tools/call_args.py` and friends stand in for them), jsonschema, httpx and what it
  drags in (the model client has its own transport when no proxy is configured), the code
  generators;
* everything the first call imports is imported by the warm-up (`prewarm.warm_call_path`,
  which the split start runs while the handshake child answers the client), so a call sent
  at the handshake instant finds it loaded.

Speed itself is measured in `bench/` (`first_call`, `first_call_phases`).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.http_proxy import HttpProxy
from tests.support.raw_client import RawClient, result_of, text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import initialize, server_env

pytestmark = pytest.mark.timeout(60)

HEAVY_PACKAGES = (
    "pydantic",
    "pydantic_core",
    "jsonschema",
    "click",
    "rich",
    "pygments",
    "mcp_types_gen",
    # The model client's own transport stands in for httpx, behind a proxy from the
    # environment too (the `proxied` variant); httpx alone costs a first call ~30 ms.
    "httpx",
    "httpcore",
    "h11",
)
HEAVY_MODULES = (
    "codex_mcp.mcp_types",
    "codex_mcp.tools.args",
    "codex_mcp._generated.mcp_2025_06_18",
    "codex_mcp._generated.mcp_2025_11_25",
    "httpx._main",
)
ASYNC_AND_HTTP = ("anyio", "httpx", "httpcore", "h11")
TOOL_PATH = (
    "codex_mcp.agent.exec.runner",
    "codex_mcp.agent.exec.unified",
    "codex_mcp.agent.exec.spawn",
    "codex_mcp.sandbox.container",
    "codex_mcp.sandbox.landlock",
    "codex_mcp.sandbox.select",
    "codex_mcp.agent.apply_patch.apply",
    "codex_mcp.agent.apply_patch.parser",
    "codex_mcp.agent.handlers.exec_command",
    "codex_mcp.agent.handlers.command_gate",
)
"""What only a tool call needs (the handlers, the exec machinery, the sandbox backends, the
patch engine): a call that runs no tool must not load it."""
OFF_THE_CALL_PATH = (
    "uuid",
    "xml",
    "difflib",
    "secrets",
    "shlex",
    "codex_mcp.sandbox.netproxy.service",
    "codex_mcp.sandbox.netproxy.conn",
    "codex_mcp.sandbox.netproxy.wire",
    "codex_mcp.sandbox.netproxy.resolver",
    "codex_mcp.sandbox.netbridge",
    "codex_mcp.agent.events.payloads",
    "codex_mcp.agent.protocol",
    "codex_mcp.agent.handlers.images",
    "codex_mcp.tools.approvals",
    "codex_mcp.server_tasks",
    "codex_mcp.tools.tasks",
    "codex_mcp.tools.route",
    # What httpx used to bring; the model client's own transport needs none of it.
    "platform",
    "email",
    "http.client",
    "http.cookiejar",
    "urllib.request",
    "random",
    "hashlib",
    "tempfile",
    "mimetypes",
)
"""Modules a call that runs no tool has no use for, each a measurable part of a first call
(`bench/bench_first_call.py`): `uuid` runs `platform` at import (our ids come from
`codex_mcp.uuids`); `xml.sax.saxutils` imports `urllib.request` for a three-line escape;
`difflib` only diffs files a patch changed; `secrets` (with `hmac`) names tasks; `shlex`
shows commands; the network proxy is made for the first command that needs it (its
settings, `netproxy.rules`, belong to the config); the event payload types are for type
checking only; the ops and input classes of `protocol` (and the image reader) serve the
embedding API, a call's prompt is text; the approval forms wait for the first question; the
task machinery for the first task-augmented call or `tasks/*` request.  Each name covers its
submodules."""

DRIVER = """
import json, os, sys
import codex_mcp.prewarm as prewarm
prewarm.start_warm_up = lambda: None
import codex_mcp.handshake as handshake
real = handshake.run_handshake
seen = {}
def loaded():
    return sorted(name for name, module in sys.modules.items() if module is not None)
def probed(*args, **kwargs):
    out = real(*args, **kwargs)
    seen["handshake"] = loaded()
    return out
handshake.run_handshake = probed
import codex_mcp.cli as cli
real_exit = cli.exit_now
def probed_exit(code):
    with open(os.environ["PROBE_OUT"], "w") as f:
        json.dump({"handshake": seen.get("handshake", []), "exit": loaded()}, f)
    real_exit(code)
cli.exit_now = probed_exit
sys.exit(cli.main([]))
"""


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY_PACKAGES or m in HEAVY_MODULES]


@pytest.fixture(params=["direct", "proxied"])
def probed_call(
    scripted_model: ScriptedModel, codex_home: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[dict[str, list[str]]]:
    """The modules loaded at the end of the handshake and at exit, of a one-process server
    without warm-up that served one `codex` call: straight to the model, or (on Linux, where
    the environment holds the proxy settings) through an HTTP proxy from `HTTP_PROXY`, which
    our transport speaks without httpx."""
    if request.param == "proxied" and not sys.platform.startswith("linux"):
        pytest.skip("macOS and Windows use httpx for their system proxy settings")
    scripted_model.text("ok")
    out = tmp_path / "modules.json"
    env = server_env(codex_home)
    env.update(PROBE_OUT=str(out), CODEX_MCP_SPLIT_START="0")
    with contextlib.ExitStack() as stack:
        if request.param == "proxied":
            proxy = stack.enter_context(HttpProxy())
            env.update(
                HTTP_PROXY=proxy.url("user", "pw"),
                HTTPS_PROXY=proxy.url("user", "pw"),
                NO_PROXY="",
                no_proxy="",
            )
        probed = _probe(env, out, tmp_path)
        if request.param == "proxied":
            assert len(proxy.forwarded) == 1, "the call did not go through the proxy"
    yield probed


def _probe(env: dict[str, str], out: Path, tmp_path: Path) -> dict[str, list[str]]:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    client = RawClient(
        [sys.executable, "-c", DRIVER], env=env, cwd=workspace, log_path=tmp_path / "server.log"
    )
    try:
        initialize(client)
        client.call("tools/list")
        rid = client.call_tool("codex", {"prompt": "hi", "sandbox": "danger-full-access"})
        assert text_of(result_of(client.wait_response(rid))) == "ok"
        client.close_stdin()
        assert client.wait_exit(30) == 0, client.stderr_tail()
    finally:
        client.kill()
    loaded: dict[str, list[str]] = json.loads(out.read_text())
    return loaded


def test_nothing_heavy_is_loaded_on_the_way_to_the_first_result(probed_call: dict[str, list[str]]) -> None:
    assert _heavy(probed_call["exit"]) == []


def test_a_call_that_runs_no_tool_loads_no_tool_machinery(probed_call: dict[str, list[str]]) -> None:
    assert [m for m in probed_call["exit"] if m in TOOL_PATH] == []


def test_a_call_that_runs_no_tool_loads_nothing_it_does_not_use(probed_call: dict[str, list[str]]) -> None:
    off = tuple(name + "." for name in OFF_THE_CALL_PATH)
    assert [m for m in probed_call["exit"] if m in OFF_THE_CALL_PATH or m.startswith(off)] == []


def test_the_start_path_loads_neither_the_event_loop_nor_the_http_client(
    probed_call: dict[str, list[str]],
) -> None:
    assert [m for m in probed_call["handshake"] if m.split(".")[0] in ASYNC_AND_HTTP] == []


def test_the_warm_up_loads_everything_the_first_call_needs(probed_call: dict[str, list[str]]) -> None:
    code = (
        "import json, sys\n"
        "from codex_mcp.cli import skip_httpx_command_line\n"
        "from codex_mcp.prewarm import warm_call_path\n"
        "skip_httpx_command_line()\n"
        "warm_call_path()\n"
        "print(json.dumps(sorted(k for k, v in sys.modules.items() if v is not None)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    warmed = set(json.loads(proc.stdout))
    call_path = set(probed_call["exit"]) - set(probed_call["handshake"])
    assert sorted(call_path - warmed) == []
    assert _heavy(sorted(warmed)) == []
