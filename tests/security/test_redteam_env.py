"""Red-team variants of secrets in the server's environment: names and value formats the
environment tests do not use, dumped by a sandboxed command under both backends and by an
unsandboxed one; judged by what the model provider received."""

from __future__ import annotations

import json

import pytest

from tests.security.policy_support import BACKENDS, require_backend, run_turn
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.timeout(90)

SECRETS = {
    "GITHUB_PAT": "plain-pat-secret-1",
    "DB_PW": "db-pw-secret-2",
    "LDAP_BIND_PW": "ldap-secret-3",
    "PGPASS": "pgpass-secret-4",
    "CI_JOB_JWT": "ci-jwt-secret-5",
    "UPSTREAM_HEADER": "Bearer header-secret-6-abcdefghij",
    "PAYMENTS": "sk_live_" + "7" * 24,
    "UPLOAD": "pypi-AgEIcHlwaS5vcmc" + "8" * 40,
    "CLOUD": "dop_v1_" + "9" * 64,
    "SESSION_BLOB": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQtMTAifQ." + "a" * 43,
}


@pytest.mark.parametrize("sandbox", [*BACKENDS, "none"])
def test_more_secret_names_and_formats_never_reach_a_command(
    sandbox: str, scripted_model: ScriptedModel, spawn_server: ServerFactory
) -> None:
    env = dict(SECRETS)
    if sandbox != "none":
        env.update(require_backend(sandbox))
    cid = scripted_model.shell(["bash", "-c", "env; cat /proc/self/environ | tr '\\0' '\\n'"])
    scripted_model.text("done")
    client = spawn_server(env=env)
    run_turn(
        client, approval="never", sandbox="danger-full-access" if sandbox == "none" else "workspace-write"
    )
    output = scripted_model.call_output(cid)
    assert "PATH=" in output, output  # the dump ran
    sent = json.dumps([r.body for r in scripted_model.requests])
    for name, value in SECRETS.items():
        assert value not in sent, f"{name} reached the model provider"
