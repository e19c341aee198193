"""Process sessions through the real server: the model starts a command with `exec_command`
and drives it with `write_stdin` across calls and turns; what it gets back is judged in the
requests it receives, what is left running from outside (the kernel's process list).
"""

from __future__ import annotations

import pytest

from tests.execwire_support import after, exec_command
from tests.security.harness import run_call
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(90)

FULL = {"sandbox": "danger-full-access"}


def test_python_repl_driven_across_calls(scripted_model: ScriptedModel, spawn_server: ServerFactory) -> None:
    start = exec_command(scripted_model, "python3 -q -i", tty=True, yield_ms=1000)
    first = after(scripted_model, start, "6 * 7\n", yield_ms=1000)
    second = after(scripted_model, start, "print('abc' * 2)\n", yield_ms=1000)
    scripted_model.text("done")
    client = spawn_server()
    result = run_call(client, approval="never", **FULL)
    assert not result.get("isError"), result
    opened = scripted_model.call_output(start)
    assert opened.startswith("Chunk ID: ") and "Process running with session ID" in opened, opened
    assert "42" in scripted_model.call_output(first)
    assert "abcabc" in scripted_model.call_output(second)

