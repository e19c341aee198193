"""The incremental request encoder writes exactly `json.dumps(body)`, whatever the history did.

Units on growing, replaced, shortened and odd histories, and one real long turn whose every
request must carry the history exactly as the rollout records it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.agent.model import request_encoder
from codex_mcp.agent.model.client import encode_request
from codex_mcp.agent.model.request_encoder import MIN_KEPT_ITEMS, RequestEncoder
from codex_mcp.agent.rollout import find_rollout, load_rollout
from tests.support.raw_client import result_of, text_of
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

REAL_DUMPS = json.dumps


def _item(i: int) -> dict[str, Any]:
    if i % 2:
        return {"type": "function_call_output", "call_id": f"c{i // 2}", "output": f"out é {i}\n" * (i % 7)}
    return {
        "type": "function_call",
        "name": "shell",
        "arguments": json.dumps({"i": i}),
        "call_id": f"c{i // 2}",
    }


def _body(items: list[Any], **extra: Any) -> dict[str, Any]:
    return {"model": "m", "instructions": "be brief", "input": items, "tools": [], "store": False, **extra}


class _Counting:
    """Counts the items `json.dumps` is asked to encode (the body's other values aside)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.items = 0
        real = json.dumps

        def dumps(value: Any, *args: Any, **kwargs: Any) -> str:
            if isinstance(value, dict) and "call_id" in value:
                self.items += 1
            return real(value, *args, **kwargs)

        monkeypatch.setattr(request_encoder.json, "dumps", dumps)


def test_a_growing_history_is_encoded_once_per_item(monkeypatch: pytest.MonkeyPatch) -> None:
    history = [_item(i) for i in range(MIN_KEPT_ITEMS)]
    encoder = RequestEncoder()
    counting = _Counting(monkeypatch)
    for step in range(20):
        history += [_item(MIN_KEPT_ITEMS + 2 * step), _item(MIN_KEPT_ITEMS + 2 * step + 1)]
        body = _body(list(history))
        assert encoder.dumps(body) == REAL_DUMPS(body)
    assert counting.items == len(history)


@pytest.mark.parametrize(
    "change",
    ["replace-middle", "replace-first", "shorter", "compacted", "reordered", "same", "empty", "short"],
)
def test_any_change_of_the_history_gives_the_plain_encoding(change: str) -> None:
    history = [_item(i) for i in range(MIN_KEPT_ITEMS + 10)]
    encoder = RequestEncoder()
    assert encoder.dumps(_body(history)) == json.dumps(_body(history))
    if change == "replace-middle":
        history[40] = {**history[40], "output": "changed"}
    elif change == "replace-first":
        history[0] = {"type": "message", "role": "user", "content": "new"}
    elif change == "shorter":
        history = history[:-5]
    elif change == "compacted":
        history = [{"type": "message", "role": "user", "content": "summary"}, *history[-MIN_KEPT_ITEMS:]]
    elif change == "reordered":
        history = history[1:] + history[:1]
    elif change == "empty":
        history = []
    elif change == "short":
        history = history[:3]
    body = _body(history, text={"verbosity": "low"})
    assert encoder.dumps(body) == json.dumps(body)
    assert encoder.dumps(body) == json.dumps(body)


def test_bodies_without_a_history_list_and_short_ones_keep_nothing() -> None:
    encoder = RequestEncoder()
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert encoder.dumps(chat) == json.dumps(chat)
    short = _body([_item(i) for i in range(MIN_KEPT_ITEMS - 1)])
    assert encoder.dumps(short) == json.dumps(short)
    assert encoder._parts == []


def test_no_other_value_is_mistaken_for_the_history() -> None:
    history = [_item(i) for i in range(MIN_KEPT_ITEMS)]
    encoder = RequestEncoder()
    tricky = "\x00input-" + "0" * 32 + "\x00"
    body = _body(history, instructions=tricky, prompt_cache_key='"\\u0000input-')
    assert encoder.dumps(body) == json.dumps(body)


def test_an_unencodable_item_fails_like_json_and_leaves_the_encoder_usable() -> None:
    history = [_item(i) for i in range(MIN_KEPT_ITEMS)]
    encoder = RequestEncoder()
    encoder.dumps(_body(history))
    with pytest.raises(TypeError):
        encoder.dumps(_body([*history, {"type": "x", "output": object()}]))
    grown = [*history, _item(999)]
    assert encoder.dumps(_body(grown)) == json.dumps(_body(grown))
    with pytest.raises(Exception, match="could not be encoded"):
        encode_request(_body([*history, {"output": {1j}}]), encoder)


STEPS = 40


def test_every_request_of_a_long_turn_carries_the_recorded_history(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, codex_home: Path
) -> None:
    """Past the size where the encoder keeps text, each request's history is exactly what
    the thread holds then (the rollout is the record of it): nothing stale is ever sent."""
    for step in range(STEPS):
        scripted_model.tool_calls(
            *[
                {
                    "kind": "function",
                    "name": "shell",
                    "arguments": {"command": ["echo", f"step {step}"]},
                    "call_id": f"call_{step}",
                }
            ]
        )
    scripted_model.text("done")
    client = spawn_server()
    rid = client.call_tool(
        "codex", {"prompt": "go", "sandbox": "danger-full-access", "approval-policy": "never"}
    )
    result = result_of(client.wait_response(rid, timeout=120))
    assert text_of(result) == "done"
    thread_id = result["structuredContent"]["threadId"]
    requests = [r for r in scripted_model.requests if r.route.endswith("/responses")]
    assert len(requests) == STEPS + 1
    path = find_rollout(codex_home, thread_id)
    assert path is not None
    recorded = load_rollout(path, thread_id).history
    assert len(recorded) >= MIN_KEPT_ITEMS + 2
    for request in requests:
        sent = request.body["input"]
        assert sent == json.loads(json.dumps(recorded[: len(sent)]))
        assert request.raw == json.dumps(request.body).encode()


def test_the_array_is_spliced_in_whatever_the_number_of_parts() -> None:
    from codex_mcp.agent.model.request_encoder import _PLACEHOLDER_JSON, _splice

    rest = '{"a": ' + _PLACEHOLDER_JSON + ', "b": 2}'
    for parts in ([], ["1"], ["1", '"x"', "{}"]):
        assert _splice(rest, parts) == '{"a": [' + ", ".join(parts) + '], "b": 2}'
