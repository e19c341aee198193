"""Building one model request from a long history: `python -m bench.bench_request_build`.

A thread of 2,000 items (the context messages, then rounds of reasoning, a function call,
its output and an assistant message, as a long turn leaves them) is turned into a request
the way every sampling round does it: `Contract.prompt` (the family's fields, the tool list,
the identifying headers and client metadata) and then the JSON body the Responses wire sends
(`build_responses_body` + `encode_request`).  Printed as JSON: the median and best time of
each step over `ROUNDS` builds, and the body's size.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from codex_mcp.agent.config.model import Config
from codex_mcp.agent.context_items import thread_context_items
from codex_mcp.agent.handlers.registry import SERVED_SHELL_KINDS
from codex_mcp.agent.model.client import encode_request
from codex_mcp.agent.model.responses import build_responses_body
from codex_mcp.agent.request import make_contract

ITEMS = 2_000
ROUNDS = 50


def history(cfg: Config, n: int) -> list[dict[str, Any]]:
    items = thread_context_items(cfg, personal_instructions=None, project_docs="# Rules\n", env={})
    i = 0
    while len(items) < n:
        call = f"call_{i}"
        args = json.dumps({"command": ["bash", "-lc", f"grep -rn thing src/{i}"]})
        items += [
            {"type": "reasoning", "id": f"rs_{i}", "summary": [{"type": "summary_text", "text": "Next"}],
             "content": None, "encrypted_content": "E" * 400},
            {"type": "function_call", "id": f"fc_{i}", "name": "shell",
             "arguments": args, "call_id": call},
            {"type": "function_call_output", "id": f"fco_{i}", "call_id": call,
             "output": "Exit code: 0\nWall time: 0.1 seconds\nOutput:\n" + "src/x.py:1: thing\n" * 20},
            {"type": "message", "id": f"msg_{i}", "role": "assistant",
             "content": [{"type": "output_text", "text": f"Looked at part {i}."}]},
        ]  # fmt: skip
        i += 1
    return items[:n]


def run(n: int = ITEMS, rounds: int = ROUNDS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config(codex_home=Path(tmp), cwd=Path(tmp), model="gpt-5.5")
        contract = make_contract(cfg, env={}, installation_id="bench", shell_kinds=SERVED_SHELL_KINDS)
        items = history(cfg, n)
        prompt_ms: list[float] = []
        body_ms: list[float] = []
        size = 0
        for _ in range(rounds):
            start = time.perf_counter()
            prompt = contract.prompt(items, thread_id="thread", turn_id="turn", window=0)
            built = time.perf_counter()
            size = len(encode_request(build_responses_body(prompt, cfg.model)))
            done = time.perf_counter()
            prompt_ms.append((built - start) * 1000)
            body_ms.append((done - built) * 1000)
    return {
        "items": n,
        "rounds": rounds,
        "prompt_ms": {"median": statistics.median(prompt_ms), "min": min(prompt_ms)},
        "body_ms": {"median": statistics.median(body_ms), "min": min(body_ms)},
        "total_ms_median": statistics.median(p + b for p, b in zip(prompt_ms, body_ms, strict=True)),
        "body_bytes": size,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else ITEMS
    print(json.dumps(run(n), indent=2))
