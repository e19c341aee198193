"""Reading the proxy variables (`transport/proxies.py`): which variable wins, what `no_proxy`
matches, and clear errors, never showing credentials, for values we cannot use.  Compared
with urllib where it defines the behaviour (`getproxies_environment`, `proxy_bypass_environment`)."""

from __future__ import annotations

import base64
import sys

import pytest

from codex_mcp.agent.model.transport import open_transport
from codex_mcp.agent.model.transport.direct import DirectTransport
from codex_mcp.agent.model.transport.proxies import (
    ProxyURL,
    parse_proxy_url,
    proxy_settings,
    proxy_variables,
)
from codex_mcp.errors import ModelError, ProviderTransportError
from codex_mcp.tls import build_ssl_context


def chosen(env: dict[str, str], url: str) -> str | None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = proxy_settings(env).proxy_for(parts.scheme, parts.hostname or "", port)
    return None if proxy is None else proxy.shown


# --- which variable ---------------------------------------------------------------------------


def test_each_scheme_has_its_variable_and_all_proxy_is_the_fallback() -> None:
    env = {"HTTPS_PROXY": "http://s:1", "http_proxy": "http://p:2", "ALL_PROXY": "http://a:3"}
    assert chosen(env, "https://api.example") == "http://s:1"
    assert chosen(env, "http://api.example") == "http://p:2"
    assert chosen({"ALL_PROXY": "http://a:3"}, "https://api.example") == "http://a:3"
    assert chosen({"all_proxy": "http://a:3"}, "http://api.example") == "http://a:3"
    assert chosen({"HTTP_PROXY": "http://p:2"}, "https://api.example") is None


