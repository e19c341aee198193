"""Secrets in the server's environment never reach a command the model runs.

The server starts with passwords, tokens, connection strings with credentials, cloud keys
and the model provider's own key (under a name that looks harmless); the model dumps its
environment every way it can.  Checked under both backends and with no sandbox at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.policy_support import BACKENDS, require_backend, run_turn
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

SECRETS = {
    "PGPASSWORD": "pg-secret-1",
    "DATABASE_URL": "postgres://app:db-secret-2@db.internal/app",
    "CACHE": "redis://:cache-secret-3@cache:6379/0",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-4",
    "AWS_ACCESS_KEY_ID": "AKIAABCDEFGHIJKLMNOP",
    "GITHUB_TOKEN": "gh-secret-5",
    "DEPLOY_NOTE": "ghp_" + "s" * 36,
    "MYSQL_PWD": "mysql-secret-6",
    "SMTP_PASS": "smtp-secret-7",
    "GOOGLE_APPLICATION_CREDENTIALS": "/keys/gcp-secret-8.json",
    "SSH_AUTH_SOCK": "/run/agent-secret-9.sock",
    "SENTRY_DSN": "https://key-secret-10@o1.ingest.sentry.io/1",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/webhook-secret-11",
}
KEPT = {"LANG": "C.UTF-8", "MY_PROJECT_SETTING": "visible-value"}

DUMPS = [
    pytest.param(["bash", "-c", "env > dump.txt"], id="env"),
    pytest.param(["bash", "-c", "cat /proc/self/environ | tr '\\0' '\\n' > dump.txt"], id="proc-self"),
    pytest.param(["bash", "-lc", "set > dump.txt"], id="login-shell-set"),
    pytest.param(
        ["python3", "-c", "import os; open('dump.txt','w').write(repr(dict(os.environ)))"], id="python"
    ),
]


def _provider_config(codex_home: Path, model: ScriptedModel) -> None:
    """The provider's key under a name no pattern would catch; calls may choose no sandbox (the
    person's opt-in), for the no-sandbox case."""
    (codex_home / "config.toml").write_text(
        f"""model = "mock-model"
model_provider = "gw"

[model_providers.gw]
name = "gateway"
base_url = "{model.base_url}"
env_key = "MODEL_GATEWAY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[codex_mcp]
max_call_sandbox = "danger-full-access"
""",
        encoding="utf-8",
    )


@pytest.mark.parametrize("dump", DUMPS)
@pytest.mark.parametrize("where", [*BACKENDS, "no-sandbox"])
def test_command_environment_holds_no_secret(
    dump: list[str],
    where: str,
    scripted_model: ScriptedModel,
    spawn_server: ServerFactory,
    workspace: Path,
    codex_home: Path,
) -> None:
    env = {} if where == "no-sandbox" else require_backend(where)
    _provider_config(codex_home, scripted_model)
    call_id = scripted_model.shell(dump)
    scripted_model.text("done")
    client = spawn_server(env={**env, **SECRETS, **KEPT, "MODEL_GATEWAY": "provider-secret-0"})
    sandbox = "danger-full-access" if where == "no-sandbox" else "workspace-write"
    run_turn(client, approval="never", sandbox=sandbox)
    outputs = [r.call_output(call_id) for r in scripted_model.requests]
    assert (workspace / "dump.txt").exists(), f"the dump did not run: {outputs}"
    text = (workspace / "dump.txt").read_text()
    assert "PATH" in text and "HOME" in text and "visible-value" in text and "C.UTF-8" in text
    leaked = [name for name, value in SECRETS.items() if value in text or f"{name}=" in text]
    assert leaked == [], f"secrets reached the command: {leaked}"
    assert "provider-secret-0" not in text and "MODEL_GATEWAY" not in text
