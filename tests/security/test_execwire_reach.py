"""A hostile model in one thread goes after the process sessions of another thread of the same
server: it has the other session's id (as if leaked, or guessed) and calls `write_stdin` with
it while that thread's turn is still running.  Session ids belong to the thread that started
them, so every attempt is an unknown process; the session it aimed at stays intact and its
owner keeps driving it.

Variants: the neighbours of the id, a sweep of guesses across the whole id range, after
starting a session of its own, ids of the wrong type or range.  Judged from outside: the
file the attack would create, the victim's own terminal output, the server answering.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.execwire_support import exec_command, session_id_in
from tests.security.backends_support import BACKENDS, needs_linux, place
from tests.security.execwire_support import SHELL, go, seen_anywhere, server, typed, write_to
from tests.security.harness import assert_alive
from tests.support.scripted_model import ScriptedModel, text_turn

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(240)]


def unknown(out: str) -> bool:
    return out.startswith("write_stdin failed: Unknown process id ")


@pytest.mark.parametrize("backend", BACKENDS)
def test_another_threads_session_cannot_be_reached(
    backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    m = scripted_model
    with place("root") as p:
        pwned = p.ws / "pwned"
        # Thread A: a shell on a terminal, then its turn waits on the model.
        victim = exec_command(m, SHELL, tty=True, yield_ms=1000)
        gate = m.hold(then=text_turn("A paused"))
        # Thread B, while A's turn runs: the leaked id, its neighbours, guesses, its own session.
        attack = f"touch {pwned}; echo typed-by-b\n"
        direct = write_to(m, victim, attack, find=seen_anywhere)
        near = [
            write_to(m, victim, attack, find=seen_anywhere, session_id=lambda s, d=d: s + d) for d in (-1, 1)
        ]
        own = exec_command(m, "exec cat", tty=True, yield_ms=500)
        after_own = write_to(m, victim, attack, find=seen_anywhere)
        guesses = random.Random(7).sample(range(1000, 100_000), 40)
        swept = [m.function("write_stdin", {"session_id": g, "chars": attack}) for g in guesses]
        odd = [
            m.function("write_stdin", {"session_id": value, "chars": attack})
            for value in (-1, 0, 2**31 - 1, 2**31, "12345", 1.5, None)
        ]
        control = write_to(m, own, "mine\n", yield_ms=500)
        m.text("B done")
        # Thread A again: its session is intact and still answers its owner.
        back = typed(m, victim, "echo still-mine", "rcA")
        m.text("A done")
        with server("root", m, tmp_path / "server.log", backend=backend, where=p) as (client, _):
            a = client.call_tool(
                "codex", {"prompt": "A", "approval-policy": "never", "sandbox": "workspace-write"}
            )
            gate.wait_arrived(1, timeout=60)
            b = go(client)
            assert not b.get("isError"), b
            gate.release()
            a_result = client.wait_response(a, 60)["result"]
            thread_a = a_result["structuredContent"]["threadId"]
            rid = client.call_tool("codex-reply", {"threadId": thread_a, "prompt": "again"})
            client.wait_response(rid, 60)

            victim_id = session_id_in(m.call_output(victim))
            outs = [m.call_output(c) for c in (direct, *near, after_own)]
            assert all(unknown(o) for o in outs), outs
            assert m.call_output(direct) == f"write_stdin failed: Unknown process id {victim_id}"
            own_id = session_id_in(m.call_output(own))
            for guess, call in zip(guesses, swept, strict=True):
                out = m.call_output(call)
                assert unknown(out) or guess == own_id, out
            odd_out = [m.call_output(c) for c in odd]
            assert all(o.startswith(("write_stdin failed: Unknown", "failed to parse")) for o in odd_out), (
                odd_out
            )
            assert "mine" in m.call_output(control)  # B's own session works
            assert not pwned.exists()
            mine = m.call_output(back)
            assert "still-mine" in mine and "rcA=0" in mine and "typed-by-b" not in mine, mine
            assert_alive(client)
