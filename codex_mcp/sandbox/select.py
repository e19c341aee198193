"""Choosing a sandbox backend and turning a command into a sandboxed command line.

`prepare_command` FAILS CLOSED: for a read-only or workspace-write boundary it either returns
a command that runs inside a working sandbox or raises `SandboxUnavailableError` carrying the
probe details.  No environment variable makes it run unsandboxed; the only unsandboxed paths
are a danger-full-access policy and an explicit `backend="none"` from the caller (used after
the user approved running without the sandbox).

Nothing here restricts the calling process; restrictions happen in bwrap or in the exec'd
launcher.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from codex_mcp.errors import SandboxUnavailableError as SandboxUnavailableError
from codex_mcp.sandbox import bwrap as _bwrap
from codex_mcp.sandbox import landlock as _landlock
from codex_mcp.sandbox import seatbelt as _seatbelt
from codex_mcp.sandbox import seccomp as _seccomp
from codex_mcp.sandbox.boundary import Boundary, NetworkChannel
from codex_mcp.sandbox.container import ISOLATION_NONE, ISOLATIONS
from codex_mcp.sandbox.launcher import helper_argv, launcher_argv, launcher_policy, terminal_argv
from codex_mcp.sandbox.netbridge import bridge_argv, bridge_python, proxy_env

BackendChoice = Literal["auto", "bwrap", "landlock", "seatbelt", "none"]
BACKEND_ENV_VAR = "CODEX_MCP_SANDBOX_BACKEND"
# Values of CODEX_MCP_SANDBOX_BACKEND: a backend to force, or a value that makes every probe
# fail (to exercise the fail-closed path).  "none" is deliberately not accepted there.
_ENV_CHOICES = ("auto", "bwrap", "landlock", "seatbelt")
FORCE_UNAVAILABLE = "none-available"


@dataclass(frozen=True)
class ProbeReport:
    """What the sandbox backends of this machine can do, as probed."""

    platform: str
    bwrap: _bwrap.BwrapProbe | None
    landlock_abi: int
    landlock_detail: str
    seccomp_ok: bool
    seccomp_detail: str
    seatbelt_ok: bool
    seatbelt_detail: str
    # How the Landlock launcher isolates a command here (container.ISOLATION_*).
    isolation: str = ISOLATION_NONE
    isolation_detail: str = "isolation: not probed"
    # Whether that isolation can also have a network namespace (the proxied network).
    netns: bool = False

    @property
    def details(self) -> str:
        parts = [self.bwrap.detail if self.bwrap else "bwrap: not probed", self.landlock_detail,
                 self.isolation_detail, self.seccomp_detail, self.seatbelt_detail]  # fmt: skip
        return "; ".join(parts)

    def available(self) -> list[str]:
        out = []
        if self.bwrap is not None and self.bwrap.available:
            out.append("bwrap")
        if self.landlock_abi >= 1:
            out.append("landlock")
        if self.seatbelt_ok:
            out.append("seatbelt")
        return out


_probe_lock = threading.Lock()
_probe_cache: dict[str | None, ProbeReport] = {}


def probe_backends(*, bwrap_path: str | None = None, refresh: bool = False) -> ProbeReport:
    """Probe every backend once per process (per `bwrap_path`) and cache the result."""
    with _probe_lock:
        if not refresh and bwrap_path in _probe_cache:
            return _probe_cache[bwrap_path]
        if refresh:
            _bwrap.probe_bwrap.cache_clear()
        if sys.platform.startswith("linux"):
            bw = _bwrap.probe_bwrap(bwrap_path)
            abi, ll_detail = _landlock.probe()
            sc_ok, sc_detail = _seccomp.seccomp_supported()
            iso, iso_detail, netns = (
                _probe_isolation() if abi >= 1 else (ISOLATION_NONE, "isolation: no Landlock", False)
            )
            report = ProbeReport("linux", bw, abi, ll_detail, sc_ok, sc_detail, False, "seatbelt: not macOS",
                                 iso, iso_detail, netns)  # fmt: skip
        elif sys.platform == "darwin":
            sb_ok, sb_detail = _seatbelt.seatbelt_available()
            report = ProbeReport("darwin", None, 0, "landlock: not Linux", False, "seccomp: not Linux",
                                 sb_ok, sb_detail)  # fmt: skip
        else:
            report = ProbeReport(sys.platform, None, 0, "landlock: not Linux", False, "seccomp: not Linux",
                                 False, "seatbelt: not macOS")  # fmt: skip
        _probe_cache[bwrap_path] = report
        return report


def _probe_isolation() -> tuple[str, str, bool]:
    """Ask a fresh launcher which namespaces it can create (never in this process)."""
    import json
    import subprocess

    try:
        proc = subprocess.run(
            helper_argv("launcher", ["--probe"]), stdin=subprocess.DEVNULL, capture_output=True,
            timeout=20, check=False, cwd="/",
        )  # fmt: skip
        doc = json.loads(proc.stdout.decode("utf-8", "replace") or "null")
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return ISOLATION_NONE, f"isolation: probe failed ({exc})", False
    if not isinstance(doc, dict) or doc.get("isolation") not in ISOLATIONS:
        err = proc.stderr.decode("utf-8", "replace").strip()[-300:]
        return ISOLATION_NONE, f"isolation: probe failed (exit {proc.returncode}: {err})", False
    return str(doc["isolation"]), str(doc.get("detail", doc["isolation"])), doc.get("netns") is True


def _close_fds(fds: list[int]) -> None:
    while fds:
        fd = fds.pop()
        with contextlib.suppress(OSError):
            os.close(fd)


@dataclass
class PreparedCommand:
    """A command ready for `subprocess` / `anyio.open_process`.

    Spawn with `argv`, `env`, `cwd`, `pass_fds=pass_fds`, `close_fds=True`, from a thread that
    outlives the child (bwrap uses `--die-with-parent`, which is tied to the spawning thread).
    Then call `after_spawn()`; after the child exited, `read_status()` (bwrap) and finally
    `close()` (idempotent; also call it if spawning failed).  Single use: the seccomp memfd
    is consumed by the first spawn, so prepare again for every run.
    """

    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    backend: str
    close: Callable[[], None]
    cwd: str = ""
    after_spawn: Callable[[], None] = field(default=lambda: None)
    status_fd: int | None = None  # read end of bwrap's --json-status-fd pipe
    network: NetworkChannel | None = None
    """The command's channel to the session's network proxy (closed by `close`)."""
    network_note: str | None = None
    """Why the session's proxy could not be offered to this command (it runs without network)."""

    def network_notes(self) -> list[str]:
        """What the model should hear about this command's network (each note once)."""
        notes = [self.network_note] if self.network_note else []
        self.network_note = None
        if self.network is not None:
            notes.extend(self.network.take_notes())
        return notes

    def read_status(self) -> str | None:
        """bwrap's JSON status output (call after the child exited); None for other backends."""
        if self.status_fd is None:
            return None
        self.after_spawn()
        chunks: list[bytes] = []
        try:
            os.set_blocking(self.status_fd, False)
            while data := os.read(self.status_fd, 65536):
                chunks.append(data)
        except OSError:  # EAGAIN (a writer is still alive) or already closed
            pass
        return b"".join(chunks).decode("utf-8", "replace")