def test_lowercase_wins_and_an_empty_lowercase_unsets(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    for env in (
        {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"},
        {"https_proxy": "http://lower:2", "HTTPS_PROXY": "http://upper:1"},
        {"HTTPS_PROXY": "http://upper:1", "https_proxy": ""},
        {"HTTP_PROXY": "http://upper:1", "REQUEST_METHOD": "GET"},
        {"http_proxy": "http://lower:1", "REQUEST_METHOD": "GET"},
    ):
        for name in list(__import__("os").environ):
            if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        expected = urllib.request.getproxies_environment()
        ours = {k: v for k, (_, v) in proxy_variables(env).items()}
        assert ours == {k: v for k, v in expected.items() if k in ("http", "https", "all", "no")}, env


def test_a_value_without_scheme_is_http_with_default_ports() -> None:
    assert parse_proxy_url("proxy.corp:3128", "HTTPS_PROXY") == ProxyURL(
        "http", "proxy.corp", 3128, None, "HTTPS_PROXY"
    )
    assert parse_proxy_url("http://proxy.corp", "X").port == 80
    assert parse_proxy_url("https://proxy.corp/", "X").port == 443
    assert parse_proxy_url("http://[::1]:8080", "X").netloc == "[::1]:8080"


def test_credentials_are_percent_decoded_into_basic() -> None:
    proxy = parse_proxy_url("http://us%40er:p%3Ass%20w@proxy:3128", "HTTPS_PROXY")
    assert proxy.authorization == "Basic " + base64.b64encode(b"us@er:p:ss w").decode()
    assert proxy.shown == "http://***@proxy:3128"
    assert "p%3A" not in repr(proxy) and "Basic" not in repr(proxy)
    assert (
        parse_proxy_url("http://user@proxy:1", "X").authorization
        == "Basic " + base64.b64encode(b"user:").decode()
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("ftp://user:hunter2@proxy:21", "not a proxy scheme"),
        ("http://user:hunter2@proxy:99999", "cannot be used"),
        ("http://user:hunter2@proxy:port", "cannot be used"),
        ("http://user:hunter2@/", "no host"),
        ("http://user:hunter2@pro xy:1", "blanks"),
        ("http://user:hunter2@proxy:1/path", "no path"),
        ("http://user:hunter2@proxy\x00.evil:1", "control"),
        ("http://user:hunter2@pröxy:1", "non-ASCII"),
        ("user:hunter2@proxy:1\nX-Injected: 1", "control"),
        ("http://user:hunter2@proxy:0", "port 0"),
    ],
)
def test_malformed_proxy_values_are_clear_errors_without_the_password(value: str, fragment: str) -> None:
    with pytest.raises(ProviderTransportError) as info:
        parse_proxy_url(value, "HTTPS_PROXY")
    text = str(info.value)
    assert fragment in text and "HTTPS_PROXY" in text, text
    assert "hunter2" not in text and "user:" not in text.replace("[user:password@]", ""), text


def test_a_malformed_variable_fails_only_the_requests_it_applies_to() -> None:
    settings = proxy_settings({"HTTPS_PROXY": "http://u:hunter2@proxy:nope", "HTTP_PROXY": "http://ok:8"})
    with pytest.raises(ModelError) as info:
        settings.proxy_for("https", "api.example", 443)
    assert "HTTPS_PROXY" in str(info.value) and "hunter2" not in str(info.value)
    assert info.value.kind == "other" and not info.value.retryable
    proxy = settings.proxy_for("http", "api.example", 80)
    assert proxy is not None and proxy.shown == "http://ok:8"


# --- no_proxy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("no_proxy", "url", "bypassed"),
    [
        ("*", "https://api.example", True),
        ("example.com", "https://example.com", True),
        ("example.com", "https://api.example.com", True),
        ("example.com", "https://notexample.com", False),
        (".example.com", "https://example.com", True),
        (".example.com", "https://a.b.example.com", True),
        ("*.example.com", "https://a.example.com", True),
        ("EXAMPLE.com", "https://Api.Example.COM", True),
        (" other.org , example.com ", "https://example.com", True),
        ("example.com:8443", "https://example.com:8443", True),
        ("example.com:8443", "https://example.com", False),
        ("10.1.2.3", "http://10.1.2.3:8080", True),
        ("10.1.2.3", "http://10.1.2.4", False),
        ("10.0.0.0/8", "http://10.200.0.1", True),
        ("10.0.0.0/8", "http://11.0.0.1", False),
        ("10.0.0.0/8", "http://10.example", False),
        ("::1", "http://[::1]:9", True),
        ("[::1]:9", "http://[::1]:9", True),
        ("[::1]:9", "http://[::1]:10", False),
        ("fd00::/8", "http://[fd12::1]", True),
        ("fd00::/8", "http://127.0.0.1", False),
        ("localhost", "http://localhost:1", True),
        ("localhost", "http://127.0.0.1:1", False),
        ("", "http://example.com", False),
    ],
)
def test_no_proxy_entries(no_proxy: str, url: str, bypassed: bool) -> None:
    env = {"HTTPS_PROXY": "http://p:1", "HTTP_PROXY": "http://p:1", "NO_PROXY": no_proxy}
    assert (chosen(env, url) is None) is bypassed


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "[::1", "host:port", "host:0", "bad_name!", "a..b/8"])
def test_an_unreadable_no_proxy_entry_is_a_clear_error(entry: str) -> None:
    settings = proxy_settings({"HTTPS_PROXY": "http://p:1", "no_proxy": f"ok.example,{entry}"})
    with pytest.raises(ModelError) as info:
        settings.proxy_for("https", "api.example", 443)
    assert "no_proxy" in str(info.value), str(info.value)


# --- the transport chosen -----------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="macOS and Windows keep httpx")
def test_a_proxied_linux_process_keeps_our_transport() -> None:
    transport = open_transport({"https_proxy": "http://proxy:3128"}, build_ssl_context)
    assert isinstance(transport, DirectTransport) and transport.proxied
    transport = open_transport({"https_proxy": "http://proxy:3128", "no_proxy": "*"}, build_ssl_context)
    assert isinstance(transport, DirectTransport)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="macOS and Windows keep httpx")
@pytest.mark.anyio
async def test_socks_without_socksio_is_refused_clearly() -> None:
    import importlib.util

    if importlib.util.find_spec("socksio") is not None:
        pytest.skip("httpx's SOCKS support is installed: httpx serves SOCKS proxies")
    transport = open_transport({"ALL_PROXY": "socks5h://user:hunter2@proxy:1080"}, build_ssl_context)
    assert isinstance(transport, DirectTransport)
    try:
        with pytest.raises(ModelError) as info:
            await transport.send("POST", "https://api.example/v1", headers=[], content=b"{}")
    finally:
        await transport.aclose()
    text = str(info.value)
    assert "SOCKS" in text and "ALL_PROXY" in text and "hunter2" not in text, text
