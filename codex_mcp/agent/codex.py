"""`Codex`: the embeddable agent.  Owns the threads, their tasks and the shared HTTP client.

    async with Codex() as codex:
        thread = await codex.start_thread(sandbox="workspace-write")
        result = await thread.run("fix the failing test")
        print(result.final_message)

The person's configuration (`$CODEX_HOME/config.toml`, by default) is where every thread's
config comes from: a new thread takes it with the settings passed to `start_thread` on top,
and a thread resumed from its rollout takes it as the rollout's record allows (the record
may make the policies stricter, never looser).  The MCP tools are one user of this API;
nothing here knows about MCP.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from codex_mcp._version import __version__
from codex_mcp.agent.config.call import CliOverrides, ConfigSource
from codex_mcp.agent.ids import uuid7
from codex_mcp.errors import ThreadNotFound

if TYPE_CHECKING:
    from codex_mcp.agent.config.model import Config
    from codex_mcp.agent.exec.budget import ProcessBudget
    from codex_mcp.agent.history import History, ResumeRecord
    from codex_mcp.agent.instructions import ProjectDocs
    from codex_mcp.agent.request import Contract
    from codex_mcp.agent.thread import Thread

log = logging.getLogger(__name__)

ORIGINATOR = "codex_mcp"
MAX_IDLE_THREADS = 32
"""Idle threads kept in memory; older ones are dropped and resume from their rollout."""


class Codex:
    """Use as `async with Codex(...) as codex:`; leaving the block interrupts every turn and
    waits for the threads' tasks (their processes and MCP servers are reaped)."""

    def __init__(
        self,
        *,
        codex_home: Path | None = None,
        cwd: Path | None = None,
        cli_overrides: CliOverrides = (),
        env: Mapping[str, str] | None = None,
        source: str = "mcp",
        max_idle_threads: int = MAX_IDLE_THREADS,
        exec_budget: ProcessBudget | None = None,
    ) -> None:
        """`codex_home` defaults to `$CODEX_HOME` or `~/.codex`, `cwd` (where relative
        working directories start) to the process's, `env` to `os.environ`; `cli_overrides`
        are `-c key=value` settings on top of config.toml.  `source` is recorded in rollouts.
        `exec_budget` is a count of live command processes shared with other agents of the
        same server (default: this agent's own; see `exec_budget()`)."""
        self.config_source = ConfigSource.from_environment(
            codex_home=codex_home, cwd=cwd, cli_overrides=cli_overrides, env=env
        )
        self._max_idle_threads = max_idle_threads
        self._env = self.config_source.env
        self._source = source
        self._threads: OrderedDict[str, Thread] = OrderedDict()
        self._task_group: TaskGroup | None = None
        self._http: Any = None
        self._resume_lock = anyio.Lock()
        self._installation_ids: dict[Path, str] = {}
        self._exec_budget = exec_budget

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
        # Each thread's MCP connections, process sessions and network proxy live in tasks of
        # our task group; close them (children reaped, bounded by their managers) before
        # waiting for the group.  Evicted threads' sessions were asked to close when they were
        # dropped.  The proxy closes first: no byte passes while the sessions wind down.
        for thread in self._threads.values():
            thread.close_network()
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as closers:
                for thread in self._threads.values():
                    closers.start_soon(thread.close_sessions)
                    closers.start_soon(thread.close_mcp)
        try:
            return await self._task_group.__aexit__(exc_type, exc, tb)
        finally:
            for thread in self._threads.values():
                thread.release()
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

    def exec_budget(self) -> ProcessBudget:
        """The live processes `exec_command` started, counted over every thread (and every
        agent sharing the budget), up to `[codex_mcp] exec_server_max_processes`.  Made, and
        its limit read from the server's own configuration (config.toml and `-c`, never a
        call's overrides), when a thread first starts a command."""
        from codex_mcp.agent.exec.budget import ProcessBudget

        budget = self._exec_budget
        if budget is None:
            budget = self._exec_budget = ProcessBudget()
        if budget.limit is None:
            budget.configure(self._server_max_processes())
        return budget

    def _server_max_processes(self) -> int:
        from codex_mcp.agent.config import ConfigError
        from codex_mcp.agent.config.model import DEFAULT_EXEC_SERVER_MAX_PROCESSES

        try:
            return self.config_source.load().server.exec_server_max_processes
        except ConfigError as exc:  # config.toml broke after the server started
            log.warning("using the default process limit: %s", exc)
            return DEFAULT_EXEC_SERVER_MAX_PROCESSES

    def _http_client(self) -> Any:
        if self._http is None:
            from codex_mcp.agent.model.transport import open_transport

            # The process's own environment, as an HTTP library's `trust_env` reads it:
            # proxies apply to the server's connections, not to one thread's settings.
            self._http = open_transport(os.environ, default_ssl_context)
        return self._http

    def _model_client(self, config: Config) -> Any:
        from codex_mcp.agent.model import ModelClient, resolve_auth

        auth = resolve_auth(config.model_provider, config.codex_home, self._env)
        return ModelClient(
            config.model_provider,
            http=self._http_client(),
            auth=auth,
            originator=ORIGINATOR,
            version=__version__,
            env=self._env,
        )

    def _task_group_or_fail(self) -> TaskGroup:
        if self._task_group is None:
            raise RuntimeError("use `async with Codex() as codex:` before starting threads")
        return self._task_group

    async def start_thread(
        self,
        config: Config | None = None,
        *,
        thread_id: str | None = None,
        model: str | None = None,
        cwd: str | Path | None = None,
        sandbox: str | None = None,
        approval_policy: str | None = None,
        profile: str | None = None,
        base_instructions: str | None = None,
        developer_instructions: str | None = None,
        client: tuple[str, str | None] | None = None,
    ) -> Thread:
        """A new thread.  Its config is `config`, or the person's config with the given
        settings on top.  The thread's `session_configured` event says what it runs with.

        `client` is the (name, version) of the program the thread works for (an MCP client's
        `clientInfo`): the model provider sees it in the User-Agent, as Codex sends it.

        Raises `ConfigError` for an invalid setting and `ModelError` (missing credentials)
        before anything is written.
        """
        from codex_mcp.agent.config.loader import CallOverrides
        from codex_mcp.agent.context_items import thread_context_items
        from codex_mcp.agent.history import History
        from codex_mcp.agent.instructions import discover_project_docs, read_personal_instructions
        from codex_mcp.agent.request_headers import load_installation_id

        if config is None:
            typed = CallOverrides(
                model=model,
                cwd=cwd,
                approval_policy=approval_policy,
                sandbox_mode=sandbox,
                base_instructions=base_instructions,
                developer_instructions=developer_instructions,
                profile=profile,
            )
            config = self.config_source.load(typed)
        task_group = self._task_group_or_fail()
        thread_id = thread_id or uuid7()
        model_client = self._model_client(config)  # fail on credentials before creating files
        home = config.codex_home
        known_installation = self._installation_ids.get(home)

        def read_files() -> tuple[ProjectDocs, str | None, str]:
            """The thread's files, read in one trip to a worker thread (each trip is a hand-off
            to another thread and back, which a first call pays while imports hold the GIL)."""
            docs = discover_project_docs(
                config.cwd, config.project_doc_max_bytes, config.project_doc_fallback_filenames
            )
            personal = read_personal_instructions(home)
            return docs, personal, known_installation or load_installation_id(home)

        docs, personal, self._installation_ids[home] = await anyio.to_thread.run_sync(read_files)
        contract = await self._contract(config, client=client)
        history = History.create(
            config.codex_home,
            thread_id,
            {
                "cwd": str(config.cwd),
                "originator": contract.identity.originator,
                "cli_version": __version__,
                "instructions": contract.instructions,
                "source": self._source,
                "model_provider": config.model_provider_id,
            },
        )
        thread = self._register(thread_id, config, model_client, history, task_group, contract)
        thread.startup_warnings.extend(startup_warnings(config, contract.warnings, docs.warnings))
        history.append(
            thread_context_items(
                config, personal_instructions=personal, project_docs=docs.raw_text, env=self._env
            )
        )
        return thread

    async def _contract(
        self, config: Config, *, client: tuple[str, str | None] | None, instructions: str | None = None
    ) -> Contract:
        """The model contract of a thread with `config` (see `agent.request`)."""
        from codex_mcp.agent.handlers.registry import SERVED_SHELL_KINDS
        from codex_mcp.agent.request import make_contract
        from codex_mcp.agent.request_headers import load_installation_id

        installation = self._installation_ids.get(config.codex_home)
        if installation is None:
            installation = await anyio.to_thread.run_sync(load_installation_id, config.codex_home)
            self._installation_ids[config.codex_home] = installation
        return make_contract(
            config,
            env=self._env,
            installation_id=installation,
            shell_kinds=SERVED_SHELL_KINDS,
            instructions=instructions,
            client=client,
        )

    def _register(
        self,
        thread_id: str,
        config: Config,
        model_client: Any,
        history: History,
        task_group: TaskGroup,
        contract: Contract,
    ) -> Thread:
        """A new or rebuilt thread's handle, known to this Codex from now on."""
        from codex_mcp.agent.thread import Thread

        thread = Thread(
            thread_id=thread_id,
            config=config,
            model_client=model_client,
            history=history,
            task_group=task_group,
            contract=contract,
            on_idle=self._on_thread_idle,
            exec_budget=self.exec_budget,
        )
        self._threads[thread_id] = thread
        return thread

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
            # Closes its MCP connections and process sessions (their holder tasks reap them).
            victim.shutdown()
            victim.release()
            del self._threads[victim.thread_id]

    async def resume_thread(
        self,
        thread_id: str,
        *,
        config: Config | None = None,
        client: tuple[str, str | None] | None = None,
    ) -> Thread:
        """The live thread, or one rebuilt from its rollout file.

        The rebuilt thread's config is `config`, or the person's current config with the
        rollout's last turn context as a record that may only narrow it (its cwd and model
        are kept; its sandbox and approval policy can make the current ones stricter, never
        looser).  Raises `ThreadNotFound` when there is no such thread, `RolloutError` for a
        file that cannot be read within its limits, `ConfigError` when the recorded working
        directory is out of bounds, `ThreadBusy` while another process (or another `Codex`)
        runs a turn on it.
        """
        from codex_mcp.agent.history import History

        async with self._resume_lock:
            live = self.get_thread(thread_id)
            if live is not None:
                if client is not None:
                    live.set_client(*client)
                return live  # its next turn takes up whatever another process added
            path = await History.locate(self.config_source.codex_home, thread_id)
            return await self._rebuild_locked(path, thread_id, config, client)

    async def resume_rollout(
        self, path: Path, *, config: Config | None = None, client: tuple[str, str | None] | None = None
    ) -> Thread:
        """A thread rebuilt from the rollout file at `path` (`experimental_resume`): it goes
        on under its recorded id.  Only files inside `$CODEX_HOME/sessions` are read."""
        from codex_mcp.agent.history import History

        async with self._resume_lock:
            real, thread_id = await History.locate_at(self.config_source.codex_home, path)
            live = self.get_thread(thread_id)
            if live is not None:
                return live
            return await self._rebuild_locked(real, thread_id, config, client)

    async def _rebuild_locked(
        self, path: Path, thread_id: str, config: Config | None, client: tuple[str, str | None] | None
    ) -> Thread:
        """Read and append under the rollout's lock: a turn another process runs on this
        thread right now would otherwise be read half-written, and have lines of ours between
        its own (`ThreadBusy` while it holds the lock)."""
        from codex_mcp.agent.history import History
        from codex_mcp.agent.rollout_lock import RolloutLock

        task_group = self._task_group_or_fail()
        lock = RolloutLock(path)
        lock.acquire(thread_id)
        try:
            record = await History.read(path, thread_id)
            return await self._rebuild(record, thread_id, config, client, task_group)
        finally:
            lock.release()

    async def _rebuild(
        self,
        record: ResumeRecord,
        thread_id: str,
        config: Config | None,
        client: tuple[str, str | None] | None,
        task_group: TaskGroup,
    ) -> Thread:
        from codex_mcp.agent.context_items import thread_context_items
        from codex_mcp.agent.history import History

        if config is None:
            config = self.config_source.for_resume(record.recorded_context())
        history = await History.reopen(record)
        model_client = self._model_client(config)
        # The instructions the model saw so far, so the thread's requests stay the same.
        contract = await self._contract(config, client=client, instructions=record.instructions)
        thread = self._register(thread_id, config, model_client, history, task_group, contract)
        thread.startup_warnings.extend(startup_warnings(config, contract.warnings, []))
        # What the record says about permissions is not what is enforced now: tell the
        # model the policies it really runs under before its next turn.
        history.append(
            thread_context_items(config, personal_instructions=None, project_docs=None, env=self._env)
        )
        return thread


def startup_warnings(config: Config, family: list[str], docs: list[str]) -> list[str]:
    """What the client is told before a thread's first turn: ignored config values, a model
    outside the catalogue (or one trained on a contract we do not speak), skipped docs."""
    return [*config.config_warnings, *family, *docs]


def default_ssl_context() -> Any:
    """httpx's default verification context (CA bundle, SSL_CERT_FILE/DIR honoured).

    Loading the CA bundle is the most expensive part of creating the HTTP client; the server
    starts building it in the background when the process starts (`codex_mcp.tls`)."""
    from codex_mcp.tls import default_ssl_context as build_or_wait

    return build_or_wait()


__all__ = ["Codex", "ThreadNotFound", "default_ssl_context"]
