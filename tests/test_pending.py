"""`PendingMap`: bounded waits, first answer wins, and everything resolved on close."""

from __future__ import annotations

import anyio
import pytest

from codex_mcp.pending import DuplicateKey, PendingMap

pytestmark = pytest.mark.anyio


async def test_an_answer_reaches_its_waiter_and_only_the_first_counts() -> None:
    pending: PendingMap[str, int] = PendingMap()
    with pending.expect("a") as waiter:
        assert "a" in pending and len(pending) == 1
        assert pending.resolve("a", 1)
        assert not pending.resolve("a", 2), "a second answer must be ignored"
        assert await waiter.wait(1) == 1
    assert "a" not in pending, "the entry lives exactly as long as the block"
    assert not pending.resolve("a", 3), "an answer to a finished question is unknown"


async def test_a_bounded_wait_times_out_and_leaves_no_entry() -> None:
    pending: PendingMap[int, str] = PendingMap()
    with pending.expect(7) as waiter, pytest.raises(TimeoutError):
        await waiter.wait(0.01)
    assert len(pending) == 0


async def test_close_answers_every_waiter_now_and_every_later_question_at_once() -> None:
    pending: PendingMap[int, str] = PendingMap()
    results: list[str] = []

    async def ask(key: int) -> None:
        with pending.expect(key) as waiter:
            results.append(await waiter.wait(None))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, 1)
            tg.start_soon(ask, 2)
            while len(pending) < 2:
                await anyio.lowlevel.checkpoint()
            pending.close("gone")
            pending.close("second reason is ignored")
    assert results == ["gone", "gone"]
    with pending.expect(3) as late:
        assert late.resolved and await late.wait(0) == "gone"


async def test_resolve_where_selects_by_tag() -> None:
    pending: PendingMap[str, str] = PendingMap()
    with pending.expect("x", tag="turn-1") as first, pending.expect("y", tag="turn-2") as second:
        pending.resolve_where("declined", lambda w: w.tag == "turn-1")
        assert first.resolved and not second.resolved


async def test_a_reused_key_is_refused_while_the_first_question_waits() -> None:
    pending: PendingMap[str, str] = PendingMap()
    with pending.expect("k"):
        with pytest.raises(DuplicateKey), pending.expect("k"):
            pass
        assert "k" in pending, "the refused duplicate must not remove the waiting entry"
