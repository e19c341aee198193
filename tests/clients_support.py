"""Installing third-party MCP clients once, into a cache shared by test runs.

The client-matrix tests (`tests/test_clients_*.py`) drive our server with real clients:
the `mcp` 1.x SDK, the OpenAI Agents SDK, the MCP Inspector CLI and `codex` itself.  None
of them belongs in our own environment, so each is installed into its own directory:

    $CODEX_MCP_CLIENTS_CACHE/<name>-<version>/     (default ~/.cache/codex-mcp/clients)

a Python venv for PyPI clients, an npm prefix for npm clients.  A directory counts as
installed only once its `.installed.json` marker is written (the last step of an install),
so an interrupted install is thrown away and redone.  Installs hold a lock file next to the
directory, so parallel runs (xdist workers, two checkouts) wait for one another instead of
installing into the same place; every wait and every install command is bounded.

An install that fails (no network, registry down) skips the test with the reason, unless
`CI` is set: in CI a client that cannot be installed fails the test.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

CACHE_ENV = "CODEX_MCP_CLIENTS_CACHE"
INSTALL_TIMEOUT = 420.0
"""Upper bound for one client's install (the slowest, the Inspector, takes ~35 s warm-network)."""
LOCK_TIMEOUT = INSTALL_TIMEOUT + 60.0
"""How long to wait for another run that is installing the same client."""
MARKER = ".installed.json"

