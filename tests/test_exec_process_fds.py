"""A session's process releases each of its descriptors exactly once.

Closing a descriptor number a second time closes whatever took that number in between: in a
server where worker threads open files and the event loop keeps creating keeper sockets and
pipes, that is someone else's file, pipe or keeper socket (and a keeper whose socket closes
kills its command).  So between the first and the last close of `Started.close`, a
bystander takes the freed number, as another thread could, and must still be open after.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

from codex_mcp.agent.exec import process
from codex_mcp.agent.exec.process import start_process

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server runs on Linux"),
]

ENV = {"PATH": "/usr/bin:/bin"}


@pytest.mark.parametrize("tty", [False, True], ids=["pipes", "terminal"])
async def test_closing_a_session_process_closes_no_descriptor_twice(
    tty: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = await start_process(["true"], tmp_path, ENV, tty=tty, boundary=None)
    assert await started.handle.wait() == 0
    await started.handle.teardown()
    bystander = tmp_path / "bystander"
    bystander.write_bytes(b"x")
    taken: list[int] = []
    real_close = os.close

    def close_then_reuse(fd: int) -> None:
        real_close(fd)
        if not taken:  # another thread's open gets the freed number
            opened = os.open(bystander, os.O_RDONLY | os.O_CLOEXEC)
            if opened != fd:
                os.dup2(opened, fd, inheritable=False)
                real_close(opened)
            taken.append(fd)

    monkeypatch.setattr(process.os, "close", close_then_reuse)
    try:
        started.close()
    finally:
        monkeypatch.undo()
    assert taken, "nothing was closed"
    try:
        assert os.read(taken[0], 1) == b"x", "the bystander's descriptor was closed under it"
    except OSError as exc:
        pytest.fail(f"the bystander's descriptor was closed under it: {exc}")
    finally:
        with contextlib.suppress(OSError):
            os.close(taken[0])
