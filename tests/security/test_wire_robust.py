"""Wire attacks end to end: a hostile provider's HTTP, played to the real server process
(under an address-space limit), straight to the provider and through an HTTP proxy named by
`HTTP_PROXY`/`HTTPS_PROXY` (`tests/support/http_proxy.py`, which relays the provider's bytes
unchanged; `NO_PROXY` emptied so loopback goes through it too).

Judged from outside: the server answers `ping` within `PING_BOUND` during the attack, its
peak RSS stays under `PEAK_RSS_LIMIT_MB`, the call ends with an error naming the limit and
stderr holds no traceback; where an attack is meant to smuggle an answer, the next call gets
the real one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.security.harness import assert_alive
from tests.security.robust_support import (
    PEAK_RSS_LIMIT_MB,
    LeanClient,
    PingMonitor,
    Spawner,
    assert_no_traceback,
    result_text,
    run_codex,
    spawner,
    vm_hwm_mb,
)
from tests.security.wire_support import Answer, Answers, RawServer, ok_head, respond, sse_body
from tests.support.http_proxy import HttpProxy
from tests.support.scripted_model import ScriptedModel
from tests.support.server import write_config

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit and /proc")


@pytest.fixture(params=["direct", "proxied"])
def path_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The server's extra environment: none, or a loopback proxy for every target."""
    if request.param == "direct":
        yield {}
        return
    with HttpProxy() as proxy:
        yield {"HTTP_PROXY": proxy.url(), "HTTPS_PROXY": proxy.url(), "NO_PROXY": "", "no_proxy": ""}


@pytest.fixture
def spawn(
    codex_home: Path, workspace: Path, tmp_path: Path, scripted_model: ScriptedModel
) -> Iterator[Spawner]:
    with spawner(codex_home, workspace, tmp_path, scripted_model) as s:
        yield s


def idle_bound(codex_home: Path, ms: int) -> None:
    """Set the provider's `stream_idle_timeout_ms` (the head-wait bound) in config.toml."""
    path = codex_home / "config.toml"
    text = path.read_text()
    path.write_text(
        text.replace("stream_max_retries = 0\n", f"stream_max_retries = 0\nstream_idle_timeout_ms = {ms}\n")
    )


def attack(client: LeanClient, timeout: float = 90.0) -> tuple[dict[str, Any], float]:
    start = time.monotonic()
    with PingMonitor(client) as monitor:
        _, result = run_codex(client, timeout)
    elapsed = time.monotonic() - start
    worst = monitor.check()
    print(f"worst ping {worst:.2f} s, peak RSS {vm_hwm_mb(client.proc.pid):.0f} MB, {elapsed:.1f} s")
    return result, elapsed


def judge(client: LeanClient, result: dict[str, Any], fragment: str, env: dict[str, str]) -> None:
    assert result.get("isError") is True, result
    assert fragment in result_text(result), result_text(result)
    assert vm_hwm_mb(client.proc.pid) < PEAK_RSS_LIMIT_MB
    assert_no_traceback(client)
    assert_alive(client)


def endless(first: bytes, piece: bytes, pace: float = 0.0) -> Iterator[bytes]:
    yield first
    while True:
        yield piece
        if pace:
            time.sleep(pace)


def test_endless_header_line(scripted_model: ScriptedModel, spawn: Spawner, path_env: dict[str, str]) -> None:
    client = spawn(env=path_env)
    scripted_model.verbatim(lambda: endless(b"HTTP/1.1 200 OK\r\nX-Endless: ", b"h" * 65536))
    result, _ = attack(client)
    judge(client, result, "response head is over 100 KiB", path_env)


def test_slowloris_head_ends_at_the_idle_bound(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner, path_env: dict[str, str]
) -> None:
    idle_bound(codex_home, 3000)
    client = spawn(env=path_env)
    scripted_model.verbatim(lambda: endless(b"HTTP/1.1 200 OK\r\nX-Slow: ", b"s", pace=0.01))
    result, elapsed = attack(client)
    judge(client, result, "timed out waiting for response headers", path_env)
    assert elapsed < 30, f"the call took {elapsed:.1f} s with a 3 s bound"


def test_interim_response_flood(
    scripted_model: ScriptedModel, codex_home: Path, spawn: Spawner, path_env: dict[str, str]
) -> None:
    # Ours stops at the 17th interim answer; the head-wait bound (5 s) is the backstop.
    idle_bound(codex_home, 5000)
    client = spawn(env=path_env)
    scripted_model.verbatim(
        lambda: endless(b"", b"HTTP/1.1 100 Continue\r\nX-Pad: " + b"p" * 1000 + b"\r\n\r\n")
    )
    result, elapsed = attack(client)
    judge(client, result, "over 16 interim responses", path_env)
    assert elapsed < 30


