"""Model providers: the built-in ones and `[model_providers.<id>]` entries."""

from __future__ import annotations

from collections.abc import Mapping

from codex_mcp.agent.config.checks import Reader
from codex_mcp.agent.model.provider import (
    DEFAULT_REQUEST_MAX_RETRIES,
    DEFAULT_STREAM_IDLE_TIMEOUT_MS,
    DEFAULT_STREAM_MAX_RETRIES,
    MAX_RETRIES_CAP,
    ModelProviderInfo,
    WireApi,
)

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
OLLAMA_DEFAULT_PORT = 11434
LMSTUDIO_DEFAULT_PORT = 1234
WIRE_APIS: tuple[WireApi, ...] = ("responses", "chat")

_builtin_cache: dict[tuple[str | None, ...], dict[str, ModelProviderInfo]] = {}


def _oss_base_url(env: Mapping[str, str], default_port: int) -> str:
    explicit = env.get("CODEX_OSS_BASE_URL", "").strip()
    if explicit:
        return explicit
    port_text = env.get("CODEX_OSS_PORT", "").strip()
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else default_port
    return f"http://localhost:{port}/v1"


def builtin_providers(env: Mapping[str, str]) -> dict[str, ModelProviderInfo]:
    """`openai`, `oss` (alias `ollama`) and `lmstudio`, with their env-var base URLs applied."""
    key = tuple(env.get(name) for name in ("OPENAI_BASE_URL", "CODEX_OSS_BASE_URL", "CODEX_OSS_PORT"))
    cached = _builtin_cache.get(key)
    if cached is not None:
        return dict(cached)
    openai_url = (env.get("OPENAI_BASE_URL") or "").strip() or OPENAI_DEFAULT_BASE_URL
    ollama_url = _oss_base_url(env, OLLAMA_DEFAULT_PORT)
    providers = {
        "openai": ModelProviderInfo(
            id="openai", name="OpenAI", base_url=openai_url, wire_api="responses", requires_openai_auth=True
        ),
        "oss": ModelProviderInfo(id="oss", name="gpt-oss", base_url=ollama_url, wire_api="chat"),
        "ollama": ModelProviderInfo(id="ollama", name="gpt-oss", base_url=ollama_url, wire_api="chat"),
        "lmstudio": ModelProviderInfo(
            id="lmstudio",
            name="gpt-oss",
            base_url=_oss_base_url(env, LMSTUDIO_DEFAULT_PORT),
            wire_api="responses",
        ),
    }
    if len(_builtin_cache) > 16:
        _builtin_cache.clear()
    _builtin_cache[key] = providers
    return dict(providers)


def _retries(reader: Reader, path: list[str], default: int) -> int:
    return min(reader.integer(path, default), MAX_RETRIES_CAP)


def build_provider(reader: Reader, pid: str, base: ModelProviderInfo | None) -> ModelProviderInfo:
    """One `[model_providers.<pid>]` entry; fields it omits come from the built-in `base`."""
    p = ["model_providers", pid]
    reader.table(p)  # the entry itself must be a table
    wire: str = reader.enum([*p, "wire_api"], WIRE_APIS, base.wire_api if base else "chat")
    return ModelProviderInfo(
        id=pid,
        name=reader.string([*p, "name"], base.name if base else pid),
        base_url=reader.string([*p, "base_url"], base.base_url if base else OPENAI_DEFAULT_BASE_URL),
        wire_api="responses" if wire == "responses" else "chat",
        env_key=reader.string([*p, "env_key"], base.env_key if base else None),
        env_key_instructions=reader.string(
            [*p, "env_key_instructions"], base.env_key_instructions if base else None
        ),
        experimental_bearer_token=reader.string(
            [*p, "experimental_bearer_token"], base.experimental_bearer_token if base else None
        ),
        query_params=_map(reader, [*p, "query_params"], base.query_params if base else {}),
        http_headers=_map(reader, [*p, "http_headers"], base.http_headers if base else {}),
        env_http_headers=_map(reader, [*p, "env_http_headers"], base.env_http_headers if base else {}),
        request_max_retries=_retries(
            reader,
            [*p, "request_max_retries"],
            base.request_max_retries if base else DEFAULT_REQUEST_MAX_RETRIES,
        ),
        stream_max_retries=_retries(
            reader,
            [*p, "stream_max_retries"],
            base.stream_max_retries if base else DEFAULT_STREAM_MAX_RETRIES,
        ),
        stream_idle_timeout_ms=reader.integer(
            [*p, "stream_idle_timeout_ms"],
            base.stream_idle_timeout_ms if base else DEFAULT_STREAM_IDLE_TIMEOUT_MS,
        ),
        requires_openai_auth=reader.boolean(
            [*p, "requires_openai_auth"], base.requires_openai_auth if base else False
        ),
    )


def _map(reader: Reader, path: list[str], default: Mapping[str, str]) -> Mapping[str, str]:
    value = reader.string_map(path)
    return default if value is None else value


def resolve_providers(reader: Reader, env: Mapping[str, str]) -> dict[str, ModelProviderInfo]:
    providers = builtin_providers(env)
    user = reader.table(["model_providers"])
    if user:
        for pid in user:
            providers[pid] = build_provider(reader, pid, providers.get(pid))
    return providers
