"""Top-level request fields and identifying headers per family (pure builders)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from codex_mcp.agent.families import FamilyOverrides, resolve_family
from codex_mcp.agent.request_fields import (
    is_azure_responses_endpoint,
    reasoning_field,
    responses_body,
    with_item_ids,
)
from codex_mcp.agent.request_headers import (
    ClientIdentity,
    TurnIds,
    client_metadata,
    load_installation_id,
    os_label,
    request_headers,
    sandbox_tag,
    terminal_label,
    turn_metadata,
    user_agent,
)


def body(slug: str, overrides: FamilyOverrides | None = None, **kw: object) -> dict[str, object]:
    return responses_body(
        resolve_family(slug, overrides),
        instructions="x",
        input=[],
        tools=[],
        prompt_cache_key="thread-1",
        **kw,  # type: ignore[arg-type]
    )


def top_level(b: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in b.items() if k not in ("instructions", "input", "tools")}


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        # Measured: Codex 0.147's first request for these slugs.
        (
            "gpt-5.5",
            {"parallel_tool_calls": True, "reasoning": {"effort": "medium"}, "text": {"verbosity": "low"}},
        ),
        (
            "gpt-5.4-mini",
            {"parallel_tool_calls": True, "reasoning": {"effort": "medium"}, "text": {"verbosity": "medium"}},
        ),
        (
            "gpt-5.2",
            {
                "parallel_tool_calls": True,
                "reasoning": {"effort": "medium", "summary": "auto"},
                "text": {"verbosity": "low"},
            },
        ),
        ("mock-model", {"parallel_tool_calls": False, "reasoning": {"summary": "auto"}}),
    ],
)
def test_body_fields_match_the_reference(slug: str, expected: dict[str, object]) -> None:
    b = body(slug)
    assert top_level(b) == {
        "model": slug,
        "tool_choice": "auto",
        "store": False,
        "stream": True,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "thread-1",
        **expected,
    }
    order = [k for k in b if k in ("text",)]
    keys = list(b)
    assert keys[:6] == ["model", "instructions", "input", "tools", "tool_choice", "parallel_tool_calls"]
    assert keys.index("store") < keys.index("stream") < keys.index("include") < keys.index("prompt_cache_key")
    assert not order or keys.index("prompt_cache_key") < keys.index("text")


def test_non_reasoning_families_send_no_reasoning_and_include_nothing() -> None:
    b = body("gpt-4.1")
    assert "reasoning" not in b and b["include"] == [] and "text" not in b
    off = body("mock-model", FamilyOverrides(supports_reasoning_summaries=False))
    assert "reasoning" not in off and off["include"] == []


def test_every_reasoning_family_includes_encrypted_reasoning() -> None:
    for slug in ("gpt-5.5", "gpt-5.1-codex-max", "gpt-5-codex", "o3", "o4-mini", "codex-mini-latest", "x-y"):
        assert body(slug)["include"] == ["reasoning.encrypted_content"], slug


def test_max_output_tokens_is_never_sent() -> None:
    assert all("max_output_tokens" not in body(s) for s in ("gpt-5.5", "o3", "mock-model", "gpt-4o"))


def test_azure_stores_and_client_metadata_and_output_schema() -> None:
    schema = {"type": "object", "properties": {}}
    b = body("gpt-5.5", azure=True, client_metadata={"turn_id": "t"}, output_schema=schema)
    assert b["store"] is True and b["client_metadata"] == {"turn_id": "t"}
    assert b["text"] == {
        "verbosity": "low",
        "format": {"type": "json_schema", "name": "codex_output_schema", "strict": True, "schema": schema},
    }
    assert list(b)[-1] == "client_metadata"


def test_reasoning_field_variants() -> None:
    assert reasoning_field(resolve_family("gpt-5.5", FamilyOverrides(reasoning_summary="detailed"))) == {
        "effort": "medium",
        "summary": "detailed",
    }
    assert reasoning_field(resolve_family("gpt-5.5", FamilyOverrides(reasoning_effort="none"))) == {
        "effort": "none"
    }
    assert reasoning_field(resolve_family("mock-model", FamilyOverrides(reasoning_summary="none"))) is None


@pytest.mark.parametrize(
    ("name", "url", "wire", "azure"),
    [
        ("azure", "https://example.com/v1", "responses", True),
        ("Azure", None, "responses", True),
        ("mine", "https://res.openai.azure.com/openai/v1", "responses", True),
        ("mine", "https://x.cognitiveservices.azure.com/openai", "responses", True),
        ("mine", "https://x.azure-api.net/v1", "responses", True),
        ("mine", "https://x.azurefd.net/v1", "responses", True),
        ("mine", "https://x.blob.core.windows.net/openai", "responses", True),
        ("mine", "https://res.openai.azure.com/openai/v1", "chat", False),
        ("openai", "https://api.openai.com/v1", "responses", False),
        ("mine", "http://127.0.0.1:8080/v1", "responses", False),
    ],
)
def test_azure_detection(name: str, url: str | None, wire: str, azure: bool) -> None:
    assert is_azure_responses_endpoint(name, url, wire) is azure


def test_item_ids_are_added_to_our_items_only() -> None:
    items = [
        {"type": "message", "role": "user", "content": []},
        {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "n", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": "ok"},
        {"type": "custom_tool_call_output", "call_id": "d", "output": "ok"},
        {"type": "message", "id": "msg_model", "role": "assistant", "content": []},
        {"type": "reasoning", "id": "rs_1", "summary": []},
    ]
    counter = iter(range(10))
    out = with_item_ids(items, lambda prefix: f"{prefix}_{next(counter)}")
    assert [i.get("id") for i in out] == ["msg_0", "fc_1", "fco_1", "ctco_2", "msg_model", "rs_1"]
    assert list(out[0]) == ["type", "id", "role", "content"]
    assert "id" not in items[0], "the history itself is not changed"


# --- headers ---------------------------------------------------------------------------------

IDS = TurnIds(
    installation_id="inst",
    thread_id="th",
    turn_id="tu",
    window=2,
    sandbox="seccomp",
    turn_started_at_unix_ms=123,
)


def test_headers_carry_the_reference_keys_and_no_beta_header() -> None:
    identity = ClientIdentity(version="1.2.3", os_label="Debian 12.0.0; x86_64", terminal="xterm")
    headers = request_headers(identity, IDS)
    assert list(headers) == [
        "originator",
        "user-agent",
        "session-id",
        "thread-id",
        "x-client-request-id",
        "x-codex-window-id",
        "x-codex-turn-metadata",
    ]
    assert headers["originator"] == "codex_mcp" and headers["x-codex-window-id"] == "th:2"
    assert not {"openai-beta", "session_id", "version"} & {h.lower() for h in headers}
    assert request_headers(identity, IDS, builtin_openai=True)["version"] == "1.2.3"


def test_turn_metadata_and_client_metadata() -> None:
    meta = json.loads(turn_metadata(IDS))
    assert list(meta) == [
        "installation_id",
        "session_id",
        "thread_id",
        "turn_id",
        "window_id",
        "request_kind",
        "sandbox",
        "turn_started_at_unix_ms",
    ]
    assert meta["window_id"] == "th:2" and meta["request_kind"] == "turn"
    assert " " not in turn_metadata(IDS)
    assert set(client_metadata(IDS)) == {
        "session_id",
        "thread_id",
        "turn_id",
        "x-codex-installation-id",
        "x-codex-window-id",
        "x-codex-turn-metadata",
    }
    assert client_metadata(IDS)["x-codex-turn-metadata"] == turn_metadata(IDS)
    assert (sandbox_tag("danger-full-access"), sandbox_tag("read-only", "Linux")) == ("none", "seccomp")
    assert sandbox_tag("workspace-write", "Darwin") == "seatbelt"


def test_user_agent_names_os_terminal_and_mcp_client() -> None:
    identity = ClientIdentity(
        version="0.1.0",
        os_label="Debian 12.0.0; x86_64",
        terminal="xterm",
        client_name="claude-code",
        client_version="2.1.0",
    )
    assert user_agent(identity) == "codex_mcp/0.1.0 (Debian 12.0.0; x86_64) xterm (claude-code; 2.1.0)"
    assert user_agent(ClientIdentity(version="0.1.0", os_label="", terminal="")) == "codex_mcp/0.1.0 unknown"
    custom = ClientIdentity(originator="my app\r\nX-Evil: 1", version="1")
    assert "\r" not in user_agent(custom) and "\n" not in request_headers(custom, IDS)["originator"]


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("evil\r\nAuthorization: Bearer stolen", "1\n2"),
        ("x" * 10_000, "y" * 10_000),
        ("名前 (with) parens", "v\x00\x7f1"),
        ("", None),
    ],
)
def test_hostile_client_info_cannot_break_or_bloat_the_header(name: str, version: str | None) -> None:
    """clientInfo comes from whoever connected to the server."""
    ua = user_agent(ClientIdentity(version="0.1.0", client_name=name, client_version=version))
    assert all(0x20 <= ord(c) < 0x7F for c in ua), ua
    assert len(ua) < 300
    assert ua.count("(") == ua.count(")")


@pytest.mark.parametrize(
    ("os_release", "system", "expected"),
    [
        ('NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n', "Linux", "Debian 12.0.0; x86_64"),
        ('NAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n', "Linux", "Ubuntu 22.4.0; x86_64"),
        ('NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n', "Linux", "Arch Linux; x86_64"),
        ('NAME="Weird OS"\nID=weird\nVERSION_ID="2024.1-beta"\n', "Linux", "Weird OS 2024.1-beta; x86_64"),
        (None, "Linux", "Linux 14.0; x86_64"),
        (None, "FreeBSD", "FreeBSD 14.0; x86_64"),
    ],
)
def test_os_label(os_release: str | None, system: str, expected: str) -> None:
    assert os_label(os_release, system, "14.0", "x86_64") == expected


def test_terminal_label() -> None:
    assert (
        terminal_label({"TERM_PROGRAM": "iTerm.app", "TERM_PROGRAM_VERSION": "3.5", "TERM": "x"})
        == "iTerm.app/3.5"
    )
    assert terminal_label({"WT_SESSION": "1", "TERM": "xterm"}) == "WindowsTerminal"
    assert terminal_label({"TERM": "xterm-256color"}) == "xterm-256color"
    assert terminal_label({}) == "unknown"
    assert "\n" not in terminal_label({"TERM": "a\nb"})


def test_installation_id_is_created_once_and_kept(tmp_path: Path) -> None:
    first = load_installation_id(tmp_path)
    assert load_installation_id(tmp_path) == first
    path = tmp_path / "codex_mcp_installation_id"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text("not a uuid")
    fresh = load_installation_id(tmp_path)
    assert fresh != first and load_installation_id(tmp_path) != fresh  # unusable file: not trusted


def test_installation_id_never_blocks_on_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "codex_mcp_installation_id")
    assert len(load_installation_id(tmp_path)) == 36
    assert load_installation_id(tmp_path / "missing-dir")  # unwritable home: still an id