def test_two_to_the_64_chunk_filled_forever(
    scripted_model: ScriptedModel, spawn: Spawner, path_env: dict[str, str]
) -> None:
    def frames() -> Iterator[bytes]:
        yield ok_head("Transfer-Encoding: chunked") + b"ffffffffffffffff\r\n"
        yield b'event: response.created\ndata: {"type": "response.created", "response": {"id": "r"}}\n\n'
        yield b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta", "delta": "'
        while True:
            yield b"A" * 65536

    client = spawn(env=path_env)
    scripted_model.verbatim(frames)
    result, _ = attack(client)
    judge(client, result, "SSE line larger than 8 MiB", path_env)


def test_one_byte_chunks_with_extensions(
    scripted_model: ScriptedModel, spawn: Spawner, path_env: dict[str, str]
) -> None:
    """A valid answer, each byte its own chunk with a 200-byte extension: a lot of parsing
    per byte of content; the server keeps answering and the answer is exact."""
    body = sse_body("tiny chunks " * 200)
    ext = b";" + b"e=x;" * 50

    def frames() -> Iterator[bytes]:
        yield ok_head("Transfer-Encoding: chunked")
        batch = []
        for i in range(len(body)):
            batch.append(b"1" + ext + b"\r\n" + body[i : i + 1] + b"\r\n")
            if len(batch) == 256:
                yield b"".join(batch)
                batch = []
        yield b"".join(batch) + b"0\r\n\r\n"

    client = spawn(env=path_env)
    scripted_model.verbatim(frames)
    result, _ = attack(client)
    assert result.get("isError") is not True, result
    assert result_text(result) == "tiny chunks " * 200
    assert vm_hwm_mb(client.proc.pid) < PEAK_RSS_LIMIT_MB
    assert_no_traceback(client)


def test_trailer_and_extension_line_floods(
    scripted_model: ScriptedModel, spawn: Spawner, path_env: dict[str, str]
) -> None:
    def frames() -> Iterator[bytes]:
        yield ok_head("Transfer-Encoding: chunked") + b"5;"
        while True:
            yield b"x" * 65536

    client = spawn(env=path_env)
    scripted_model.verbatim(frames)
    result, _ = attack(client)
    judge(client, result, "chunk-size line over 1024 bytes", path_env)


# --- smuggling across calls, through the server ---------------------------------------------


@pytest.fixture
def raw_model(codex_home: Path) -> Iterator[tuple[RawServer, Answers]]:
    answers = Answers()
    with RawServer(answers) as server:
        answers.server = server
        write_config(codex_home, answers)  # type: ignore[arg-type]
        yield server, answers


def test_second_call_never_gets_a_smuggled_answer(
    raw_model: tuple[RawServer, Answers],
    codex_home: Path,
    workspace: Path,
    tmp_path: Path,
    path_env: dict[str, str],
) -> None:
    server, answers = raw_model
    fake = respond(sse_body("FAKE answer written before the request"))
    with spawner(codex_home, workspace, tmp_path, answers) as spawn:  # type: ignore[arg-type]
        client = spawn(env=path_env)
        answers.script(
            Answer(respond(sse_body("first answer")) + fake),
            Answer(respond(sse_body("second answer"))),
        )
        with PingMonitor(client) as monitor:
            _, first = run_codex(client)
            _, second = run_codex(client)
        monitor.check()
    assert result_text(first) == "first answer", first
    assert result_text(second) == "second answer", second
    assert len(server.requests) == 3  # the warm-up and the two calls, each sent once
    assert_no_traceback(client)


def test_keep_alive_is_used_and_survives_a_dropped_connection(
    raw_model: tuple[RawServer, Answers],
    codex_home: Path,
    workspace: Path,
    tmp_path: Path,
    path_env: dict[str, str],
) -> None:
    """Our transport keeps the connection between calls (through a proxy too: one proxy
    connection per provider connection) and resends once, unannounced, when the provider
    drops it just as it is reused."""
    server, answers = raw_model
    with spawner(codex_home, workspace, tmp_path, answers) as spawn:  # type: ignore[arg-type]
        client = spawn(env=path_env)
        answers.script(Answer(b"", end="close"), Answer(respond(sse_body("after the drop"))))
        _, result = run_codex(client)
    assert result_text(result) == "after the drop", result
    connections = [r.connection for r in server.requests]
    assert connections == [1, 1, 2], connections
