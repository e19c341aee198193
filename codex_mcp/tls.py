"""The TLS verification context of the model client, built ahead of time in a worker thread.

Loading the CA bundle is the most expensive single step of a first call (~25 ms here), and
OpenSSL parses it without holding the GIL: started once the handshake is answered (or, in
the split start, when the process starts, at the lowest priority), it runs on the other core
while the call path is imported, and a call that needs it before it is done waits for it
rather than building a second one.

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

    def __init__(self, low_priority: bool = True) -> None:
        self.low_priority = low_priority
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
        if self.low_priority:
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
        self.low_priority = False
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


_not_expected = False


def not_expected() -> None:
    """The configured provider is reached over plain HTTP: no call is expected to need the
    context, so it is not built ahead of time (~25 ms of a core, and of the GIL, that a
    first call would share).  A call that needs it after all (an override to an https
    provider) builds it then, in `default_ssl_context`."""
    global _not_expected
    _not_expected = True


def expected() -> bool:
    """Whether the context is expected to be needed (see `not_expected`)."""
    return not _not_expected


def start_building(*, low_priority: bool = True) -> None:
    """Begin building the context in the background (once per process; later calls do
    nothing).  `low_priority` while something else must keep its core (the split start's
    handshake); at normal priority once nothing does (after the handshake), so that a call
    can simply wait for it."""
    global _build
    with _lock:
        if _build is None and not _not_expected:
            _build = _Build(low_priority)


def default_ssl_context(*, wait: bool = False) -> ssl.SSLContext:
    """The context: the background build's, else one built now in the caller.

    A build at normal priority is waited for: it is the same work, already under way, and
    its GIL-free part runs on another core.  One at low priority (started while the split
    start's handshake child needed the CPU) is waited for only with `wait=True` (the
    warm-up, which has time): on a busy machine it could keep a call waiting for long, and a
    context built in the caller costs no more than before.  A failed build is forgotten
    once reported, so the next call tries again (the file may be fixed)."""
    global _build
    with _lock:
        build = _build
    if build is not None and (wait or not build.low_priority or build.done()):
        try:
            return build.result()
        except BaseException:
            with _lock:
                if _build is build:
                    _build = None
            raise
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