def _resolve_choice(backend: BackendChoice) -> str:
    if backend != "auto":
        return backend
    forced = os.environ.get(BACKEND_ENV_VAR, "").strip()
    if not forced:
        return "auto"
    if forced == FORCE_UNAVAILABLE:
        return FORCE_UNAVAILABLE
    if forced not in _ENV_CHOICES:
        raise SandboxUnavailableError(
            f"{BACKEND_ENV_VAR}={forced!r} is not one of {', '.join(_ENV_CHOICES)} "
            f"(or {FORCE_UNAVAILABLE}); refusing to run the command"
        )
    return forced


def sandbox_available(*, bwrap_path: str | None = None) -> bool:
    """Whether `prepare_command` can sandbox a restricted policy here (honours the env var).

    Cheap after the first call (the probe is cached).  Never raises.
    """
    try:
        choice = _resolve_choice("auto")
    except SandboxUnavailableError:
        return False
    if choice == FORCE_UNAVAILABLE:
        return False
    usable = probe_backends(bwrap_path=bwrap_path).available()
    return bool(usable) if choice == "auto" else choice in usable


def prepare_command(
    argv: Sequence[str],
    boundary: Boundary,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    *,
    backend: BackendChoice = "auto",
    bwrap_path: str | None = None,
    terminal: bool = False,
) -> PreparedCommand:
    """Wrap `argv` so that it runs inside `boundary`, in the process working directory `cwd`.

    `terminal`: the command will be started with a terminal on stdin that must become its
    controlling terminal.  The fork server's keeper does that itself (unsandboxed and
    Landlock command lines); a bwrap or Seatbelt command line gets `launcher.terminal_argv`
    inside the sandbox, since the sandbox starts the command in a session of its own.

    `cwd` is only where the process starts; what it may write comes from `boundary` alone
    (see `boundary.compute_boundary`).  danger-full-access (or an explicit `backend="none"`)
    runs directly.  Otherwise: Linux prefers bwrap (+ seccomp by memfd), else the Landlock
    launcher; macOS uses Seatbelt.  `CODEX_MCP_SANDBOX_BACKEND`
    (auto|bwrap|landlock|seatbelt|none-available) overrides `backend="auto"`.  Raises
    `SandboxUnavailableError` (with probe details) when the boundary cannot be enforced.
    `env` is used as given (scrubbing is the caller's job) plus
    `CODEX_SANDBOX_NETWORK_DISABLED=1` when the network is off.

    A boundary with a `network_proxy` (the network off, the session's proxy on) gives the
    command its own network namespace holding only loopback, the proxy's bridge listening
    there (`netbridge`), a channel from the bridge to the proxy, the `HTTP_PROXY` family of
    variables, and a seccomp filter that allows TCP sockets only.  A backend that cannot
    create the namespace (Landlock without namespaces, Seatbelt) runs the command with the
    network off, and `network_note` says why.
    """
    command = list(argv)
    if not command:
        raise ValueError("empty command")
    cwd = os.path.abspath(os.fspath(cwd))
    child_env = dict(env)
    if not boundary.network:
        child_env["CODEX_SANDBOX_NETWORK_DISABLED"] = "1"
    if boundary.is_full_access or backend == "none":
        return PreparedCommand(command, child_env, (), "none", lambda: None, cwd)

    choice = _resolve_choice(backend)
    if choice == FORCE_UNAVAILABLE:
        raise SandboxUnavailableError(
            f"sandbox unavailable: backends disabled by {BACKEND_ENV_VAR}={FORCE_UNAVAILABLE}; "
            f"refusing to run {boundary.mode} command"
        )
    report = probe_backends(bwrap_path=bwrap_path)
    usable = report.available()
    if choice == "auto":
        preferred = [b for b in ("bwrap", "landlock", "seatbelt") if b in usable]
        if not preferred:
            raise SandboxUnavailableError(
                f"sandbox unavailable for {boundary.mode} on {report.platform}: {report.details}"
            )
        choice = preferred[0]
    elif choice not in usable:
        raise SandboxUnavailableError(f"sandbox backend {choice!r} unavailable: {report.details}")
    if choice == "landlock":
        _check_landlock(boundary, report)
    proxied, note = _proxy_choice(boundary, choice, report)
    asked_for = list(command)
    if terminal and choice in ("bwrap", "seatbelt"):
        command = terminal_argv(command, _terminal_python(boundary))
    channel: NetworkChannel | None = None
    port = 0
    if proxied:
        assert boundary.network_proxy is not None
        channel = boundary.network_proxy.attach(asked_for, cwd)
        port = 20000 + secrets.randbelow(40000)  # its own namespace: any port is free
        child_env.update(proxy_env(port))
        if choice == "bwrap":  # the container's init runs the bridge itself
            command = bridge_argv(channel.sandbox_fd, port, command, bridge_python(sys.executable))
    try:
        prepared = _prepare_backend(choice, command, boundary, cwd, child_env, report, channel, port)
    except BaseException:
        if channel is not None:
            channel.close()
        raise
    prepared.network, prepared.network_note = channel, note
    return prepared


