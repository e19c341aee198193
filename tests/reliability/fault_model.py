"""The scripted model of `tests/support`, plus the faults it cannot script by itself.

`FaultModel` is a `ScriptedModel` that also understands `raw` turns: a status, headers,
any bytes as body frames, then either closing the connection or stalling (holding it open
without a byte more) until the gate is released, the client hangs up or the model stops.
That is enough for a 5xx/429 with `Retry-After`, a stream cut in the middle of an SSE event,
invalid JSON in an event and a stall past the idle timeout.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.scripted_model import Gate, Recorded, ScriptedModel, Turn


@dataclass
class Raw:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    frames: list[bytes] = field(default_factory=list)
    stall: bool = False
    """After the frames, keep the connection open (bounded) instead of closing it."""


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


CREATED = sse("response.created", {"response": {"id": "resp_fault"}})


class FaultModel(ScriptedModel):
    def __init__(self) -> None:
        super().__init__()
        self.request_times: list[float] = []
        self.stall_gate = Gate()
        """Stalled responses wait on this gate (or for the client to hang up)."""

    def raw(self, spec: Raw) -> Turn:
        return self.add(Turn("raw", error_body=spec))

    def error(self, status: int, retry_after: str | None = None, message: str = "injected fault") -> Turn:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = json.dumps({"error": {"message": message, "type": "server_error"}}).encode()
        return self.raw(Raw(status, {"Content-Type": "application/json", **headers}, [body]))

    def cut_mid_event(self) -> Turn:
        half = b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "de'
        return self.raw(Raw(frames=[CREATED, half]))

    def invalid_json_event(self) -> Turn:
        bad = b"event: response.output_text.delta\ndata: {this is not json]\n\n"
        return self.raw(Raw(frames=[CREATED, bad]))

    def stall(self) -> Turn:
        return self.raw(Raw(frames=[CREATED], stall=True))

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._cond:
            self.request_times.append(time.monotonic())
        super()._handle(h)

    def _answer(self, h: BaseHTTPRequestHandler, rec: Recorded, turn: Turn) -> None:
        if turn.kind != "raw":
            super()._answer(h, rec, turn)
            return
        spec: Raw = turn.error_body
        try:
            h.send_response(spec.status)
            headers = {"Content-Type": "text/event-stream", **spec.headers}
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            for frame in spec.frames:
                h.wfile.write(frame)
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        if spec.stall:
            self._hold(h, self.stall_gate)
