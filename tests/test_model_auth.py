from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from codex_mcp.agent.model import Auth, ModelClient, resolve_auth
from codex_mcp.agent.model.auth import CHATGPT_CODEX_BASE_URL, REFRESH_URL_ENV
from codex_mcp.agent.model.provider import ModelProviderInfo
from codex_mcp.agent.model.transport import ProviderTransport
from codex_mcp.agent.model.types import Completed, ModelError
from tests.support.model_wire import (
    RetryLog,
    collect,
    error_reply,
    json_reply,
    responses_events,
    simple_prompt,
    sse_reply,
)
from tests.support.scripted_model import ScriptedModel

OPENAI = ModelProviderInfo(
    id="openai",
    name="OpenAI",
    base_url="https://api.openai.com/v1",
    wire_api="responses",
    requires_openai_auth=True,
)


def _provider(**kw: object) -> ModelProviderInfo:
    return ModelProviderInfo(id="p", name="Acme", base_url="http://127.0.0.1:1/v1", **kw)  # type: ignore[arg-type]


def _jwt(claims: dict[str, object]) -> str:
    def seg(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{seg({'alg': 'none'})}.{seg(claims)}.sig"


def _write_login(home: Path, **tokens: object) -> Path:
    path = home / "auth.json"
    data = {
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": "x.y.z",
            "access_token": "old",
            "refresh_token": "r1",
            "account_id": "acc-1",
            **tokens,
        },
        "last_refresh": "2025-01-01T00:00:00Z",
    }
    path.write_text(json.dumps(data))
    return path


# --- resolve_auth -----------------------------------------------------------------------------


def test_env_key(tmp_path: Path) -> None:
    auth = resolve_auth(_provider(env_key="ACME_KEY"), tmp_path, {"ACME_KEY": " k1 "})
    assert (auth.mode, auth.token, auth.headers()) == ("api_key", "k1", {"Authorization": "Bearer k1"})


@pytest.mark.parametrize("env", [{}, {"ACME_KEY": "   "}])
def test_missing_env_key(tmp_path: Path, env: dict[str, str]) -> None:
    provider = _provider(env_key="ACME_KEY", env_key_instructions="Create one at https://acme.test/keys.")
    with pytest.raises(ModelError) as info:
        resolve_auth(provider, tmp_path, env)
    assert info.value.kind == "missing_credentials"
    assert str(info.value) == (
        "Missing environment variable `ACME_KEY`: set it to the API key of the 'Acme' model provider. "
        "Create one at https://acme.test/keys."
    )


def test_bearer_token_wins(tmp_path: Path) -> None:
    auth = resolve_auth(_provider(env_key="ACME_KEY", experimental_bearer_token="tok"), tmp_path, {})
    assert auth.token == "tok"


def test_provider_without_auth(tmp_path: Path) -> None:
    auth = resolve_auth(_provider(), tmp_path, {"OPENAI_API_KEY": "sk"})
    assert auth.mode == "none" and auth.headers() == {}


def test_openai_env_order(tmp_path: Path) -> None:
    _write_login(tmp_path)
    env = {"OPENAI_API_KEY": "", "CODEX_API_KEY": "ck", "CODEX_ACCESS_TOKEN": "at"}
    assert resolve_auth(OPENAI, tmp_path, env).token == "ck"
    assert resolve_auth(OPENAI, tmp_path, {"CODEX_ACCESS_TOKEN": "at"}).token == "at"
    assert resolve_auth(OPENAI, tmp_path, {"OPENAI_API_KEY": "sk", "CODEX_API_KEY": "ck"}).token == "sk"


def test_auth_json_api_key_form(tmp_path: Path) -> None:
    (tmp_path / "auth.json").write_text(json.dumps({"OPENAI_API_KEY": "sk-file"}))
    auth = resolve_auth(OPENAI, tmp_path, {})
    assert (auth.mode, auth.token, auth.base_url) == ("api_key", "sk-file", None)


def test_auth_json_chatgpt_form(tmp_path: Path) -> None:
    _write_login(tmp_path)
    auth = resolve_auth(OPENAI, tmp_path, {})
    assert auth.mode == "chatgpt" and auth.can_refresh
    assert auth.base_url == CHATGPT_CODEX_BASE_URL
    assert auth.headers() == {"Authorization": "Bearer old", "chatgpt-account-id": "acc-1"}


