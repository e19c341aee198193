"""Running the suite in parallel processes (pytest-xdist) without changing what a test sees.

Most tests wait: on a server process, a sandboxed command, a timeout of the code under test.
Several worker processes overlap those waits, so `python -m pytest` runs with `-n auto`
(`pyproject.toml`) and `pytest_xdist_auto_num_workers` below says how many.

A few tests load the whole machine on purpose and bound how the server copes (output floods
that keep every core busy while `ping` must be answered within seconds).  Run beside other
tests they would measure their neighbours, so they are marked `alone`: while one runs, no
other test of the same run does.  The workers share a readers-writer lock made of two `flock`
files in a directory of this run: every test holds the main lock shared; an `alone` test
holds it exclusively.  The gate gives the writer priority: a reader passes through it before
taking its shared lock, and a writer holds it while it waits, so new tests queue behind a
waiting `alone` test instead of starving it.  A worker whose next test is `alone` too keeps
the lock (xdist has already committed that test to it), so the others make way once.  The
lock is taken around the whole test protocol (setup, call, teardown) and outside the test's
timeout; without workers (`-n 0`) there is nothing to wait for and no lock is taken.

Workers steal work from one another (`--dist worksteal`): the tests take from under a second
to over a minute, and a worker that runs out takes half of a busy one's queue.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ALONE = "alone"
WORKERS_PER_CORE = 2
"""The suite's tests mostly wait (measured on 2 cores: about 40 % of one core busy in a serial
run), so two workers per core overlap waits without making the machine the bottleneck."""
MAX_WORKERS = 8


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None and getattr(config.option, "testrunuid", "") is None:
        # The controller names the run (xdist passes the name on to its workers) so that it
        # can remove the run's lock directory at the end.
        config.option.testrunuid = uuid.uuid4().hex


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers per core, at most eight (the environment variable
    PYTEST_XDIST_AUTO_NUM_WORKERS still overrides this)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, WORKERS_PER_CORE * cores))


def _run_dir(uid: str) -> Path:
    return Path(tempfile.gettempdir()) / f"codex-mcp-tests-{uid}"


def _lock_dir(config: pytest.Config) -> Path | None:
    """A directory every worker of this run shares (None when there are no workers)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return None
    path = _run_dir(str(workerinput["testrunuid"]))
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _alone(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker(ALONE) is not None


_held: tuple[int, int] | None = None
"""The lock files' descriptors, kept (exclusive) from one `alone` test to the next."""


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    global _held
    where = _lock_dir(item.config)
    if where is None:
        yield
        return
    alone = _alone(item)
    if _held is not None:  # the previous test was alone, and so is this one
        (gate, main), _held = _held, None
    else:
        gate, main = _open(where / "gate.lock"), _open(where / "main.lock")
    keep = False
    try:
        # Locks this descriptor already holds (kept from an `alone` test) are taken at once.
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(main, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield
        keep = alone and _alone(nextitem)
    finally:
        if keep:
            _held = (gate, main)
        else:
            os.close(main)  # closing releases the locks
            os.close(gate)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The controller (no `workerinput`) removes the run's lock directory at the end."""
    uid = getattr(config.option, "testrunuid", None)
    if getattr(config, "workerinput", None) is not None or not uid:
        return
    path = _run_dir(uid)
    for name in ("gate.lock", "main.lock"):
        with contextlib.suppress(FileNotFoundError):
            (path / name).unlink()
    with contextlib.suppress(FileNotFoundError):
        path.rmdir()