ROOT = Path(__file__).resolve().parent.parent
SERVER_COMMAND = Path(sys.executable).parent / "codex-mcp-server"
"""The `codex-mcp-server` entry point of the environment running the tests."""


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(reason: str) -> NoReturn:
    """Skip (locally) or fail (in CI) a test whose client cannot be installed."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "codex-mcp" / "clients"


# -- bounded subprocesses ----------------------------------------------------------------------


def run_bounded(
    argv: Sequence[str | os.PathLike[str]],
    timeout: float,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` in its own process group; on timeout kill the whole group and reap it.

    Raises `subprocess.TimeoutExpired` (with the output gathered so far) on timeout.
    """
    proc = subprocess.Popen(
        [os.fspath(a) for a in argv],
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()  # the pipes close once the group is dead
        raise subprocess.TimeoutExpired(proc.args, timeout, out, err) from None
    finally:
        if proc.poll() is None:  # an exception other than the timeout (e.g. KeyboardInterrupt)
            _kill_group(proc)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def tail(text: str | bytes | None, limit: int = 3000) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text[-limit:]


# -- the lock --------------------------------------------------------------------------------


@contextmanager
def file_lock(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive `flock` on `path`, waited for at most `timeout` seconds.

    The blocking `flock` runs in a helper thread that the caller waits on with a timeout;
    if the caller gives up, the helper releases the lock as soon as it gets it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    acquired = threading.Event()
    guard = threading.Lock()
    abandoned = False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        acquired.set()
    except BlockingIOError:

        def take() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with guard:
                if abandoned:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)
                    return
                acquired.set()

        threading.Thread(target=take, name=f"lock {path.name}", daemon=True).start()
        if not acquired.wait(timeout):
            with guard:
                if not acquired.is_set():
                    abandoned = True  # the helper closes fd when (if) it gets the lock
                    raise TimeoutError(f"another run held {path} for more than {timeout:.0f} s") from None
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# -- installs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Installed:
    """A client installed in the cache."""

    name: str
    version: str
    path: Path
    fresh: bool
    """True when this run installed it (a cold cache)."""
    install_seconds: float
    """How long the install took (now, or when it was made)."""
    info: dict[str, Any]

    def report(self) -> str:
        state = "installed now" if self.fresh else "cached"
        return f"{self.name} {self.version}: {state}, install took {self.install_seconds:.1f} s ({self.path})"


def ensure_installed(
    name: str,
    version: str,
    install: Callable[[Path], None],
    check: Callable[[Path], bool],
    *,
    extra_info: dict[str, Any] | None = None,
) -> Installed:
    """Install `name`-`version` into the cache with `install(dir)` unless it is already there.

    `check(dir)` says whether a marked directory is still usable (its entry point exists);
    `extra_info` must match the marker's copy (e.g. the Python version of a venv), otherwise
    the directory is rebuilt.  Failures go through `unavailable`.
    """
    root = cache_root()
    target = root / f"{name}-{version}"
    wanted = dict(extra_info or {})

    def usable() -> dict[str, Any] | None:
        marker = target / MARKER
        try:
            info = json.loads(marker.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(info, dict) or any(info.get(k) != v for k, v in wanted.items()):
            return None
        return info if check(target) else None

    info = usable()
    if info is not None:  # the common, warm case: no lock needed to read a finished install
        return Installed(name, version, target, False, float(info.get("install_seconds", 0.0)), info)
    try:
        with file_lock(root / f".{name}-{version}.lock", LOCK_TIMEOUT):
            info = usable()  # another run may have finished it while we waited
            if info is not None:
                return Installed(name, version, target, False, float(info.get("install_seconds", 0.0)), info)
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            started = time.monotonic()
            try:
                install(target)
            except subprocess.TimeoutExpired as exc:
                shutil.rmtree(target, ignore_errors=True)
                unavailable(
                    f"installing {name} {version} took longer than {exc.timeout:.0f} s: "
                    f"{tail(exc.stderr) or tail(exc.output)}"
                )
            except InstallError as exc:
                shutil.rmtree(target, ignore_errors=True)
                unavailable(f"could not install {name} {version}: {exc}")
            seconds = time.monotonic() - started
            if not check(target):
                shutil.rmtree(target, ignore_errors=True)
                unavailable(f"{name} {version} installed, but its entry point is missing")
            info = {
                **wanted,
                "name": name,
                "version": version,
                "install_seconds": round(seconds, 2),
                "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (target / MARKER).write_text(json.dumps(info, indent=2) + "\n")
            return Installed(name, version, target, True, seconds, info)
    except TimeoutError as exc:
        unavailable(str(exc))


class InstallError(Exception):
    pass


def checked(
    argv: Sequence[str | os.PathLike[str]], timeout: float, env: dict[str, str] | None = None
) -> None:
    done = run_bounded(argv, timeout, env=env)
    if done.returncode != 0:
        # pip and npm put the reason at the end; drop pip's noise about missing local indexes.
        lines = [
            line
            for line in (done.stderr + done.stdout).splitlines()
            if line.strip() and "is ignored: it is neither a file nor a directory" not in line
        ]
        raise InstallError(
            f"`{' '.join(map(str, argv[:4]))} ...` exited {done.returncode}: " + "\n".join(lines[-15:])
        )


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def pip_client(name: str, version: str, requirements: Sequence[str]) -> Installed:
    """A venv holding `requirements` (pinned by the caller); the interpreter is ours."""
    python_tag = f"{sys.version_info.major}.{sys.version_info.minor}"

    def install(target: Path) -> None:
        deadline = time.monotonic() + INSTALL_TIMEOUT
        checked([sys.executable, "-m", "venv", target], 120)
        checked(
            [
                venv_python(target),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--timeout",
                "30",
                "--retries",
                "2",
                *requirements,
            ],
            max(30.0, deadline - time.monotonic()),
        )

    return ensure_installed(
        name,
        version,
        install,
        lambda target: venv_python(target).exists(),
        extra_info={"python": python_tag, "requirements": list(requirements)},
    )


def npm_client(name: str, version: str, packages: Sequence[str], entry: str) -> Installed:
    """An npm prefix holding `packages`; `entry` (relative to the prefix) must exist afterwards."""
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        unavailable("node and npm are needed for this client and are not on PATH")

    def install(target: Path) -> None:
        env = dict(os.environ)
        env.update(npm_config_update_notifier="false", npm_config_fund="false", npm_config_audit="false")
        checked(
            [
                npm,
                "install",
                "--prefix",
                target,
                "--no-save",
                "--no-package-lock",
                "--fetch-timeout=30000",
                "--fetch-retries=2",
                *packages,
            ],
            INSTALL_TIMEOUT,
            env=env,
        )

    return ensure_installed(
        name,
        version,
        install,
        lambda target: (target / entry).exists(),
        extra_info={"packages": list(packages)},
    )


# -- running clients -------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without credentials, proxies or a Python venv of ours leaking in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "CODEX_", "PYTHON", "VIRTUAL_ENV"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_client(
    argv: Sequence[str | os.PathLike[str]],
    timeout: float,
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    stdin_text: str | None = None,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run a client to completion within `timeout`; returns (result, wall seconds).  A timeout
    fails the test with the client's output so far."""
    started = time.monotonic()
    try:
        done = run_bounded(argv, timeout, env=env, cwd=cwd, stdin_text=stdin_text)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"client did not finish within {timeout:.0f} s\n--- stdout ---\n{tail(exc.output)}"
            f"\n--- stderr ---\n{tail(exc.stderr)}",
            pytrace=False,
        )
    return done, time.monotonic() - started


def describe(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout ---\n{tail(done.stdout)}\n--- stderr ---\n{tail(done.stderr)}"
