"""A thread another process continued takes up only what that process appended to the
rollout, and ends with exactly the history a full read of the file gives."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from codex_mcp.agent import history as history_module
from codex_mcp.agent import rollout
from codex_mcp.agent.history import History

pytestmark = pytest.mark.anyio


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def _two_holders(tmp_path: Path) -> tuple[History, History, str]:
    """Two histories of one thread on one file, as two server processes would hold it."""
    thread_id = "0199aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee"
    first = History.create(tmp_path, thread_id, {"cwd": str(tmp_path)})
    first.append([_message("hello")])
    second = await History.reopen(await History.read(first._recorder.path, thread_id))
    return first, second, thread_id


async def _full(history: History, thread_id: str) -> list[dict[str, Any]]:
    return list((await History.read(history._recorder.path, thread_id)).items)


async def test_appended_items_and_a_compaction_are_taken_up_from_the_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, thread_id = await _two_holders(tmp_path)
    second.append([_message("from elsewhere 1"), _message("from elsewhere 2")])
    second.replace([_message("summary")], "compacted")
    second.append([_message("after the compaction")])
    expected = await _full(second, thread_id)
    assert first.changed_elsewhere()

    def no_full_read(*args: object) -> object:
        raise AssertionError("the whole file was read again")

    monkeypatch.setattr(history_module, "load_rollout", no_full_read)
    await first.reload(thread_id)
    assert first.items == expected
    assert not first.changed_elsewhere()


async def test_a_file_that_shrank_is_read_whole(tmp_path: Path) -> None:
    first, second, thread_id = await _two_holders(tmp_path)
    path = first._recorder.path
    second.append([_message("x" * 1000)])
    await first.reload(thread_id)
    kept = path.read_bytes()
    path.write_bytes(kept[: kept.index(b"\n") + 1])  # only the session line is left
    assert first.changed_elsewhere()
    await first.reload(thread_id)
    assert first.items == [] == await _full(first, thread_id)


@pytest.mark.parametrize("seed", range(8))
async def test_interleaved_turns_agree_with_a_full_read(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    first, second, thread_id = await _two_holders(tmp_path)
    holders = [first, second]
    for step in range(40):
        holder = rng.choice(holders)
        if holder.changed_elsewhere():
            await holder.reload(thread_id)
            assert holder.items == await _full(holder, thread_id)
        if rng.random() < 0.1:
            holder.replace([_message(f"summary {step}")], "compacted")
        else:
            holder.append([_message(f"{seed}-{step}-{i}") for i in range(rng.randint(1, 3))])
    for holder in holders:
        if holder.changed_elsewhere():
            await holder.reload(thread_id)
        assert holder.items == await _full(holder, thread_id)


def test_the_tail_skips_unreadable_lines_as_a_full_read_does(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(
        b'{"type": "response_item", "payload": {"a": 1}}\n'
        b"not json\n"
        b'{"type": "response_item", "payload": {"b": 2}}\n'
    )
    start = path.read_bytes().index(b"\n") + 1
    tail = rollout.load_rollout_tail(path, "t", start, [{"a": 1}])
    assert tail.history == [{"a": 1}, {"b": 2}] == rollout.load_rollout(path, "t").history
