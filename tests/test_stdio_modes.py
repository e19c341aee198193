"""The server leaves a terminal the way it found it.

O_NONBLOCK is a property of the open file description, which a terminal shares with the
shell that started the server; leaving it set would break that shell's next read.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import tty
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_a_terminal_is_blocking_again_after_the_server_exits(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    tty.setraw(slave)  # no echo: what the master reads is what the server wrote
    try:
        env = dict(os.environ, CODEX_HOME=str(tmp_path))
        proc = subprocess.Popen(
            [sys.executable, "-m", "codex_mcp"], stdin=slave, stdout=slave, stderr=subprocess.DEVNULL, env=env
        )
        try:
            # A tools/call moves the server past the handshake phase into the event loop.
            os.write(master, b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nope"}}\n')
            received = b""
            while b'"result"' not in received:
                ready, _, _ = select.select([master], [], [], 20)
                assert ready, f"no answer from the server; got {received!r}"
                received += os.read(master, 65536)
            assert os.get_blocking(slave) is False, "expected the server to poll the terminal"
            os.close(master)  # hang up: the server reads end of file
            master = -1
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert os.get_blocking(slave) is True
    finally:
        if master >= 0:
            os.close(master)
        os.close(slave)
