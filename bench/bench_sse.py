"""Throughput of the model client: a 10,000-delta Responses stream through `ModelClient`
against the loopback mock model.  `python -m bench.bench_sse` prints the result as JSON."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx

from codex_mcp.agent.model.types import Completed, OutputTextDelta
from tests.support.model_wire import Reply, make_client, simple_prompt, sse_event
from tests.support.scripted_model import ScriptedModel

N_DELTAS = 10_000
ROUNDS = 3


def _payload(n: int) -> list[bytes]:
    events: list[dict[str, Any]] = [{"type": "response.created", "response": {"id": "resp_bench"}}]
    events += [
        {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": f"tok{i} ",
        }
        for i in range(n)
    ]
    text = "".join(f"tok{i} " for i in range(n))
    events.append(
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "message",
                "role": "assistant",
                "id": "msg_1",
                "content": [{"type": "output_text", "text": text}],
            },
        }
    )
    events.append(
        {
            "type": "response.completed",
            "response": {
                "id": "resp_bench",
                "usage": {"input_tokens": 1, "output_tokens": n, "total_tokens": n + 1},
            },
        }
    )
    raw = b"".join(sse_event(e) for e in events)
    return [raw[i : i + 16384] for i in range(0, len(raw), 16384)]


async def _run() -> dict[str, Any]:
    server = ScriptedModel().start()
    chunks = _payload(N_DELTAS)
    total_bytes = sum(map(len, chunks))
    best = float("inf")
    try:
        async with httpx.AsyncClient() as http:
            client = make_client(server.base_url, http=http)
            for _ in range(ROUNDS):
                server.script(Reply(headers={"content-type": "text/event-stream"}, chunks=chunks))
                deltas = 0
                events = 0
                start = time.perf_counter()
                async for ev in client.stream(
                    simple_prompt(), model="bench", thread_id="t", turn_id="u", on_retry=_no_retry
                ):
                    events += 1
                    if type(ev) is OutputTextDelta:
                        deltas += 1
                    elif type(ev) is Completed:
                        pass
                elapsed = time.perf_counter() - start
                assert deltas == N_DELTAS, deltas
                best = min(best, elapsed)
    finally:
        server.stop()
    return {
        "deltas": N_DELTAS,
        "events": events,
        "bytes": total_bytes,
        "best_seconds": round(best, 4),
        "events_per_second": round(events / best),
        "target_events_per_second": 20_000,
    }


async def _no_retry(message: str, attempt: int, max_retries: int, delay: float) -> None:
    raise AssertionError(f"unexpected retry: {message}")


def run() -> dict[str, Any]:
    return anyio.run(_run)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
