"""Files a patch reads are the workspace's, which a sandboxed command controls: a FIFO, a
symlink to a device or /proc, a huge sparse file, a giant patch.  None of them may block the
server (it answers `ping` throughout) or grow its memory: each is a clean error.

The hostile files are made by the model's own sandboxed command, under both backends.  The
server runs under an address-space limit, so a regression fails the test, not the machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.harness import assert_alive, run_call
from tests.security.policy_support import (
    BACKENDS,
    add_file,
    assert_clean,
    delete_file,
    limit_address_space,
    patch,
    peak_rss_kib,
    require_backend,
    update_file,
)
from tests.support.raw_client import RawClient, text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

CALL = {"prompt": "go", "approval-policy": "never", "sandbox": "workspace-write"}
ADDRESS_SPACE_LIMIT = 4 << 30
PEAK_RSS_LIMIT_KIB = 400 * 1024


@pytest.fixture(params=BACKENDS)
def backend_env(request: pytest.FixtureRequest) -> dict[str, str]:
    return require_backend(request.param)


def _bounded_server(spawn_server: ServerFactory, env: dict[str, str]) -> RawClient:
    client = spawn_server(policy="decline", env=env)
    limit_address_space(client.proc.pid, ADDRESS_SPACE_LIMIT)
    return client


HOSTILE = {
    "fifo": "mkfifo target.txt",
    "fifo-behind-symlink": "mkfifo real.fifo && ln -s real.fifo target.txt",
    "dev-zero": "ln -s /dev/zero target.txt",
    "dev-urandom": "ln -s /dev/urandom target.txt",
    "proc-environ": "ln -s /proc/self/environ target.txt",
    "sparse-100G": "truncate -s 100G target.txt",
    "directory": "mkdir target.txt",
}
PATCHES = {
    "update": update_file("target.txt", "a", "b"),
    "delete": delete_file("target.txt"),
    "move": patch("*** Update File: target.txt", "*** Move to: moved.txt", "@@", "-a", "+b"),
}


@pytest.mark.parametrize("kind", sorted(PATCHES))
@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_patch_on_a_hostile_file_is_a_clean_error(
    hostile: str,
    kind: str,
    backend_env: dict[str, str],
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
) -> None:
    setup = scripted_model.shell(["bash", "-c", HOSTILE[hostile]])
    call = scripted_model.apply_patch(PATCHES[kind])
    scripted_model.text("done")
    client = _bounded_server(spawn_server, backend_env)
    result = run_call(client, approval="never", timeout=60)
    assert_clean(client, result)
    assert '"exit_code":0' in scripted_model.call_output(setup), "the hostile file was not made"
    output = scripted_model.call_output(call)
    assert output.startswith("apply_patch verification failed"), output
    assert "MOCK_API_KEY" not in output and "test-key" not in output
    assert not (workspace / "moved.txt").exists()
    assert peak_rss_kib(client.proc.pid) < PEAK_RSS_LIMIT_KIB


def test_ping_is_answered_while_a_patch_meets_a_fifo(
    backend_env: dict[str, str], scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.shell(["mkfifo", "pipe.txt"])
    call = scripted_model.apply_patch(update_file("pipe.txt", "a", "b"))
    scripted_model.shell(["bash", "-c", "echo after"])
    scripted_model.text("done")
    client = _bounded_server(spawn_server, backend_env)
    rid = client.call_tool(
        "codex", {"prompt": "go", "approval-policy": "never", "sandbox": "workspace-write"}
    )
    scripted_model.wait_requests(2, timeout=30)  # the patch call has just been handed to the server
    assert_alive(client)
    result = client.wait_response(rid, 60)
    assert_clean(client, result["result"])
    assert "not a regular file" in scripted_model.call_output(call)


def test_turn_diff_of_a_file_replaced_by_a_fifo_or_device_after_the_patch(
    backend_env: dict[str, str], scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    """The turn diff re-reads every patched file at the end of the turn (the last one, after
    the command replaced them; the first, right after the patch, still shows the text)."""
    scripted_model.apply_patch(patch("*** Add File: a.txt", "+a", "*** Add File: b.txt", "+b"))
    scripted_model.shell(["bash", "-c", "rm a.txt && mkfifo a.txt && ln -sf /dev/zero b.txt"])
    scripted_model.text("done")
    client = _bounded_server(spawn_server, backend_env)
    rid = client.call_tool(
        "codex", {"prompt": "go", "approval-policy": "never", "sandbox": "workspace-write"}
    )
    result = client.wait_response(rid, 60)["result"]
    assert_clean(client, result)
    assert text_of(result) == "done"
    diffs = [e["msg"]["unified_diff"] for e in client.events_for(rid) if e["msg"]["type"] == "turn_diff"]
    assert diffs and "a.txt" in diffs[-1] and "contents not shown" in diffs[-1]
    assert peak_rss_kib(client.proc.pid) < PEAK_RSS_LIMIT_KIB


# --- caps on what the model sends ------------------------------------------------------------------


def test_patch_over_the_size_cap_is_refused(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    line = "x" * 1023
    big = patch("*** Add File: big.txt", *(f"+{line}" for _ in range(5 * 1024)))
    call = scripted_model.apply_patch(big)
    scripted_model.text("done")
    client = _bounded_server(spawn_server, {})
    assert_clean(client, run_call(client, approval="never", timeout=60))
    output = scripted_model.call_output(call)
    assert "4194304" in output and "refused" in output, output[:500]
    assert not (workspace / "big.txt").exists()


def test_patch_text_cap_counts_bytes() -> None:
    """Within the call cap in characters, the patch cap still holds in UTF-8 bytes."""
    from codex_mcp.agent.apply_patch import ApplyPatchError, parse_patch
    from codex_mcp.agent.apply_patch.limits import MAX_PATCH_BYTES

    wide = "\u00e9" * 1023
    text = patch("*** Add File: big.txt", *(f"+{wide}" for _ in range(MAX_PATCH_BYTES // 2048 + 8)))
    assert len(text) <= MAX_PATCH_BYTES < len(text.encode("utf-8"))
    with pytest.raises(ApplyPatchError, match="over the limit"):
        parse_patch(text)


def test_patch_touching_too_many_files_is_refused(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    body = [line for i in range(600) for line in (f"*** Add File: many/f{i}.txt", "+x")]
    call = scripted_model.apply_patch(patch(*body))
    scripted_model.text("done")
    client = _bounded_server(spawn_server, {})
    assert_clean(client, run_call(client, approval="never", timeout=60))
    assert "600 files" in scripted_model.call_output(call)
    assert not (workspace / "many").exists()


def test_files_read_together_over_the_budget_are_refused(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    for i in range(5):
        (workspace / f"f{i}.txt").write_bytes(b"a\n" + b"y" * (15 << 20) + b"\n")
    body = [line for i in range(5) for line in (f"*** Update File: f{i}.txt", "@@", "-a", "+b")]
    call = scripted_model.apply_patch(patch(*body))
    scripted_model.text("done")
    client = _bounded_server(spawn_server, {})
    assert_clean(client, run_call(client, approval="never", timeout=60))
    assert "together" in scripted_model.call_output(call)
    assert all((workspace / f"f{i}.txt").read_bytes().startswith(b"a\n") for i in range(5))


def test_adding_a_file_over_a_fifo_replaces_it_without_blocking(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    scripted_model.shell(["mkfifo", "slot.txt"])
    call = scripted_model.apply_patch(add_file("slot.txt", "now a file"))
    scripted_model.text("done")
    client = _bounded_server(spawn_server, {})
    assert_clean(client, run_call(client, approval="never", timeout=60))
    assert "Success." in scripted_model.call_output(call)
    assert (workspace / "slot.txt").read_text() == "now a file\n"
