"""The task records (`codex_mcp.tools.tasks`): transitions, limits, visibility, expiry."""

from __future__ import annotations

import time

import anyio
import pytest

from codex_mcp._generated import mcp_2025_11_25 as r1125
from codex_mcp.tools import tasks as t
from codex_mcp.tools.tasks import Task, TaskError, TaskStore

pytestmark = pytest.mark.anyio

OK = {"content": [{"type": "text", "text": "the answer\nand more"}]}
FAILED = {
    "content": [{"type": "text", "text": "Turn aborted."}, {"type": "text", "text": "threadId: x"}],
    "isError": True,
}


async def test_a_task_starts_working_and_its_wire_form_is_the_revisions() -> None:
    task = TaskStore().create("s1", 60_000)
    wire = task.to_wire()
    model = r1125.Task.model_validate(wire)
    assert model.status == "working" and model.ttl == 60_000 and model.poll_interval == t.POLL_INTERVAL_MS
    assert wire["createdAt"].endswith("Z") and wire["createdAt"] == wire["lastUpdatedAt"]
    assert len(task.task_id) >= 32, "an unguessable id"
    r1125.CreateTaskResult.model_validate({"task": wire})


async def test_finishing_follows_the_result_and_terminal_is_final() -> None:
    done = Task("a", 1000)
    assert done.finish(OK) and done.status == "completed" and done.status_message == "the answer\nand more"
    assert done.done.is_set()
    assert not done.move("working") and done.status == "completed"
    assert not done.cancel("late") and done.status == "completed"

    failed = Task("b", 1000)
    failed.finish(FAILED)
    assert failed.status == "failed" and failed.status_message == "Turn aborted."

    cancelled = Task("c", 1000)
    scope = anyio.CancelScope()
    cancelled.scope = scope
    assert cancelled.cancel("by request") and scope.cancel_called
    assert not cancelled.finish(OK), "a cancelled task stays cancelled"
    assert cancelled.status == "cancelled" and cancelled.result == OK


async def test_input_required_goes_back_to_working() -> None:
    task = Task("a", 1000)
    assert task.move("input_required", "Waiting")
    assert task.move("working", "Codex is working")
    task.note("Running: make")
    assert task.to_wire()["statusMessage"] == "Running: make"


async def test_too_many_working_tasks_are_refused_and_room_comes_back() -> None:
    store = TaskStore(max_active=2)
    first, _ = store.create("s", None), store.create("s", None)
    with pytest.raises(TaskError) as refused:
        store.create("s", None)
    assert refused.value.code == t.INVALID_REQUEST and "Too many tasks" in refused.value.message
    first.finish(OK)
    store.create("s", None)


async def test_finished_tasks_beyond_the_limit_are_forgotten_oldest_first() -> None:
    store = TaskStore(max_active=10, max_kept=3)
    made = []
    for _ in range(3):
        task = store.create("s", None)
        task.finish(OK)
        made.append(task)
    store.create("s", None)
    assert len(store) == 3
    with pytest.raises(TaskError):
        store.get(made[0].task_id, "s")
    store.get(made[1].task_id, "s")


async def test_ttl_is_clamped_and_expired_results_are_purged() -> None:
    assert t.clamp_ttl(None) == t.DEFAULT_TTL_MS
    assert t.clamp_ttl(1) == t.MIN_TTL_MS
    assert t.clamp_ttl(10**12) == t.MAX_TTL_MS
    assert t.clamp_ttl(True) == t.DEFAULT_TTL_MS
    store = TaskStore()
    task = store.create("s", t.MIN_TTL_MS)
    task.created_at = time.time() - t.MIN_TTL_MS / 1000 - 1
    store.get(task.task_id, "s")  # still working: kept whatever its age
    task.finish(OK)
    with pytest.raises(TaskError) as gone:
        store.get(task.task_id, "s")
    assert gone.value.code == t.INVALID_PARAMS


async def test_a_session_lists_what_it_created_or_opened_by_id() -> None:
    store = TaskStore()
    mine = store.create("a", None)
    theirs = store.create("b", None)
    assert [x.task_id for x in store.listed("a", None)[0]] == [mine.task_id]
    store.get(theirs.task_id, "a")  # the id is the capability
    assert [x.task_id for x in store.listed("a", None)[0]] == [mine.task_id, theirs.task_id]
    with pytest.raises(TaskError):
        store.get("not-a-task", "a")
    with pytest.raises(TaskError):
        store.get(12, "a")


async def test_listing_pages_with_opaque_cursors() -> None:
    store = TaskStore(max_active=200, max_kept=200)
    ids = [store.create("s", None).task_id for _ in range(t.PAGE_SIZE + 5)]
    page, cursor = store.listed("s", None)
    assert [x.task_id for x in page] == ids[: t.PAGE_SIZE] and cursor is not None
    rest, end = store.listed("s", cursor)
    assert [x.task_id for x in rest] == ids[t.PAGE_SIZE :] and end is None
    for bad in ("nonsense", "dGFza3M6LTE=", 7, "dGFza3M6OTk5OQ=="):
        with pytest.raises(TaskError) as refused:
            store.listed("s", bad)
        assert refused.value.code == t.INVALID_PARAMS


async def test_ending_a_session_cancels_only_the_tasks_it_runs() -> None:
    store = TaskStore()
    ran_by_a = store.create("a", None)
    ran_by_b = store.create("b", None)
    store.get(ran_by_b.task_id, "a")
    store.cancel_all("a", "the session ended")
    assert ran_by_a.status == "cancelled" and ran_by_a.status_message == "the session ended"
    assert ran_by_b.status == "working"
