"""Warm the `tools/call` path while the client is still idle.

The first call would otherwise pay for importing the HTTP client, the event loop and the agent
(hundreds of milliseconds on a small machine).  Once the handshake has been answered the
main thread just waits on stdin, so a background thread can do that work for free.  It only
imports modules, builds the TLS context and, before the tool path, sets the process's
allocator policy (`heap`); it touches no other state, so it needs no owner: if the process
exits first, the half-done warm-up is simply dropped.
"""

from __future__ import annotations

import functools
import gc
import importlib
import logging
import sys
import threading
from collections.abc import Callable

from codex_mcp import tls

log = logging.getLogger(__name__)

CALL_PATH_MODULES = (
    "asyncio",
    "anyio",
    "anyio._backends._asyncio",
    "anyio._core._signals",
    "queue",
    "encodings.ascii",
    "codex_mcp.server",
    "codex_mcp.outgoing",
    "codex_mcp.tools.calls",
    "codex_mcp.tools.call_args",
    "codex_mcp.tools.drive",
    "codex_mcp.tools.relay",
    "codex_mcp.tools.elicitation",
    "codex_mcp.agent.config",
    "codex_mcp.agent.codex",
    "codex_mcp.agent.thread",
    "codex_mcp.agent.turn",
    "codex_mcp.agent.instructions",
    "codex_mcp.agent.model.client",
    "codex_mcp.agent.model.auth",
    "codex_mcp.agent.model.transport.direct",
    "codex_mcp.agent.handlers.registry",
)
TOOL_PATH_MODULES = (
    # Leaves first, one module per step: a call arriving meanwhile pauses the warm-up after
    # the step under way, so no step may be a whole handler's import chain.
    "codex_mcp.agent.exec.events",
    "codex_mcp.agent.exec.truncation",
    "codex_mcp.agent.exec.buffer",
    "codex_mcp.sandbox.landlock",
    "codex_mcp.sandbox.procs",
    "codex_mcp.sandbox.seccomp",
    "codex_mcp.sandbox.container",
    "codex_mcp.sandbox.launcher",
    "codex_mcp.agent.exec.spawn",
    "codex_mcp.agent.exec.grace",
    "codex_mcp.agent.exec.runner",
    "codex_mcp.agent.exec.format",
    "codex_mcp.agent.exec.process",
    "codex_mcp.agent.exec.session",
    "codex_mcp.agent.exec.unified_api",
    "codex_mcp.sandbox.denial",
    "codex_mcp.sandbox.classify",
    "codex_mcp.agent.exec.unified",
    "codex_mcp.agent.exec.unified_args",
    "codex_mcp.agent.apply_patch.fsops",
    "codex_mcp.sandbox.startup",
    "codex_mcp.agent.handlers.confine",
    "codex_mcp.sandbox.rules_parse",
    "codex_mcp.sandbox.safe_commands",
    "codex_mcp.sandbox.rules",
    "codex_mcp.sandbox.safety",
    "codex_mcp.agent.handlers.command_gate",
    "codex_mcp.agent.apply_patch.diff",
    "codex_mcp.agent.apply_patch.limits",
    "codex_mcp.agent.apply_patch.parser",
    "codex_mcp.agent.apply_patch.seek",
    "codex_mcp.agent.apply_patch.update",
    "codex_mcp.agent.apply_patch.changes",
    "codex_mcp.agent.apply_patch.apply",
    "codex_mcp.agent.handlers.patch",
    "codex_mcp.agent.handlers.shell",
    "codex_mcp.agent.handlers.exec_command",
    "codex_mcp.agent.handlers.shell_command",
    "codex_mcp.agent.handlers.write_stdin",
    "codex_mcp.agent.handlers.plan",
    "codex_mcp.agent.handlers.view_image",
    "codex_mcp.agent.handlers.user_input",
    "codex_mcp.tools.approvals",
    "codex_mcp.sandbox.bwrap",
    "codex_mcp.sandbox.select",
)
"""What the model's first tool call needs (the handlers import it when first called): warmed
after the call path and the TLS context, which every call needs."""


def _tls_and_transport() -> None:
    import os

    from codex_mcp.agent.model.transport import open_transport

    if tls.expected():
        context = tls.default_ssl_context(wait=True)
        # Opening one is what imports the transport the model client will use (ours, or
        # httpx where a proxy is configured); it makes no connection.
        open_transport(os.environ, lambda: context)
    else:
        open_transport(os.environ, tls.default_ssl_context)