def _proxy_choice(boundary: Boundary, choice: str, report: ProbeReport) -> tuple[bool, str | None]:
    """Whether the command gets the session's proxy; if it cannot, the note saying why."""
    if not boundary.proxied:
        return False, None
    if choice == "bwrap" or (choice == "landlock" and report.isolation != ISOLATION_NONE and report.netns):
        return True, None
    return False, (
        f"network access through the proxy is not available with the {choice} sandbox here (it needs "
        "a network namespace of the command's own), so this command ran without network"
    )


def _prepare_backend(
    choice: str,
    command: list[str],
    boundary: Boundary,
    cwd: str,
    child_env: dict[str, str],
    report: ProbeReport,
    channel: NetworkChannel | None,
    port: int,
) -> PreparedCommand:
    roots = list(boundary.writable_roots)
    if choice == "bwrap":
        return _prepare_bwrap(command, boundary, cwd, child_env, report, channel)
    if choice == "landlock":
        policy_json = launcher_policy(
            roots, boundary.network, boundary.read_only_paths,
            readable_roots=boundary.readable_roots, isolation=report.isolation,
            pinned_paths=boundary.pinned_paths, hidden_paths=boundary.hidden_paths,
            network_proxy=None if channel is None else (channel.sandbox_fd, port),
        )  # fmt: skip
        if channel is None:
            return PreparedCommand(
                launcher_argv(policy_json, command), child_env, (), "landlock", lambda: None, cwd
            )
        return PreparedCommand(
            launcher_argv(policy_json, command), child_env, (channel.sandbox_fd,), "landlock",
            channel.close, cwd, after_spawn=channel.started,
        )  # fmt: skip
    if boundary.readable_roots is not None:
        raise SandboxUnavailableError(
            "restricted read access is not enforced by the Seatbelt backend; refusing to run the "
            "command rather than let it read everything"
        )
    child_env["CODEX_SANDBOX"] = "seatbelt"
    sb_argv = _seatbelt.build_seatbelt_argv(
        command,
        writable_roots=roots,
        network_access=boundary.network,
        read_only_paths=boundary.read_only_paths,
        hidden_paths=boundary.hidden_paths,
    )
    return PreparedCommand(sb_argv, child_env, (), "seatbelt", lambda: None, cwd)


