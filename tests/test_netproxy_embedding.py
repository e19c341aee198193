"""The network proxy through the embedding API: a network approval reaches `Thread.run`'s
handler as an `ApprovalRequest` of kind `network`, the turn's result carries its traffic, and
closing the thread ends the proxy (a later command of the same proxy gets nowhere)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codex_mcp import ApprovalRequest, Codex
from codex_mcp.sandbox import probe_backends
from tests.security.netproxy_support import ORIGIN_IP, http_origin
from tests.support.model_wire import responses_events, sse_reply
from tests.support.scripted_model import ScriptedModel
from tests.test_embedding import ENV, config, shell_call

pytestmark = [pytest.mark.e2e, pytest.mark.anyio, pytest.mark.sandbox]


@pytest.fixture
def home(tmp_path: Path, mock: ScriptedModel) -> Path:
    if "bwrap" not in probe_backends().available():
        pytest.skip("bwrap is not available")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "mock-model"\nmodel_provider = "mock"\n'
        "[model_providers.mock]\n"
        f'name = "mock"\nbase_url = "{mock.base_url}"\nenv_key = "MOCK_KEY"\nwire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\n"
        # /tmp out of the writable roots: another program's `/tmp/.git` coming and going
        # would otherwise become a carve-out of this sandbox while it is being set up.
        "[sandbox_workspace_write]\nexclude_slash_tmp = true\nexclude_tmpdir_env_var = true\n"
        f'[network_proxy]\nmode = "ask"\nallow_local = ["{ORIGIN_IP}"]\n'
        f'[network_proxy.hosts]\n"origin.test" = "{ORIGIN_IP}"\n'
    )
    return home


async def test_run_sees_network_approvals_and_reports_the_traffic(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    seen: list[ApprovalRequest] = []

    async def decide(request: ApprovalRequest) -> Any:
        seen.append(request)
        return "approved"

    with http_origin() as origin:
        url = origin.url("origin.test", "/embedded")
        mock.script(
            sse_reply(shell_call(f"curl -sS {url}", "c1")),
            sse_reply(responses_events("fetched")),
        )
        async with Codex(env=ENV) as codex:
            thread = await codex.start_thread(config(home, tmp_path, sandbox_mode="workspace-write"))
            result = await thread.run("fetch it", on_approval=decide)
            await thread.close()
    ran = [e.msg for e in result.events if e.type == "exec_command_end"]
    assert result.status == "completed" and origin.hits == ["/embedded"], ran
    (request,) = seen
    assert request.kind == "network"
    assert request.network == {"host": "origin.test", "port": origin.port, "protocol": "http"}
    (host,) = result.network
    assert host["host"] == "origin.test" and host["connections"] == 1 and host["bytes_received"] > 0
