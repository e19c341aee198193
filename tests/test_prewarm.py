"""The warm-up imports exactly what a call needs and fails on nothing (a renamed module would
otherwise silently stop being warmed)."""

from __future__ import annotations

import subprocess
import sys


def test_warm_up_imports_every_listed_module_in_a_fresh_interpreter() -> None:
    code = (
        "import sys, logging\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "from codex_mcp.prewarm import CALL_PATH_MODULES, TOOL_PATH_MODULES, warm_call_path\n"
        "warm_call_path()\n"
        "missing = [m for m in CALL_PATH_MODULES + TOOL_PATH_MODULES if m not in sys.modules]\n"
        "print('MISSING', missing)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "MISSING []" in proc.stdout
    assert "warm-up of the call path failed" not in proc.stderr, proc.stderr

