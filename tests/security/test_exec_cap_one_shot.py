"""One-shot commands (`shell`, `shell_command`) count against the server-wide process cap
while they run, like process sessions: a hostile model in several threads cannot add up
past the server's limit with commands that never become sessions.  Judged from outside by
counting the server's descendant `sleep` processes while pinging it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.backends_support import BACKENDS, kill_all, nap, needs_linux, sleepers
from tests.security.exec_cap_support import (
    CAP,
    REFUSAL_KEY,
    Watch,
    cap_server,
    codex_args,
    outputs,
    queue_sleepers,
    sleeps_under,
    start_held_rounds,
    tally,
)
from tests.security.harness import assert_alive
from tests.support.scripted_model import ScriptedModel, Turn, function_call

pytestmark = [needs_linux, pytest.mark.sandbox, pytest.mark.timeout(400)]

THREADS, PER_THREAD = 3, 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_shot_commands_count_against_the_server_cap(
    backend: str, scripted_model: ScriptedModel, tmp_path: Path
) -> None:
    """Three threads each run a round of 5 one-shot `shell` commands side by side (15
    against a cap of 12): at most 12 run and 3 are refused with a text naming the limit.
    Once the 12 are killed from outside every slot is back: a fresh thread opens 12
    sessions and only the 13th is refused."""
    m = scripted_model
    held, fresh = nap(), nap()
    one_shot = {"command": ["sleep", held], "timeout_ms": 300_000}
    for _ in range(THREADS):
        m.add(Turn("calls", calls=[function_call("shell", one_shot) for _ in range(PER_THREAD)]))
    for _ in range(THREADS):
        m.text("done")
    queue_sleepers(m, fresh, CAP + 1)
    m.text("done")
    try:
        with cap_server(m, tmp_path, backend) as client:
            pid = client.proc.pid
            with Watch(client, held) as watch:
                ids = start_held_rounds(client, m, held, THREADS)
                kill_all(sleeps_under(pid, held))
                for rid in ids:
                    response = client.wait_response(rid, 120)
                    assert not response["result"].get("isError"), response
            refusals = [o for o in outputs(m).values() if REFUSAL_KEY in o]
            assert len(refusals) == THREADS * PER_THREAD - CAP, outputs(m)
            assert all(f"already runs {CAP} processes" in r for r in refusals), refusals[0]
            assert watch.samples > 0 and watch.peak <= CAP, watch.peak
            assert watch.slowest_ping < 5.0, watch.slowest_ping
            response = client.wait_response(client.call_tool("codex", codex_args("workspace-write")), 120)
            assert not response["result"].get("isError"), response
            opened, refused, _ = tally(m)
            assert (opened, refused) == (CAP, THREADS * PER_THREAD - CAP + 1), outputs(m)
            assert len(sleeps_under(pid, fresh)) == CAP
            assert_alive(client)
    finally:
        kill_all(sleepers(held) + sleepers(fresh))
