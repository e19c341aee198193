"""Credentials for a model provider: API keys from the environment or config, or a ChatGPT
login stored in `$CODEX_HOME/auth.json` (refreshed on demand and written back atomically).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from codex_mcp.agent.model.content_decoding import ACCEPT_ENCODING, read_body
from codex_mcp.agent.model.provider import ModelProviderInfo
from codex_mcp.agent.model.types import ModelError
from codex_mcp.errors import ProviderTransportError
from codex_mcp.json_bounds import loads_bounded

if TYPE_CHECKING:
    from codex_mcp.agent.model.transport import ProviderTransport

AuthMode = Literal["none", "api_key", "chatgpt"]

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHATGPT_CODEX_BASE_URL = "https://chatgpt.com/backend-api/codex"
DEFAULT_REFRESH_URL = "https://auth.openai.com/oauth/token"
REFRESH_URL_ENV = "CODEX_REFRESH_TOKEN_URL_OVERRIDE"
# The public OAuth client id of the Codex CLI login flow (not a secret); the token endpoint
# only refreshes tokens that were issued to this client.
REFRESH_TIMEOUT_S = 30.0
MAX_REFRESH_BODY = 1024 * 1024
"""The token endpoint's answer is a few KiB; anything beyond this is not read."""
REFRESH_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"
OPENAI_KEY_VARS = ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_ACCESS_TOKEN")
AUTH_FILE_NAME = "auth.json"


@dataclass
class Auth:
    """How requests authenticate.  Mutable: a ChatGPT refresh swaps the tokens in place."""

    mode: AuthMode
    token: str | None = None
    source: str = ""
    account_id: str | None = None
    base_url: str | None = None  # replaces the provider's base_url (ChatGPT backend)
    id_token: str | None = None
    refresh_token: str | None = None
    auth_file: Path | None = None
    refresh_url: str = DEFAULT_REFRESH_URL
    _lock: anyio.Lock = field(default_factory=anyio.Lock, repr=False, compare=False)

    @property
    def can_refresh(self) -> bool:
        return self.mode == "chatgpt" and bool(self.refresh_token)

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        if self.mode == "chatgpt" and self.account_id:
            out["chatgpt-account-id"] = self.account_id
        return out

    async def refresh(self, http: ProviderTransport, stale_token: str | None = None) -> None:
        """Exchange the refresh token for new tokens and persist them.

        When `stale_token` is given and another task already replaced it, nothing is sent.
        Raises `ModelError(kind="unauthorized")` when the refresh is refused.
        """
        async with self._lock:
            if stale_token is not None and self.token != stale_token:
                return
            if not self.refresh_token:
                raise ModelError("ChatGPT login has no refresh token; log in again", "unauthorized")
            payload = {
                "client_id": REFRESH_CLIENT_ID,
                "grant_type": "refresh_token",
                "refresh_token": self.refresh_token,
                "scope": "openid profile email",
            }
            try:
                with anyio.fail_after(REFRESH_TIMEOUT_S):
                    resp = await http.send(
                        "POST",
                        self.refresh_url,
                        headers=[("Accept-Encoding", ACCEPT_ENCODING), ("Content-Type", "application/json")],
                        content=json.dumps(payload).encode("utf-8"),
                        connect_timeout=REFRESH_TIMEOUT_S,
                    )
                    try:
                        status = resp.status_code
                        body = await read_body(resp, MAX_REFRESH_BODY)
                    finally:
                        await resp.aclose()
            except (ProviderTransportError, ModelError, TimeoutError) as e:
                raise ModelError(
                    f"could not refresh the ChatGPT token at {self.refresh_url}: {e or type(e).__name__}",
                    "unauthorized",
                ) from None
            if status != 200:
                text = body[:500].decode("utf-8", "replace")
                raise ModelError(
                    f"refreshing the ChatGPT token failed with status {status}: {text}; log in again",
                    "unauthorized",
                    status,
                )
            try:
                data = loads_bounded(body.decode("utf-8"))
            except ValueError:
                data = None
            if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
                raise ModelError("token refresh answer has no access_token", "unauthorized", 200)
            self.token = data["access_token"]
            if isinstance(data.get("id_token"), str):
                self.id_token = data["id_token"]
                self.account_id = self.account_id or _account_id_from_jwt(self.id_token)
            if isinstance(data.get("refresh_token"), str):
                self.refresh_token = data["refresh_token"]
            if self.auth_file is not None:
                await anyio.to_thread.run_sync(self._write_back, self.auth_file)

    def _write_back(self, path: Path) -> None:
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(current, dict):
                current = {}
        except (OSError, ValueError):
            current = {}
        tokens = current.get("tokens")
        tokens = dict(tokens) if isinstance(tokens, dict) else {}
        tokens["access_token"] = self.token
        if self.id_token is not None:
            tokens["id_token"] = self.id_token
        if self.refresh_token is not None:
            tokens["refresh_token"] = self.refresh_token
        if self.account_id is not None:
            tokens["account_id"] = self.account_id
        current["tokens"] = tokens
        current["last_refresh"] = _dt.datetime.now(_dt.UTC).isoformat().replace("+00:00", "Z")
        write_json_atomic(path, current)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write `obj` as JSON via a 0600 temp file in the same directory, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # only a ChatGPT login's refresh writes: keep shutil, bz2, lzma off a call

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def resolve_auth(
    provider: ModelProviderInfo,
    codex_home: Path,
    env: Mapping[str, str],
    *,
    chatgpt_base_url: str | None = None,
) -> Auth:
    """Pick the credentials for `provider`, in order:

    1. `experimental_bearer_token` from the provider entry;
    2. the provider's `env_key` variable (must be set and non-blank);
    3. for providers that use OpenAI auth: `OPENAI_API_KEY`, `CODEX_API_KEY`,
       `CODEX_ACCESS_TOKEN`, then `$CODEX_HOME/auth.json` (API key or ChatGPT login);
    4. otherwise no credentials at all (local servers).
    """
    if provider.experimental_bearer_token and provider.experimental_bearer_token.strip():
        return Auth("api_key", provider.experimental_bearer_token.strip(), source="experimental_bearer_token")
    if provider.env_key:
        value = env.get(provider.env_key, "").strip()
        if value:
            return Auth("api_key", value, source=f"env {provider.env_key}")
        msg = (
            f"Missing environment variable `{provider.env_key}`: set it to the API key of the "
            f"'{provider.name}' model provider."
        )
        if provider.env_key_instructions:
            msg += f" {provider.env_key_instructions}"
        raise ModelError(msg, "missing_credentials")
    if not provider.requires_openai_auth:
        return Auth("none", source="none")
    for var in OPENAI_KEY_VARS:
        value = env.get(var, "").strip()
        if value:
            return Auth("api_key", value, source=f"env {var}")
    auth = load_auth_file(codex_home / AUTH_FILE_NAME, env)
    if auth is None:
        raise ModelError(
            "No OpenAI credentials found: set OPENAI_API_KEY (or CODEX_API_KEY), or log in with "
            f"`codex login` so that {codex_home / AUTH_FILE_NAME} exists.",
            "missing_credentials",
        )
    if auth.mode == "chatgpt" and provider.base_url.rstrip("/") in ("", OPENAI_DEFAULT_BASE_URL):
        auth.base_url = chatgpt_base_url or CHATGPT_CODEX_BASE_URL
    return auth