def warm_steps(*, call_path: bool = True, tool_path: bool = True) -> list[Callable[[], object]]:
    """The warm-up as separate steps, in order (so another thread can take over half-way):
    the call path and the TLS context, then the tool path."""
    steps: list[Callable[[], object]] = []
    if call_path:
        steps += [functools.partial(importlib.import_module, n) for n in CALL_PATH_MODULES]
        steps.append(_tls_and_transport)
    if tool_path:
        from codex_mcp.heap import pin_mmap_threshold

        steps.append(pin_mmap_threshold)  # the server's allocator policy, set once it is warm
        steps += [functools.partial(importlib.import_module, n) for n in TOOL_PATH_MODULES]
    return steps


def run_step(step: Callable[[], object]) -> None:
    try:
        step()
    except Exception:  # never let a warm-up problem surface; the real call will report it
        log.debug("warm-up of the call path failed", exc_info=True)


_go = threading.Event()
_go.set()


def pause_warm_up() -> None:
    """A call arrived while the warm-up runs: the call imports what it needs itself, and
    another thread importing modules meanwhile would only share the GIL with it (a call
    sent the instant the handshake ended took ~15 % longer with the warm-up running).  The
    step under way finishes; the rest waits for `resume_warm_up`."""
    _go.clear()


def resume_warm_up() -> None:
    """No call runs any more: the warm-up may go on (it has nobody to slow down), and the
    start-up is over for the collector."""
    _go.set()
    release_gc()


def warm_call_path(steps: list[Callable[[], object]] | None = None) -> None:
    for step in warm_steps() if steps is None else steps:
        _go.wait()
        run_step(step)
    release_gc()
    save_compiled()


GC_HOLD_MAX_S = 1.0
"""The collector is held back for at most this long after the start (the call path is
imported well within it)."""
GC_HOLD_THRESHOLD = 100_000
"""Allocations between two young collections while held (700 by default)."""
_gc_saved: tuple[int, ...] | None = None
_gc_lock = threading.Lock()


def hold_gc() -> None:
    """Hardly any garbage collection while the server starts and imports its call path.

    Importing creates ~50,000 long-lived objects, and the collector walked them again and
    again while they were made (~80 collections, ~11 ms of a first call here) only to find
    nothing to free.  While held, a young collection runs every `GC_HOLD_THRESHOLD`
    allocations instead of every 700: cyclic garbage is still collected (a first call may
    run a long turn meanwhile), just rarely.  The usual thresholds come back when the
    warm-up ends, when no call runs any more, or after `GC_HOLD_MAX_S`, whichever comes
    first.  (Freezing the start's
    objects out of later collections was tried: whatever garbage the first call had made by
    then was frozen with them, for good.)"""
    global _gc_saved
    with _gc_lock:
        if _gc_saved is not None or not gc.isenabled():
            return  # held already, or someone else decided
        _gc_saved = gc.get_threshold()
        gc.set_threshold(GC_HOLD_THRESHOLD, *_gc_saved[1:])
    timer = threading.Timer(GC_HOLD_MAX_S, release_gc)
    timer.daemon = True
    timer.start()


def release_gc() -> None:
    """End `hold_gc` (once; nothing when it was not held)."""
    global _gc_saved
    with _gc_lock:
        saved, _gc_saved = _gc_saved, None
    if saved is not None:
        gc.set_threshold(*saved)


def save_compiled() -> None:
    """Keep what the warm-up compiled for the next process (`dataclass_cache`); the server
    installs the cache, an embedder does not."""
    cache = sys.modules.get("codex_mcp.dataclass_cache")
    if cache is not None:
        cache.save()


def start_warm_up(steps: list[Callable[[], object]] | None = None) -> threading.Thread:
    """Warm the call path in a thread (the handshake has been answered); the TLS context is
    built in one of its own at once, at normal priority, so a call can wait for it.
    `steps`: only these (the split start warms the call path before serving)."""
    tls.start_building(low_priority=False)
    thread = threading.Thread(target=warm_call_path, args=(steps,), name="codex-mcp-warm-up", daemon=True)
    thread.start()
    return thread
