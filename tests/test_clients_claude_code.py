"""Client matrix: Claude Code (`@anthropic-ai/claude-code` 2.1.197 from npm), headless.

`claude -p` runs one prompt to completion without a terminal.  Its model is our scripted
Anthropic Messages API on 127.0.0.1 (`ANTHROPIC_BASE_URL`, a dummy key), so the "Claude"
side of each conversation is a script too: it calls our tools, and later steps read what
Claude Code actually put in front of the model (the tool results) and act on it.  Our
server's own model is the scripted OpenAI-wire model, as everywhere else in the suite.

Claude Code gets only `--mcp-config` (with `--strict-mcp-config`, so nothing of the machine's
own configuration is read), a throw-away HOME and config dir, and the environment switches
that stop its non-essential traffic (auto-update, telemetry, error reports); measured with
strace once, it then connects to nothing but 127.0.0.1.

What 2.1.197 does with our server, as these tests show it:
- it gives its model the `structuredContent` JSON of a successful result (the `threadId`
  is visible) and only the text of an `isError` result (so the text must carry it);
- in `-p` mode it declares elicitation but answers every request with `cancel`, which
  denies that one action and lets the turn go on;
- it sends a `progressToken` on every call; over HTTP, progress is what keeps a long call
  alive (it aborts an HTTP call after 300 s without a response or progress).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.claude_code_support import (
    CODEX,
    ENTRY,
    REPLY,
    RUN_TIMEOUT,
    SERVER,
    Claude,
    reply_to_thread,
    stdio_server,
    structured,
)
from tests.clients_support import (
    INSTALL_TIMEOUT,
    SERVER_COMMAND,
    Installed,
    describe,
    npm_client,
    run_bounded,
    run_client,
    unavailable,
)
from tests.support.anthropic_mock import AnthropicMock
from tests.support.http_server import HttpServerProcess
from tests.support.http_tap import HttpTap, Seen
from tests.support.scripted_model import ScriptedModel
from tests.support.server import server_env

VERSION = "2.1.197"
PACKAGE = f"@anthropic-ai/claude-code@{VERSION}"
pytestmark = [
    pytest.mark.timeout(INSTALL_TIMEOUT + 2 * RUN_TIMEOUT),
    pytest.mark.skipif(sys.platform != "linux", reason="the test drives the linux build of Claude Code"),
]


@pytest.fixture(scope="module")
def claude_code() -> Installed:
    installed = npm_client("claude-code", VERSION, [PACKAGE], ENTRY)
    done = run_bounded([installed.path / ENTRY, "--version"], 60)
    if done.returncode != 0 or not done.stdout.startswith(VERSION):
        # e.g. npm ran without install scripts, leaving the package's placeholder binary
        unavailable(f"Claude Code {VERSION} installed, but `claude --version` failed: {describe(done)}")
    print(installed.report())
    return installed


@pytest.fixture
def anthropic() -> Iterator[AnthropicMock]:
    with AnthropicMock(conversation_tool_prefix=f"mcp__{SERVER}__") as api:
        yield api


@pytest.fixture
def claude(claude_code: Installed, anthropic: AnthropicMock, tmp_path: Path) -> Claude:
    return Claude(claude_code, anthropic, tmp_path)


# -- the README's set-up commands ---------------------------------------------------------


def test_claude_mcp_add_as_the_readme_says(
    claude: Claude, codex_home: Path, workspace: Path, http_url: str
) -> None:
    """`claude mcp add` for stdio and HTTP, then `claude mcp list`, which starts (or
    connects to) each server and initializes it: both must report connected."""
    env = claude.env()
    binary = claude.installed.path / ENTRY
    for argv in (
        [binary, "mcp", "add", "codex", "-e", f"CODEX_HOME={codex_home}", "--", SERVER_COMMAND],
        [binary, "mcp", "add", "--transport", "http", "codex-http", http_url],
    ):
        done, _ = run_client(argv, RUN_TIMEOUT, env=env, cwd=workspace)
        assert done.returncode == 0, describe(done)
    done, seconds = run_client([binary, "mcp", "list"], RUN_TIMEOUT, env=env, cwd=workspace)
    print(f"claude mcp list: {seconds:.2f} s")
    assert done.returncode == 0, describe(done)
    status = {
        line.split(":", 1)[0]: line
        for line in done.stdout.splitlines()
        if line.startswith(("codex:", "codex-http:"))
    }
    assert set(status) == {"codex", "codex-http"}, describe(done)
    assert all(line.endswith("✔ Connected") for line in status.values()), describe(done)


# -- stdio ----------------------------------------------------------------------------


def test_stdio_codex_call_edits_the_workspace(
    claude: Claude, anthropic: AnthropicMock, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.apply_patch(
        "*** Begin Patch\n*** Add File: greeting.txt\n+hello from codex\n*** End Patch"
    )
    scripted_model.text("Added greeting.txt.")
    call = anthropic.call(
        CODEX,
        {
            "prompt": "Add greeting.txt saying hello",
            "sandbox": "workspace-write",
            "approval-policy": "never",
            "cwd": str(workspace),
        },
    )
    anthropic.relay(call, "Codex says: ")

    run = claude.run("Use codex to add a greeting file", stdio_server(codex_home), workspace)

    assert (workspace / "greeting.txt").read_text() == "hello from codex\n"
    first, second = anthropic.wait_requests(2)
    codex_tool = first.tool(CODEX)
    assert codex_tool is not None and first.tool(REPLY) is not None, first.tool_names()
    assert "prompt" in codex_tool["input_schema"]["required"]
    shown = structured(second, call)
    assert shown["content"] == "Added greeting.txt."
    assert re.fullmatch(r"[0-9a-f-]{36}", shown["threadId"]), shown
    assert run.output["result"] == "Codex says: " + json.dumps(shown, separators=(",", ":"))
    assert list((codex_home / "sessions").glob(f"*/*/*/rollout-*-{shown['threadId']}.jsonl"))


def test_stdio_codex_reply_continues_the_thread_the_model_saw(
    claude: Claude, anthropic: AnthropicMock, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    scripted_model.text("Noted: kumquat.")
    scripted_model.text("The word was kumquat.")
    first = anthropic.call(CODEX, {"prompt": "Remember the word kumquat", "sandbox": "read-only"})
    reply, step = reply_to_thread(first, "Which word did I give you?")
    anthropic.add(step)
    anthropic.relay(reply)

    run = claude.run("Ask codex to remember a word, then ask it back", stdio_server(codex_home), workspace)

    requests = anthropic.wait_requests(3)
    thread_id = structured(requests[1], first)["threadId"]
    again = structured(requests[2], reply)
    assert again == {"threadId": thread_id, "content": "The word was kumquat."}
    # Our model got the whole thread: the first prompt and answer, then the reply's prompt.
    continued = scripted_model.wait_requests(2)[1]
    assert "Remember the word kumquat" in " ".join(continued.user_texts())
    assert continued.last_user_text() == "Which word did I give you?"
    assert "The word was kumquat." in run.output["result"]


def test_stdio_dismissed_approval_denies_and_the_turn_goes_on(
    claude: Claude, anthropic: AnthropicMock, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    """Headless Claude Code answers the approval request with `cancel`: the command does not
    run, our model is told it was dismissed, the call returns normally with its threadId, and
    the conversation goes on with a reply."""
    command = scripted_model.shell("touch needs-approval.txt")
    scripted_model.text("The command was not approved, so nothing was created.")
    scripted_model.text("Still here, same thread.")
    first = anthropic.call(
        CODEX,
        {
            "prompt": "Create needs-approval.txt",
            "sandbox": "workspace-write",
            "approval-policy": "untrusted",
            "cwd": str(workspace),
        },
    )
    reply, step = reply_to_thread(first, "Are you still there?")
    anthropic.add(step)
    anthropic.relay(reply)

    run = claude.run("Have codex create a file", stdio_server(codex_home), workspace)

    assert not (workspace / "needs-approval.txt").exists()
    output = scripted_model.call_output(command)
    # "dismissed" is what a `cancel` answer says; a client without elicitation would get
    # another reason, and an abort would have ended the turn.
    assert "rejected" in output and "dismissed" in output, output
    requests = anthropic.wait_requests(3)
    shown = structured(requests[1], first)
    assert shown["content"] == "The command was not approved, so nothing was created."
    assert structured(requests[2], reply) == {
        "threadId": shown["threadId"],
        "content": "Still here, same thread.",
    }
    assert "Still here, same thread." in run.output["result"]


def test_stdio_error_result_still_gives_the_model_the_thread(
    claude: Claude, anthropic: AnthropicMock, scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    """Claude Code shows its model only the text of an `isError` result; the threadId line
    in that text is enough to continue the conversation."""
    scripted_model.text("First answer.")
    scripted_model.http_error(400, {"error": {"message": "mock failure", "type": "invalid_request_error"}})
    scripted_model.text("Recovered on the same thread.")
    first = anthropic.call(CODEX, {"prompt": "Start something", "sandbox": "read-only"})
    failing, step = reply_to_thread(first, "This one fails")
    anthropic.add(step)
    retry, step = reply_to_thread(failing, "Try again")
    anthropic.add(step)
    anthropic.relay(retry)

    run = claude.run("Talk to codex", stdio_server(codex_home), workspace)

    requests = anthropic.wait_requests(4)
    thread_id = structured(requests[1], first)["threadId"]
    error = requests[2].result_for(failing)
    assert error is not None and error.is_error, error
    assert "mock failure" in error.text
    assert f"threadId: {thread_id}" in error.text.splitlines(), error.text
    assert structured(requests[3], retry) == {
        "threadId": thread_id,
        "content": "Recovered on the same thread.",
    }
    assert scripted_model.wait_requests(3)[2].last_user_text() == "Try again"
    assert "Recovered on the same thread." in run.output["result"]


# -- Streamable HTTP --------------------------------------------------------------------


@pytest.fixture
def http_url(codex_home: Path, workspace: Path) -> Iterator[str]:
    server = HttpServerProcess(["--http", "127.0.0.1:0"], server_env(codex_home), workspace)
    try:
        yield server.url()
    finally:
        server.kill()


@pytest.fixture
def tap(http_url: str) -> Iterator[HttpTap]:
    with HttpTap(http_url) as proxy:
        yield proxy


def test_http_codex_and_reply(
    claude: Claude, anthropic: AnthropicMock, scripted_model: ScriptedModel, workspace: Path, http_url: str
) -> None:
    scripted_model.apply_patch(
        "*** Begin Patch\n*** Add File: over-http.txt\n+written over HTTP\n*** End Patch"
    )
    scripted_model.text("Wrote over-http.txt.")
    scripted_model.text("And replied over HTTP.")
    first = anthropic.call(
        CODEX,
        {
            "prompt": "Write over-http.txt",
            "sandbox": "workspace-write",
            "approval-policy": "never",
            "cwd": str(workspace),
        },
    )
    reply, step = reply_to_thread(first, "Anything else?")
    anthropic.add(step)
    anthropic.relay(reply)

    run = claude.run("Use codex over HTTP", {"type": "http", "url": http_url}, workspace)

    assert (workspace / "over-http.txt").read_text() == "written over HTTP\n"
    requests = anthropic.wait_requests(3)
    thread_id = structured(requests[1], first)["threadId"]
    assert structured(requests[2], reply) == {"threadId": thread_id, "content": "And replied over HTTP."}
    assert "And replied over HTTP." in run.output["result"]


def _is_response_to(seen: Seen, request_id: Any) -> bool:
    message = seen.message
    return (
        seen.direction == "server"
        and ("result" in message or "error" in message)
        and type(message.get("id")) is type(request_id)
        and message.get("id") == request_id
    )


def test_http_long_call_is_kept_alive_by_progress(
    claude: Claude,
    anthropic: AnthropicMock,
    scripted_model: ScriptedModel,
    workspace: Path,
    tap: HttpTap,
) -> None:
    """A call of several seconds (three commands, each working for a second and then
    waiting until the test lets it go): progress notifications with Claude Code's token
    cross the wire throughout, while the call is open and before its response, and Claude
    Code finishes the call.

    Claude Code aborts an HTTP tool call after 300 s with neither a response nor a progress
    notification (`CLAUDE_CODE_MCP_TOOL_IDLE_TIMEOUT`, checked every 30 s); stdio calls have
    no such limit.  Waiting that long has no place in a test: this one shows the progress
    that resets the limit arriving mid-call."""
    steps = 3
    for n in range(1, steps + 1):
        # The workload: a second of work, then a wait (bounded to 60 s by the command itself)
        # for the test's go-ahead, given only once the test saw this step's progress.
        scripted_model.shell(
            f"sleep 1; for i in $(seq 1200); do [ -e go-{n} ] && exit 0; sleep 0.05; done; exit 1"
        )
    scripted_model.text("All three steps done.")
    call = anthropic.call(
        CODEX,
        {
            "prompt": "Run the three steps",
            "sandbox": "workspace-write",
            "approval-policy": "never",
            "cwd": str(workspace),
        },
    )
    anthropic.relay(call)

    finished: dict[str, Any] = {}

    def run() -> None:
        try:
            finished["run"] = claude.run(
                "Run the steps with codex", {"type": "http", "url": tap.url}, workspace
            )
        except BaseException as exc:  # reported by the main thread
            finished["error"] = exc

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        request = tap.wait_for(
            lambda s: s.direction == "client" and s.message.get("method") == "tools/call", 60, "tools/call"
        ).message
        token = request["params"]["_meta"]["progressToken"]
        request_id = request["id"]
        started = time.monotonic()
        for n in range(1, steps + 1):
            tap.wait_for(
                lambda s, n=n: (
                    s.message.get("method") == "notifications/progress"
                    and s.message["params"].get("progressToken") == token
                    and f"go-{n}" in str(s.message["params"].get("message"))
                ),
                60,
                f"progress for step {n}",
            )
            assert not any(_is_response_to(s, request_id) for s in tap.messages()), "the call ended early"
            (workspace / f"go-{n}").touch()
    finally:
        for n in range(1, steps + 1):
            (workspace / f"go-{n}").touch()  # never leave a command waiting
        runner.join(RUN_TIMEOUT + 10)
    if "error" in finished:
        raise finished["error"]
    assert "All three steps done." in finished["run"].output["result"]

    seen = tap.messages()
    end = next(i for i, s in enumerate(seen) if _is_response_to(s, request_id))
    progress = [
        (i, s)
        for i, s in enumerate(seen)
        if s.message.get("method") == "notifications/progress"
        and s.message["params"].get("progressToken") == token
    ]
    values = [s.message["params"]["progress"] for _, s in progress]
    assert values == sorted(set(values)), values
    assert all(i < end for i, _ in progress), "progress after the response"
    finished_steps = [
        s for _, s in progress if s.message["params"].get("message") == "Command finished (exit code 0)"
    ]
    assert len(finished_steps) == steps
    # Spread over the call, not bunched at its end: each step starts at least its second of
    # work after the previous one, and is announced on its own.
    starts = [s.at for _, s in progress if "go-" in str(s.message["params"].get("message"))]
    assert len(starts) == steps
    assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(starts)), starts
    print(f"the call lasted {seen[end].at - started:.2f} s with {len(progress)} progress notifications")
