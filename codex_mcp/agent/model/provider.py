"""Where a model lives and how to talk to it: one provider entry of config.toml, resolved.

This is a plain value object so that the config loader (which builds it) and the model
clients (which consume it) can be written and tested apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

WireApi = Literal["responses", "chat"]

DEFAULT_REQUEST_MAX_RETRIES = 4
DEFAULT_STREAM_MAX_RETRIES = 5
DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000
MAX_RETRIES_CAP = 100


@dataclass(frozen=True)
class ModelProviderInfo:
    """A `[model_providers.<id>]` entry (or a built-in one) after defaults are applied."""

    id: str
    name: str
    base_url: str
    wire_api: WireApi = "chat"
    env_key: str | None = None
    env_key_instructions: str | None = None
    experimental_bearer_token: str | None = None
    query_params: Mapping[str, str] = field(default_factory=dict)
    http_headers: Mapping[str, str] = field(default_factory=dict)
    env_http_headers: Mapping[str, str] = field(default_factory=dict)
    request_max_retries: int = DEFAULT_REQUEST_MAX_RETRIES
    stream_max_retries: int = DEFAULT_STREAM_MAX_RETRIES
    stream_idle_timeout_ms: int = DEFAULT_STREAM_IDLE_TIMEOUT_MS
    requires_openai_auth: bool = False
