"""The embedding API (`codex_mcp.Codex`) without MCP: real HTTP mock, real threads, real files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_mcp import ApprovalRequest, Codex, Event, ExecApprovalOp, ThreadNotFound, load_config
from codex_mcp.agent.config import CallOverrides
from tests.support.model_wire import responses_events, sse_reply
from tests.support.scripted_model import ScriptedModel

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


@pytest.fixture
def home(tmp_path: Path, mock: ScriptedModel) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        'model = "mock-model"\nmodel_provider = "mock"\n'
        "[model_providers.mock]\n"
        f'name = "mock"\nbase_url = "{mock.base_url}"\nenv_key = "MOCK_KEY"\nwire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\n"
    )
    return home


ENV = {"MOCK_KEY": "k", "PATH": "/usr/bin:/bin"}


def shell_call(command: str, call_id: str) -> list[dict[str, Any]]:
    item = {
        "type": "function_call",
        "name": "shell",
        "call_id": call_id,
        "arguments": json.dumps({"command": ["bash", "-lc", command]}),
    }
    return [
        {"type": "response.created", "response": {"id": "r"}},
        {"type": "response.output_item.done", "item": item},
        {"type": "response.completed", "response": {"id": "r"}},
    ]


def config(home: Path, tmp_path: Path, **typed: Any) -> Any:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return load_config(home, cwd=work, typed=CallOverrides(**typed), env=ENV)


async def collect(thread: Any, prompt: str) -> list[Event]:
    out: list[Event] = []
    with anyio.fail_after(20):
        async with thread.turn(prompt) as events:
            async for event in events:
                out.append(event)
    return out


async def test_a_turn_streams_events_and_ends_with_task_complete(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    mock.script(sse_reply(responses_events("embedded hello")))
    async with Codex(env=ENV) as codex:
        thread = await codex.start_thread(config(home, tmp_path))
        assert thread.session_configured.msg["type"] == "session_configured"
        events = await collect(thread, "hi")
    types = [e.type for e in events]
    # Warnings (here: the unknown model) come first, before the turn starts, as in Codex.
    started = types.index("task_started")
    assert set(types[:started]) <= {"warning"} and types[-1] == "task_complete"
    assert events[-1].msg["last_agent_message"] == "embedded hello"
    assert all(e.id == events[0].id for e in events), "every event carries its turn id"
    body = mock.requests_to("/responses")[0].json
    assert body["model"] == "mock-model" and body["prompt_cache_key"] == thread.thread_id


async def test_exec_approval_is_an_event_answered_with_an_op(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    mock.script(sse_reply(shell_call("echo approved > out.txt", "c1")), sse_reply(responses_events("done")))
    cfg = config(home, tmp_path, approval_policy="untrusted", sandbox_mode="danger-full-access")
    async with Codex(env=ENV) as codex:
        thread = await codex.start_thread(cfg)
        seen: list[str] = []
        with anyio.fail_after(20):
            async with thread.turn("write it") as events:
                async for event in events:
                    seen.append(event.type)
                    if event.type == "exec_approval_request":
                        assert event.msg["command"] == ["bash", "-lc", "echo approved > out.txt"]
                        await thread.submit(ExecApprovalOp(event.msg["call_id"], "approved"))
    assert "exec_command_end" in seen and seen[-1] == "task_complete"
    assert (cfg.cwd / "out.txt").read_text() == "approved\n"


async def test_a_thread_resumes_from_its_rollout_in_a_new_codex(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    mock.script(sse_reply(responses_events("first answer")), sse_reply(responses_events("second answer")))
    cfg = config(home, tmp_path)
    async with Codex(codex_home=home, env=ENV) as codex:
        thread = await codex.start_thread(cfg)
        await collect(thread, "remember KIWI")
        thread_id = thread.thread_id
    async with Codex(codex_home=home, env=ENV) as codex:
        with pytest.raises(ThreadNotFound):
            await codex.resume_thread("00000000-0000-0000-0000-000000000000")
        resumed = await codex.resume_thread(thread_id)
        assert resumed.config.cwd == cfg.cwd, "the recorded working directory is kept"
        events = await collect(resumed, "what was it?")
    assert events[-1].msg["last_agent_message"] == "second answer"
    texts = json.dumps(mock.requests_to("/responses")[1].json["input"])
    assert "remember KIWI" in texts and "first answer" in texts and "what was it?" in texts


async def test_interrupt_aborts_the_turn_and_the_thread_stays_usable(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    mock.script(sse_reply(shell_call("sleep 30", "c2")), sse_reply(responses_events("after")))
    cfg = config(home, tmp_path, approval_policy="never", sandbox_mode="danger-full-access")
    async with Codex(env=ENV) as codex:
        thread = await codex.start_thread(cfg)
        types: list[str] = []
        with anyio.fail_after(20):
            async with thread.turn("sleep") as events:
                async for event in events:
                    types.append(event.type)
                    if event.type == "exec_command_begin":
                        thread.interrupt()
        assert types[-1] == "turn_aborted"
        events = await collect(thread, "again")
    assert events[-1].msg["last_agent_message"] == "after"
    # The aborted call got an output, so the history stays valid for the API.
    outputs = [i for i in mock.requests_to("/responses")[1].json["input"] if i.get("call_id") == "c2"]
    assert [o["type"] for o in outputs] == ["function_call", "function_call_output"]


async def test_notify_program_gets_the_turn_complete_json(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    out = tmp_path / "notified.json"
    script = f"import sys; open({str(out)!r}, 'w').write(sys.argv[-1])"
    text = (home / "config.toml").read_text()
    (home / "config.toml").write_text(f"notify = {json.dumps([sys.executable, '-c', script])}\n" + text)
    mock.script(sse_reply(responses_events("notified answer")))
    async with Codex(env=ENV) as codex:
        thread = await codex.start_thread(config(home, tmp_path))
        await collect(thread, "ping me")
    # Leaving `async with Codex` waits for the notify task: the file is complete here.
    payload = json.loads(out.read_text())
    assert payload["type"] == "agent-turn-complete"
    assert payload["thread-id"] == thread.thread_id
    assert payload["input-messages"] == ["ping me"]
    assert payload["last-assistant-message"] == "notified answer"


async def test_context_window_overflow_compacts_and_retries(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    from tests.support.model_wire import error_reply

    mock.script(
        sse_reply(responses_events("early answer")),
        error_reply(400, "too long", "invalid_request_error", code="context_length_exceeded"),
        sse_reply(responses_events("SUMMARY-OF-EVERYTHING")),
        sse_reply(responses_events("answer after compaction")),
    )
    async with Codex(env=ENV) as codex:
        thread = await codex.start_thread(config(home, tmp_path))
        await collect(thread, "EARLY PROMPT")
        events = await collect(thread, "LATE PROMPT")
        rollout = thread.rollout_path.read_text()
    types = [e.type for e in events]
    assert "context_compacted" in types and types[-1] == "task_complete"
    assert events[-1].msg["last_agent_message"] == "answer after compaction"
    requests = [r.json for r in mock.requests_to("/responses")]
    assert len(requests) == 4
    summary_request, retried = requests[2], requests[3]
    assert summary_request["tools"] == [] and "hand-off note" in json.dumps(summary_request["input"])
    retried_text = json.dumps(retried["input"])
    assert "SUMMARY-OF-EVERYTHING" in retried_text and "LATE PROMPT" in retried_text
    assert "early answer" not in retried_text, "the compacted history still holds old answers"
    assert '"type": "compacted"' in rollout


async def test_idle_threads_beyond_the_cap_are_dropped_and_resume_from_their_rollout(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    mock.script(*(sse_reply(responses_events(f"answer {i}")) for i in range(4)))
    cfg = config(home, tmp_path)
    async with Codex(codex_home=home, env=ENV, max_idle_threads=1) as codex:
        first = await codex.start_thread(cfg)
        await collect(first, "first thread, remember MANGO")
        second = await codex.start_thread(cfg)
        await collect(second, "second thread")
        assert codex.get_thread(first.thread_id) is None, "the older idle thread should be dropped"
        assert codex.get_thread(second.thread_id) is second
        resumed = await codex.resume_thread(first.thread_id)
        assert resumed is not first
        events = await collect(resumed, "what was it?")
    assert events[-1].msg["last_agent_message"] == "answer 2"
    assert "remember MANGO" in json.dumps(mock.requests_to("/responses")[2].json["input"])


def patch_call(patch: str, call_id: str) -> list[dict[str, Any]]:
    item = {"type": "custom_tool_call", "name": "apply_patch", "call_id": call_id, "input": patch}
    return [
        {"type": "response.created", "response": {"id": "r"}},
        {"type": "response.output_item.done", "item": item},
        {"type": "response.completed", "response": {"id": "r"}},
    ]


async def test_start_thread_from_settings_and_run_returns_message_diff_and_usage(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    patch = "*** Begin Patch\n*** Add File: notes.txt\n+hello from the turn\n*** End Patch\n"
    mock.script(sse_reply(patch_call(patch, "p1")), sse_reply(responses_events("patched it")))
    async with Codex(codex_home=home, cwd=work, env=ENV) as codex:
        thread = await codex.start_thread(sandbox="workspace-write", approval_policy="never")
        assert thread.config.cwd == work and thread.config.sandbox_policy.mode == "workspace-write"
        with anyio.fail_after(20):
            result = await thread.run("add a note")
    assert result.status == "completed" and result.error is None
    assert result.final_message == "patched it"
    assert "+hello from the turn" in result.diff and "notes.txt" in result.diff
    assert result.usage.total_tokens == 15, "the mock reports 15 tokens for the answering request"
    assert [e.type for e in result.events][-1] == "task_complete"
    assert (work / "notes.txt").read_text() == "hello from the turn\n"


async def test_run_denies_approvals_without_a_handler_and_asks_the_handler_when_given(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    mock.script(
        sse_reply(shell_call("echo one > one.txt", "c1")),
        sse_reply(responses_events("first done")),
        sse_reply(shell_call("echo two > two.txt", "c2")),
        sse_reply(responses_events("second done")),
    )
    cfg = config(home, tmp_path, approval_policy="untrusted", sandbox_mode="danger-full-access")
    asked: list[ApprovalRequest] = []

    async def approve(request: ApprovalRequest) -> Any:
        asked.append(request)
        return "approved"

    async with Codex(env=ENV) as codex:
        thread = await codex.start_thread(cfg)
        with anyio.fail_after(20):
            denied = await thread.run("write one")
            allowed = await thread.run("write two", on_approval=approve)
    assert denied.status == "completed" and not (cfg.cwd / "one.txt").exists()
    output = mock.requests_to("/responses")[1].json["input"][-1]
    assert output["call_id"] == "c1" and "rejected" in output["output"]
    assert [r.command for r in asked] == [["bash", "-lc", "echo two > two.txt"]]
    assert asked[0].kind == "exec" and asked[0].call_id == "c2"
    assert allowed.final_message == "second done" and (cfg.cwd / "two.txt").read_text() == "two\n"


async def test_leaving_a_turn_block_early_interrupts_the_turn_and_waits_for_it(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    marker = tmp_path / "still-running"
    mock.script(
        sse_reply(shell_call(f"sleep 30; touch {marker}", "c1")),
        sse_reply(responses_events("after the break")),
    )
    cfg = config(home, tmp_path, approval_policy="never", sandbox_mode="danger-full-access")
    async with Codex(env=ENV) as codex:
        thread = await codex.start_thread(cfg)
        with anyio.fail_after(20):
            async with thread.turn("sleep") as events:
                async for event in events:
                    if event.type == "exec_command_begin":
                        break
            # The block has ended: the turn is over, not merely told to stop.
            assert not thread.busy
            rollout = thread.rollout_path.read_text()
            assert '"turn_aborted"' in rollout
            result = await thread.run("again")
    assert result.final_message == "after the break"
    assert not marker.exists(), "the interrupted command must not go on running"
    outputs = [i for i in mock.requests_to("/responses")[1].json["input"] if i.get("call_id") == "c1"]
    assert [o["type"] for o in outputs] == ["function_call", "function_call_output"]


async def test_an_approval_left_unanswered_ends_with_the_block_and_nothing_runs(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    mock.script(sse_reply(shell_call("echo ran > ran.txt", "c1")), sse_reply(responses_events("later")))
    cfg = config(home, tmp_path, approval_policy="untrusted", sandbox_mode="danger-full-access")
    async with Codex(env=ENV) as codex:
        thread = await codex.start_thread(cfg)
        with anyio.fail_after(20):
            async with thread.turn("write it") as events:
                async for event in events:
                    if isinstance(event, ApprovalRequest):
                        break  # never answered
            assert not thread.busy
            request = event
            request.approve()  # too late: the turn is gone, the answer is ignored
            later = await thread.run("next")
    assert later.final_message == "later"
    assert not (cfg.cwd / "ran.txt").exists()


async def test_approval_helpers_answer_without_ops(home: Path, tmp_path: Path, mock: ScriptedModel) -> None:
    mock.script(sse_reply(shell_call("echo yes > yes.txt", "c1")), sse_reply(responses_events("ok")))
    cfg = config(home, tmp_path, approval_policy="untrusted", sandbox_mode="danger-full-access")
    async with Codex(env=ENV) as codex:
        thread = await codex.start_thread(cfg)
        with anyio.fail_after(20):
            async with thread.turn("write") as events:
                async for event in events:
                    if isinstance(event, ApprovalRequest):
                        event.approve(for_session=True)
    assert (cfg.cwd / "yes.txt").read_text() == "yes\n"


async def test_resume_by_id_alone_rebuilds_the_config_within_the_persons_current_settings(
    home: Path, tmp_path: Path, mock: ScriptedModel
) -> None:
    mock.script(sse_reply(responses_events("one")), sse_reply(responses_events("two")))
    work = tmp_path / "work"
    work.mkdir()
    async with Codex(codex_home=home, cwd=work, env=ENV) as codex:
        thread = await codex.start_thread(sandbox="danger-full-access", approval_policy="never")
        await thread.run("first")
    # The person's config.toml says nothing about the sandbox (read-only by default): the
    # thread resumed after a restart runs read-only, whatever its rollout recorded.
    async with Codex(codex_home=home, cwd=work, env=ENV) as codex:
        resumed = await codex.resume_thread(thread.thread_id)
        assert resumed.config.sandbox_policy.mode == "read-only"
        assert resumed.config.cwd == work
        result = await resumed.run("second")
    assert result.final_message == "two"


def test_submitted_inputs_become_one_user_message(tmp_path: Path) -> None:
    from codex_mcp import ImageInput, LocalImageInput, TextInput
    from codex_mcp.agent.thread import user_input_items

    png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\0" * 16
    (tmp_path / "dot.png").write_bytes(png)
    items = user_input_items(
        [TextInput("look"), ImageInput("https://example.com/a.png"), LocalImageInput("dot.png"),
         LocalImageInput("missing.png")],
        tmp_path,
    )  # fmt: skip
    assert len(items) == 1 and items[0]["role"] == "user"
    content = items[0]["content"]
    assert content[0] == {"type": "input_text", "text": "look"}
    assert content[1] == {"type": "input_image", "image_url": "https://example.com/a.png"}
    assert content[2]["type"] == "input_image" and content[2]["image_url"].startswith(
        "data:image/png;base64,"
    )
    assert content[3]["type"] == "input_text" and "missing.png could not be read" in content[3]["text"]