def _terminal_python(boundary: Boundary) -> str:
    """The interpreter for the terminal helper: ours, unless restricted read access may hide
    it (then the system's, which the platform defaults keep readable)."""
    if boundary.readable_roots is not None and os.access("/usr/bin/python3", os.X_OK):
        return "/usr/bin/python3"
    return sys.executable


# bwrap command lines built by `_prepare_bwrap` and not closed yet (argv -> count).  bwrap
# gives such a command both guarantees the keeper of `run_exec` exists for: its PID
# namespace dies with the command, and --die-with-parent ties it to the server.
_SELF_CONTAINED: dict[tuple[str, ...], int] = {}
_self_contained_lock = threading.Lock()


def is_self_contained(argv: Sequence[str]) -> bool:
    """Whether `argv` is a bwrap command line this process prepared and has not closed."""
    with _self_contained_lock:
        return tuple(argv) in _SELF_CONTAINED


def _hold_self_contained(argv: Sequence[str]) -> Callable[[], None]:
    key = tuple(argv)
    with _self_contained_lock:
        _SELF_CONTAINED[key] = _SELF_CONTAINED.get(key, 0) + 1
    released = False

    def release() -> None:
        nonlocal released
        with _self_contained_lock:
            if not released and key in _SELF_CONTAINED:
                _SELF_CONTAINED[key] -= 1
                if not _SELF_CONTAINED[key]:
                    del _SELF_CONTAINED[key]
            released = True

    return release


