"""The TLS context built ahead of time is the one httpx would build, and fails where it would."""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
from pathlib import Path

import certifi
import httpx
import pytest

from codex_mcp import tls


def _describe(ctx: ssl.SSLContext) -> dict[str, object]:
    return {
        "verify_mode": ctx.verify_mode,
        "check_hostname": ctx.check_hostname,
        "options": ctx.options,
        "minimum_version": ctx.minimum_version,
        "maximum_version": ctx.maximum_version,
        "protocol": ctx.protocol,
        "verify_flags": ctx.verify_flags,
        "cert_store_stats": ctx.cert_store_stats(),
        "ca_certs": sorted(str(c.get("serialNumber")) for c in ctx.get_ca_certs()),
    }


@pytest.mark.parametrize("env", ["none", "SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_the_context_is_httpx_s(env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    if env == "SSL_CERT_FILE":
        bundle = tmp_path / "one.pem"
        bundle.write_text(
            Path(certifi.where()).read_text().split("-----END CERTIFICATE-----")[0]
            + "-----END CERTIFICATE-----\n"
        )
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    elif env == "SSL_CERT_DIR":
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    ours = tls.build_ssl_context()
    theirs = httpx.create_ssl_context(trust_env=True)
    assert _describe(ours) == _describe(theirs)
    if env == "SSL_CERT_FILE":
        assert ours.cert_store_stats()["x509_ca"] == 1


def test_a_failed_build_is_raised_to_the_caller_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tls, "_build", None)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(OSError):
        tls.default_ssl_context()
    monkeypatch.delenv("SSL_CERT_FILE")
    assert isinstance(tls.default_ssl_context(), ssl.SSLContext)  # tried again, not the old error
    assert tls.default_ssl_context() is tls.default_ssl_context()


def test_a_forked_child_builds_its_own() -> None:
    """A child forked while the parent's build is still running must not wait for a thread
    that does not exist in it (here the parent's build never finishes)."""
    code = (
        "import os, sys, ssl, threading, certifi\n"
        "from codex_mcp import tls\n"
        "parent = os.getpid()\n"
        "real = tls.build_ssl_context\n"
        "def slow():\n"
        "    if os.getpid() == parent:\n"
        "        threading.Event().wait()\n"
        "    return real()\n"
        "tls.build_ssl_context = slow\n"
        "tls.start_building()\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    import signal; signal.alarm(20)  # a hang must not outlive the test\n"
        "    ctx = tls.default_ssl_context()\n"
        "    os._exit(0 if ctx.cert_store_stats()['x509_ca'] > 0 else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_nobody_waits_for_an_unfinished_background_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy machine can keep the low-priority build thread waiting: the caller builds its own."""
    release = threading.Event()
    real = tls.build_ssl_context

    def slow_in_the_background() -> ssl.SSLContext:
        if threading.current_thread().name == "codex-mcp-tls":
            release.wait(30)
        return real()

    monkeypatch.setattr(tls, "build_ssl_context", slow_in_the_background)
    monkeypatch.setattr(tls, "_build", None)
    try:
        tls.start_building()  # low priority: the split start's
        context = tls.default_ssl_context()
        assert context.cert_store_stats()["x509_ca"] > 0
        assert tls.default_ssl_context() is context
    finally:
        release.set()


def test_a_call_waits_for_a_normal_priority_build_instead_of_making_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After the handshake the build runs at normal priority: a call needing the context
    meanwhile waits for it (building another would only double the work)."""
    release, decided = threading.Event(), threading.Event()
    builders: list[str] = []
    real, real_result = tls.build_ssl_context, tls._Build.result

    def gated() -> ssl.SSLContext:
        builders.append(threading.current_thread().name)
        if threading.current_thread().name == "caller":
            decided.set()  # the caller builds its own
        release.wait(30)
        return real()

    def waited(self: tls._Build) -> ssl.SSLContext:
        if threading.current_thread().name == "caller":
            decided.set()  # the caller waits for the build under way
        return real_result(self)

    monkeypatch.setattr(tls, "build_ssl_context", gated)
    monkeypatch.setattr(tls._Build, "result", waited)
    monkeypatch.setattr(tls, "_build", None)
    got: list[ssl.SSLContext] = []
    tls.start_building(low_priority=False)
    caller = threading.Thread(target=lambda: got.append(tls.default_ssl_context()), name="caller")
    caller.start()
    try:
        assert decided.wait(30)
        assert "caller" not in builders  # it waits instead of building a second context
    finally:
        release.set()
        caller.join(30)
    assert got and got[0] is tls.default_ssl_context()


def test_a_process_exiting_during_the_build_exits_cleanly() -> None:
    """Tearing the `ssl` module down while OpenSSL parses the bundle crashed the process
    (SIGSEGV): exits at various points of the build must all be clean."""
    for delay_ms in range(0, 40, 3):
        code = (
            "import ssl, time\n"
            "from codex_mcp import tls\n"
            "tls.start_building()\n"
            f"time.sleep({delay_ms / 1000})\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, (delay_ms, proc.returncode, proc.stderr[-2000:])


def test_a_plain_http_provider_skips_the_prebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    """No context is built ahead of time when the configured provider is plain HTTP; one
    is still built on demand when a call needs it."""
    monkeypatch.setattr(tls, "_not_expected", False)
    monkeypatch.setattr(tls, "_build", None)
    tls.not_expected()
    tls.start_building(low_priority=False)
    assert tls._build is None and not tls.expected()
    assert isinstance(tls.default_ssl_context(), ssl.SSLContext)


@pytest.mark.parametrize(
    ("base_url", "openai_auth", "needed"),
    [
        ("http://127.0.0.1:11434/v1", False, False),
        ("HTTP://localhost/v1", False, False),
        ("https://api.openai.com/v1", False, True),
        ("http://127.0.0.1/v1", True, True),
    ],
)
def test_which_providers_need_tls(base_url: str, openai_auth: bool, needed: bool) -> None:
    from codex_mcp.agent.model.provider import ModelProviderInfo
    from codex_mcp.cli import provider_needs_tls

    provider = ModelProviderInfo(id="p", name="P", base_url=base_url, requires_openai_auth=openai_auth)
    assert provider_needs_tls(provider) is needed
