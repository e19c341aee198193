"""The TLS verification context of the model client, built ahead of time in a worker thread.

Loading the CA bundle is the most expensive single step of a first call (~25 ms here), and
OpenSSL parses it without holding the GIL: started when the process starts, it is done by
the time the first request needs it, on the other core, at no cost to the handshake.

The context is the one httpx builds for `verify=True, trust_env=True` (httpx >= 0.28):
`SSL_CERT_FILE`, else `SSL_CERT_DIR`, else certifi's bundle.  Building it here instead of
through httpx keeps httpx's import out of the worker thread (it would hold the GIL);
`tests/test_tls.py` compares the two.  A failure (a missing `SSL_CERT_FILE`) is raised where
the context is asked for, as it was when it was built there.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING

from codex_mcp.priority import lower_this_thread

if TYPE_CHECKING:
    import ssl


def build_ssl_context() -> ssl.SSLContext:
    """What `httpx.create_ssl_context(verify=True, trust_env=True)` returns."""
    import ssl

    cafile = os.environ.get("SSL_CERT_FILE")
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    capath = os.environ.get("SSL_CERT_DIR")
    if capath:
        return ssl.create_default_context(capath=capath)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


EXIT_WAIT_S = 10.0
BUILD_NICENESS = 19
"""The build should use an idle core, never take one from the handshake or the call path
(nobody waits for it: see `default_ssl_context`)."""


class _Build:
    """One build of the context, in a daemon thread; `result()` waits for it."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._context: ssl.SSLContext | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="codex-mcp-tls", daemon=True)
        self._thread.start()
        atexit.register(self._finish_before_exit)

    def _finish_before_exit(self) -> None:
        """OpenSSL must not be mid-parse while the interpreter tears the `ssl` module down
        (that crashes the process): a process exiting early waits for the build (bounded)."""
        self._thread.join(EXIT_WAIT_S)

    def _run(self) -> None:
        lower_this_thread(BUILD_NICENESS)
        try:
            self._context = build_ssl_context()
        except BaseException as exc:  # handed to whoever asks for the context
            self._error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> ssl.SSLContext:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._context is not None
        return self._context


class _Built(_Build):
    """A context built in the caller's thread (the background one had not finished)."""

    def __init__(self, context: ssl.SSLContext) -> None:  # no thread: already done
        self._done = threading.Event()
        self._context = context
        self._error = None
        self._done.set()


_lock = threading.Lock()
_build: _Build | None = None


def _forget() -> None:
    """In a forked child: the parent's build thread does not exist here."""
    global _build, _lock
    _build, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)


def start_building() -> None:
    """Begin building the context in the background (once per process; later calls do nothing)."""
    global _build
    with _lock:
        if _build is None:
            _build = _Build()


def default_ssl_context(*, wait: bool = False) -> ssl.SSLContext:
    """The context: the background build's if it is done, else one built now.

    A call does not wait for the background thread: on a busy machine its low priority could
    keep it waiting for long, and a context built in the caller costs no more than before.
    The warm-up, which has time, waits (`wait=True`).  A failed build is forgotten once
    reported, so the next call tries again (the file may be fixed)."""
    global _build
    start_building()
    build = _build
    assert build is not None
    if not wait and not build.done():
        try:
            context = build_ssl_context()
        except BaseException:
            with _lock:
                if _build is build:
                    _build = None
            raise
        with _lock:
            if _build is build:
                _build = _Built(context)
        return context
    try:
        return build.result()
    except BaseException:
        with _lock:
            if _build is build:
                _build = None
        raise
