"""`Codex`: the embeddable agent.  Owns the threads, their tasks and the shared HTTP client.

    async with Codex() as codex:
        thread = await codex.start_thread(load_config(home, cwd=Path.cwd()))
        async for event in thread.start_turn(user_text_items("fix the failing test")):
            print(event.msg)

The MCP tools are one user of this API; nothing here knows about MCP.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from codex_mcp._version import __version__
from codex_mcp.agent.protocol import Event
from codex_mcp.agent.rollout import (
    RolloutRecorder,
    find_rollout,
    load_rollout,
    rollout_path_for,
)
from codex_mcp.errors import ThreadNotFound as ThreadNotFound

if TYPE_CHECKING:
    from codex_mcp.agent.config.model import Config
    from codex_mcp.agent.session import Thread

log = logging.getLogger(__name__)

ORIGINATOR = "codex_mcp"
MAX_IDLE_THREADS = 32
"""Idle threads kept in memory; older ones are dropped and resume from their rollout."""


def package_version() -> str:
    return __version__


class Codex:
    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        source: str = "mcp",
        max_idle_threads: int = MAX_IDLE_THREADS,
    ) -> None:
        self._max_idle_threads = max_idle_threads
        self._env = os.environ if env is None else env
        self._source = source
        self._threads: OrderedDict[str, Thread] = OrderedDict()
        self._task_group: TaskGroup | None = None
        self._http: Any = None
        self._resume_lock = anyio.Lock()

    async def __aenter__(self) -> Codex:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._task_group is not None
        if exc is not None:
            self._task_group.cancel_scope.cancel()
        # MCP client (issue 7): each thread's MCP connections live in a task of our task group;
        # close them (children reaped, bounded by the manager) before waiting for the group.
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as closers:
                for thread in self._threads.values():
                    closers.start_soon(thread.close_mcp)
        try:
            return await self._task_group.__aexit__(exc_type, exc, tb)
        finally:
            for thread in self._threads.values():
                thread.recorder.close()
            if self._http is not None:
                with anyio.CancelScope(shield=True):
                    await self._http.aclose()

    def shutdown(self) -> None:
        """Interrupt every running turn (used when the host is going away)."""
        for thread in self._threads.values():
            thread.shutdown()

    @property
    def threads(self) -> dict[str, Thread]:
        return dict(self._threads)

    def _http_client(self) -> Any:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(30.0, read=None),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                trust_env=True,
                verify=default_ssl_context(),
            )
        return self._http

    def _model_client(self, config: Config) -> Any:
        from codex_mcp.agent.model import ModelClient, resolve_auth

        auth = resolve_auth(config.model_provider, config.codex_home, self._env)
        return ModelClient(
            config.model_provider,
            http=self._http_client(),
            auth=auth,
            originator=ORIGINATOR,
            version=package_version(),
            env=self._env,
        )

    def _new_thread(self, thread_id: str, config: Config, recorder: RolloutRecorder, **kw: Any) -> Thread:
        from codex_mcp.agent.session import Thread

        assert self._task_group is not None, "use `async with Codex()`"
        thread = Thread(
            thread_id=thread_id,
            config=config,
            model_client=self._model_client(config),
            recorder=recorder,
            task_group=self._task_group,
            on_idle=self._on_thread_idle,
            **kw,
        )
        self._threads[thread_id] = thread
        return thread

    async def start_thread(self, config: Config, thread_id: str | None = None) -> tuple[Thread, Event]:
        """Create a thread; returns it with its `session_configured` event.

        Raises `ModelError` (missing credentials) before anything is written.
        """
        from codex_mcp.agent.instructions import (
            adiscover_project_docs,
            base_instructions,
            initial_context_items,
        )
        from codex_mcp.agent.session import Thread

        thread_id = thread_id or str(uuid.uuid4())
        model_client = self._model_client(config)  # fail on credentials before creating files
        docs = await adiscover_project_docs(
            config.cwd, config.project_doc_max_bytes, config.project_doc_fallback_filenames
        )
        recorder = RolloutRecorder.create(rollout_path_for(config.codex_home, thread_id))
        instructions = base_instructions(config)
        recorder.record(
            "session_meta",
            {
                "id": thread_id,
                "timestamp": _now_iso(),
                "cwd": str(config.cwd),
                "originator": ORIGINATOR,
                "cli_version": package_version(),
                "instructions": instructions,
                "source": self._source,
                "model_provider": config.model_provider_id,
            },
        )
        assert self._task_group is not None, "use `async with Codex()`"
        thread = Thread(
            thread_id=thread_id,
            config=config,
            model_client=model_client,
            recorder=recorder,
            task_group=self._task_group,
            instructions_text=instructions,
            on_idle=self._on_thread_idle,
        )
        self._threads[thread_id] = thread
        thread.startup_warnings.extend(docs.warnings)
        thread.append_history(initial_context_items(config, docs.text))
        return thread, Event("", session_configured(thread))

    def get_thread(self, thread_id: str) -> Thread | None:
        thread = self._threads.get(thread_id)
        if thread is not None:
            self._threads.move_to_end(thread_id)
        return thread

    def _on_thread_idle(self, thread: Thread) -> None:
        """Keep memory and open files bounded: beyond `MAX_IDLE_THREADS` idle threads, drop
        the least recently used.  Their state is in their rollout files; `resume_thread`
        rebuilds them exactly as after a restart."""
        self._threads.move_to_end(thread.thread_id)
        idle = [t for t in self._threads.values() if not t.busy]
        for victim in idle[: max(0, len(idle) - self._max_idle_threads)]:
            victim.shutdown()  # closes its MCP connections (their holder task reaps them)
            victim.recorder.close()
            del self._threads[victim.thread_id]

    async def resume_thread(
        self, thread_id: str, codex_home: Path, make_config: Callable[[dict[str, Any]], Config]
    ) -> Thread:
        """The live thread, or one rebuilt from its rollout file; `ThreadNotFound` otherwise.

        `make_config` receives the rollout's last turn context (cwd, model, policies) and
        returns the thread's config; the rollout is only a record, so it is up to
        `make_config` how much of it to honour (the MCP tools let it only narrow the person's
        current configuration).  Raises `RolloutError` for a file that cannot be read within
        its limits.
        """
        async with self._resume_lock:
            live = self.get_thread(thread_id)
            if live is not None:
                return live
            # Walking the sessions tree and reading a large file must not stall other sessions.
            path = await anyio.to_thread.run_sync(find_rollout, codex_home, thread_id)
            if path is None:
                raise ThreadNotFound(thread_id)
            resumed = await anyio.to_thread.run_sync(load_rollout, path, thread_id)
            context = dict(resumed.turn_context)
            context.setdefault("cwd", resumed.meta.get("cwd"))
            config = make_config(context)
            instructions = resumed.meta.get("instructions")
            recorder = await anyio.to_thread.run_sync(RolloutRecorder.reopen, path)
            thread = self._new_thread(
                thread_id,
                config,
                recorder,
                history=resumed.history,
                instructions_text=instructions if isinstance(instructions, str) and instructions else None,
            )
            # What the record says about permissions is not what is enforced now: tell the
            # model the policies it really runs under before its next turn.
            thread.append_history(resumed_context_items(config))
            return thread


@functools.cache
def default_ssl_context() -> Any:
    """httpx's default verification context (CA bundle, SSL_CERT_FILE/DIR honoured).

    Loading the CA bundle is the most expensive part of creating the HTTP client; it is
    built once and can be built ahead of time (see `codex_mcp.prewarm`)."""
    import httpx

    return httpx.create_ssl_context(trust_env=True)


def session_configured(thread: Thread) -> dict[str, Any]:
    c = thread.config
    msg: dict[str, Any] = {
        "type": "session_configured",
        "session_id": thread.thread_id,
        "thread_id": thread.thread_id,
        "model": c.model,
        "model_provider_id": c.model_provider_id,
        "approval_policy": c.approval_policy,
        "sandbox_policy": c.sandbox_policy.to_json(),
        "cwd": str(c.cwd),
        "history_log_id": 0,
        "history_entry_count": 0,
        "rollout_path": str(thread.rollout_path),
    }
    if c.model_reasoning_effort:
        msg["reasoning_effort"] = c.model_reasoning_effort
    return msg


def resumed_context_items(config: Config) -> list[dict[str, Any]]:
    """The permissions and environment of a thread rebuilt from its rollout, as enforced now."""
    from codex_mcp.agent.instructions import environment_context, permissions_text, text_message

    return [
        text_message("developer", permissions_text(config)),
        text_message("user", environment_context(config)),
    ]


def _now_iso() -> str:
    from datetime import datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
