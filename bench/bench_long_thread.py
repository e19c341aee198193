"""A thread of 2,000 history items, in process: building its request, and reading it back.

The history is what a long shell-driven session leaves (`synthetic_history`): pairs of
`shell` calls and their outputs (outputs of 80 B to 6 KiB, 1.2 KiB on average), an
assistant message and a reasoning item with encrypted content every 25 calls.  Measured:

* `build_ms`: one request of that thread, as the turn builds it (`Prompt` with the history
  copied, `build_responses_body`, `encode_request`), and `request_kib`, its size;
* `incremental_ms`: the same body with the unchanged prefix of the history kept as JSON text
  from the previous request (what an incremental encoder would cost), for the decision;
* `resume_ms`: `find_rollout` + `load_rollout` of the thread's rollout file (written by the
  real `History`), what `codex-reply` does before the turn;
* `history_mib`: memory the loaded history holds (tracemalloc, after a collection).

`python -m bench.bench_long_thread` prints medians as JSON.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from codex_mcp.agent.history import History
from codex_mcp.agent.model.client import encode_request
from codex_mcp.agent.model.responses import build_responses_body
from codex_mcp.agent.model.types import Prompt
from codex_mcp.agent.rollout import find_rollout, load_rollout

ITEMS = 2_000
THREAD_ID = "0e7ab1f2-1111-4222-8333-444455556666"
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "name": "shell", "description": "Run a command.", "strict": False, "parameters": {}}
]


def synthetic_history(n: int = ITEMS, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Fix the tests."}]}
    ]
    call = 0
    while len(items) < n:
        call += 1
        call_id = f"call_{call:05d}"
        command = ["bash", "-lc", f"grep -rn 'pattern{call}' src | head -n {rng.randint(5, 80)}"]
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{call:05d}",
                "name": "shell",
                "arguments": json.dumps({"command": command, "workdir": "/work/project"}),
                "call_id": call_id,
            }
        )
        size = min(6144, max(80, int(rng.expovariate(1 / 1200))))
        text = "".join(rng.choice("abcdefghij klmnopqrstuvwxyz./:\n") for _ in range(size))
        output = json.dumps({"output": text, "metadata": {"exit_code": 0, "duration_seconds": 0.1}})
        items.append({"type": "function_call_output", "call_id": call_id, "output": output})
        if call % 25 == 0:
            items.append(
                {
                    "type": "reasoning",
                    "id": f"rs_{call:05d}",
                    "summary": [{"type": "summary_text", "text": "Looking at the failing test."}],
                    "encrypted_content": "".join(rng.choice("ABCDEFGHabcdefgh0123+/") for _ in range(1500)),
                }
            )
            items.append(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": f"Checked {call} places so far."}],
                }
            )
    return items[:n]


def _request(history: list[dict[str, Any]]) -> bytes:
    prompt = Prompt(
        instructions="You are a coding agent." * 200,
        input=list(history),
        tools=TOOLS,
        prompt_cache_key=THREAD_ID,
    )
    return encode_request(build_responses_body(prompt, "gpt-5-codex"))


class _PrefixCache:
    """The unchanged prefix of the history kept as JSON text between two requests."""

    def __init__(self) -> None:
        self.count = 0
        self.text = ""

    def encode(self, history: list[dict[str, Any]]) -> bytes:
        new = history[self.count :]
        if new:
            tail = ",".join(json.dumps(item) for item in new)
            self.text = f"{self.text},{tail}" if self.text else tail
            self.count = len(history)
        head = json.dumps({"model": "gpt-5-codex", "instructions": "You are a coding agent." * 200})
        return f'{head[:-1]}, "input": [{self.text}], "tools": {json.dumps(TOOLS)}}}'.encode("ascii")


def _median_ms(fn: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _write_rollout(home: Path, history: list[dict[str, Any]]) -> None:
    recorded = History.create(home, THREAD_ID, {"cwd": "/work/project", "originator": "bench"})
    for start in range(0, len(history), 2):
        recorded.append(history[start : start + 2])  # as the turn appends: a call, its output
    recorded.release()


def run(rounds: int = 10) -> dict[str, float]:
    history = synthetic_history()
    out: dict[str, float] = {"items": float(len(history))}
    body = _request(history)
    out["request_kib"] = len(body) / 1024
    out["build_ms"] = _median_ms(lambda: _request(history), rounds)
    cache = _PrefixCache()
    cache.encode(history[:-2])  # the previous step's request
    grown = list(history)

    def incremental() -> None:
        grown.extend(history[-2:])  # one more step: a call and its output
        cache.encode(grown)

    out["incremental_ms"] = _median_ms(incremental, rounds)
    with tempfile.TemporaryDirectory(prefix="codex-bench-thread-") as tmp:
        home = Path(tmp)
        _write_rollout(home, history)

        def resume() -> None:
            path = find_rollout(home, THREAD_ID)
            assert path is not None
            loaded = load_rollout(path, THREAD_ID)
            assert len(loaded.history) == len(history)

        out["resume_ms"] = _median_ms(resume, rounds)
        path = find_rollout(home, THREAD_ID)
        assert path is not None
        out["rollout_mib"] = path.stat().st_size / (1 << 20)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        loaded = load_rollout(path, THREAD_ID)
        gc.collect()
        out["history_mib"] = (tracemalloc.get_traced_memory()[0] - before) / (1 << 20)
        tracemalloc.stop()
        del loaded
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