def load_auth_file(path: Path, env: Mapping[str, str]) -> Auth | None:
    """Read auth.json in either form Codex writes; None when absent or unusable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    key = data.get("OPENAI_API_KEY")
    if isinstance(key, str) and key.strip():
        return Auth("api_key", key.strip(), source=str(path))
    tokens = data.get("tokens")
    if not isinstance(tokens, dict):
        return None
    access = tokens.get("access_token")
    if not isinstance(access, str) or not access:
        return None
    id_token = tokens.get("id_token") if isinstance(tokens.get("id_token"), str) else None
    account = tokens.get("account_id") if isinstance(tokens.get("account_id"), str) else None
    if not account and id_token:
        account = _account_id_from_jwt(id_token)
    refresh = tokens.get("refresh_token") if isinstance(tokens.get("refresh_token"), str) else None
    return Auth(
        "chatgpt",
        access,
        source=str(path),
        account_id=account or None,
        id_token=id_token,
        refresh_token=refresh or None,
        auth_file=path,
        refresh_url=env.get(REFRESH_URL_ENV, "").strip() or DEFAULT_REFRESH_URL,
    )


def _account_id_from_jwt(token: str) -> str | None:
    """The ChatGPT account id claim of an id_token (no signature check: we only route by it)."""
    parts = token.split(".")
    if len(parts) < 2:
        return None
    seg = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(seg.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(claims, dict):
        return None
    info = claims.get("https://api.openai.com/auth")
    if isinstance(info, dict) and isinstance(info.get("chatgpt_account_id"), str):
        return str(info["chatgpt_account_id"])
    return None