def test_account_id_from_id_token_and_custom_base_url(tmp_path: Path) -> None:
    jwt = _jwt({"https://api.openai.com/auth": {"chatgpt_account_id": "acc-jwt"}})
    _write_login(tmp_path, account_id=None, id_token=jwt)
    provider = ModelProviderInfo(
        id="openai",
        name="OpenAI",
        base_url="https://proxy.test/v1",
        wire_api="responses",
        requires_openai_auth=True,
    )
    auth = resolve_auth(provider, tmp_path, {})
    assert auth.account_id == "acc-jwt"
    assert auth.base_url is None  # an explicit base URL is kept


def test_no_openai_credentials(tmp_path: Path) -> None:
    (tmp_path / "auth.json").write_text("{not json")
    with pytest.raises(ModelError) as info:
        resolve_auth(OPENAI, tmp_path, {})
    assert info.value.kind == "missing_credentials"
    assert "OPENAI_API_KEY" in str(info.value)


# --- ChatGPT refresh against a local server -----------------------------------------------------


def _chatgpt_client(mock: ScriptedModel, http: ProviderTransport, home: Path) -> ModelClient:
    auth = resolve_auth(
        OPENAI, home, {REFRESH_URL_ENV: mock.url("/oauth/token")}, chatgpt_base_url=mock.base_url
    )
    return ModelClient(OPENAI, http=http, auth=auth, env={})


@pytest.mark.anyio
async def test_401_refreshes_once_and_writes_back(
    mock: ScriptedModel, http: ProviderTransport, tmp_path: Path
) -> None:
    path = _write_login(tmp_path)
    mock.script(
        json_reply(200, {"access_token": "new", "refresh_token": "r2", "id_token": "a.b.c"}),
        path="/oauth/token",
    )
    mock.script(error_reply(401, "token expired"), sse_reply(responses_events("ok")))
    client = _chatgpt_client(mock, http, tmp_path)
    log = RetryLog()
    got = await collect(client, on_retry=log)
    assert isinstance(got[-1], Completed)
    assert log.calls == []
    first, token_req, second = mock.requests
    assert first.path == "/v1/responses"
    assert first.headers["authorization"] == "Bearer old"
    assert first.headers["chatgpt-account-id"] == "acc-1"
    assert token_req.path == "/oauth/token"
    body = token_req.json
    assert body["grant_type"] == "refresh_token" and body["refresh_token"] == "r1"
    assert second.headers["authorization"] == "Bearer new"
    saved = json.loads(path.read_text())
    assert saved["tokens"] == {
        "id_token": "a.b.c",
        "access_token": "new",
        "refresh_token": "r2",
        "account_id": "acc-1",
    }
    assert saved["last_refresh"] != "2025-01-01T00:00:00Z"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["auth.json"]  # no temp file left


@pytest.mark.anyio
async def test_second_401_is_fatal(mock: ScriptedModel, http: ProviderTransport, tmp_path: Path) -> None:
    _write_login(tmp_path)
    mock.script(json_reply(200, {"access_token": "new"}), path="/oauth/token")
    mock.script(error_reply(401, "nope"), error_reply(401, "still nope"))
    with pytest.raises(ModelError) as info:
        await collect(_chatgpt_client(mock, http, tmp_path))
    assert info.value.kind == "unauthorized"
    assert (
        str(info.value) == f"unexpected status 401 Unauthorized: still nope, url: {mock.base_url}/responses"
    )
    assert len(mock.requests_to("/oauth/token")) == 1


@pytest.mark.anyio
async def test_refresh_refused(mock: ScriptedModel, http: ProviderTransport, tmp_path: Path) -> None:
    path = _write_login(tmp_path)
    before = path.read_text()
    mock.script(error_reply(400, "refresh token reused", "invalid_grant"), path="/oauth/token")
    mock.script(error_reply(401, "expired"))
    with pytest.raises(ModelError) as info:
        await collect(_chatgpt_client(mock, http, tmp_path))
    assert info.value.kind == "unauthorized"
    assert "refreshing the ChatGPT token failed with status 400" in str(info.value)
    assert path.read_text() == before


@pytest.mark.anyio
async def test_concurrent_refresh_happens_once(
    mock: ScriptedModel, http: ProviderTransport, tmp_path: Path
) -> None:
    _write_login(tmp_path)
    auth = resolve_auth(OPENAI, tmp_path, {REFRESH_URL_ENV: mock.url("/oauth/token")})
    mock.script(json_reply(200, {"access_token": "new"}), path="/oauth/token")
    await auth.refresh(http, stale_token="old")
    await auth.refresh(http, stale_token="old")  # already replaced: no second request
    assert auth.token == "new"
    assert len(mock.requests_to("/oauth/token")) == 1


def test_auth_is_usable_without_a_loop() -> None:
    assert Auth("api_key", "k").headers() == {"Authorization": "Bearer k"}
    assert simple_prompt().instructions