def _check_landlock(boundary: Boundary, report: ProbeReport) -> None:
    """Refuse (fail closed) what the Landlock launcher cannot enforce on this host."""
    if not report.seccomp_ok:
        raise SandboxUnavailableError(
            "landlock backend needs seccomp (to block the network, and ptrace, io_uring and the "
            f"kernel keyrings whatever the network): {report.details}"
        )
    if report.isolation != ISOLATION_NONE:
        return
    why = "the Landlock backend cannot create namespaces here"
    if boundary.read_only_paths:
        raise SandboxUnavailableError(
            f"{why}, so it cannot keep {', '.join(boundary.read_only_paths)} read-only inside the writable "
            "roots; refusing to run the command.  Enable unprivileged user namespaces or install bubblewrap "
            f"(probe: {report.details})"
        )
    if os.geteuid() == 0:
        raise SandboxUnavailableError(
            f"{why}, and without read-only mounts a command running as root could chmod or set attributes "
            f"on any root-owned file (Landlock does not govern them); refusing to run the command "
            f"(probe: {report.details})"
        )
    if report.landlock_abi < 6:
        raise SandboxUnavailableError(
            f"{why}, and Landlock ABI {report.landlock_abi} (< 6) cannot stop a command from signalling "
            f"the server; refusing to run the command (probe: {report.details})"
        )
    if not report.seccomp_ok:
        raise SandboxUnavailableError(
            f"{why}, and without seccomp a command could act on the server's process; refusing "
            f"(probe: {report.details})"
        )


def _prepare_bwrap(
    command: list[str],
    boundary: Boundary,
    cwd: str,
    env: dict[str, str],
    report: ProbeReport,
    channel: NetworkChannel | None = None,
) -> PreparedCommand:
    probe = report.bwrap
    assert probe is not None and probe.path is not None and probe.variant is not None
    child_side: list[int] = []
    parent_side: list[int] = []
    try:
        # Always a filter: the hardening denials (ptrace, io_uring, keyrings) hold with the
        # network on too; the network gate only when it is off.
        program = _seccomp.build_filter(network=not boundary.network, proxy=channel is not None)
        seccomp_fd = _seccomp.filter_memfd(program)
        child_side.append(seccomp_fd)
        status_r, status_w = os.pipe()
        parent_side.append(status_r)
        child_side.append(status_w)
        argv = _bwrap.build_bwrap_argv(
            command,
            cwd=cwd,
            writable_roots=boundary.writable_roots,
            network_access=boundary.network,
            read_only_paths=boundary.read_only_paths,
            readable_roots=boundary.readable_roots,
            pinned_paths=boundary.pinned_paths,
            hidden_paths=boundary.hidden_paths,
            seccomp_fd=seccomp_fd,
            status_fd=status_w,
            variant=probe.variant,
            bwrap_path=probe.path,
        )
    except BaseException:
        _close_fds(child_side)
        _close_fds(parent_side)
        raise

    def after_spawn() -> None:
        _close_fds(child_side)
        if channel is not None:
            channel.started()

    release = _hold_self_contained(argv)

    def close() -> None:
        release()
        _close_fds(child_side)
        _close_fds(parent_side)
        if channel is not None:
            channel.close()

    passed = tuple(child_side) + (() if channel is None else (channel.sandbox_fd,))
    return PreparedCommand(
        argv, env, passed, "bwrap", close, cwd, after_spawn=after_spawn, status_fd=status_r
    )
