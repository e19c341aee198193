"""A real reverse proxy in front of several `codex-mcp-server --http` processes: HAProxy from
Debian, with affinity on `Mcp-Session-Id`, exactly as `docs/deploy.md` configures it.

`ensure_haproxy()` finds the program, and installs the Debian package when it is missing and
the tests run as root with apt (CI machines; `.ci/run` installs it up front too).  Without
it, the tests are skipped, or fail in CI (`CI` set), where it must be there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
from pathlib import Path

from tests.clients_support import cache_root, file_lock, run_bounded, unavailable

INSTALL_TIMEOUT = 300.0
START_TIMEOUT = 15.0
DOCS_CONFIG = Path(__file__).resolve().parent.parent.parent / "docs" / "deploy.md"


def ensure_haproxy() -> str:
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        unavailable("haproxy is not installed (apt-get install haproxy)")
    with file_lock(cache_root() / ".haproxy-install.lock", INSTALL_TIMEOUT + 60):
        if shutil.which("haproxy") is None and not os.access("/usr/sbin/haproxy", os.X_OK):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "haproxy"]):
                done = run_bounded(argv, INSTALL_TIMEOUT, env=env)
                if done.returncode != 0:
                    unavailable(f"could not install haproxy: {done.stderr[-2000:]}")
    found = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None
    )
    if found is None:
        unavailable("haproxy was installed but cannot be found")
    return found


def documented_config() -> str:
    """The HAProxy configuration block of `docs/deploy.md` (the one marked `haproxy.cfg`)."""
    text = DOCS_CONFIG.read_text(encoding="utf-8")
    match = re.search(r"```haproxy\n# haproxy\.cfg\n(.*?)```", text, re.DOTALL)
    assert match, "docs/deploy.md has no ```haproxy block starting with '# haproxy.cfg'"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Haproxy:
    """HAProxy in the foreground with the documented configuration, its frontend and backends
    put on loopback ports."""

    def __init__(self, program: str, backends: list[int], workdir: Path) -> None:
        self.port = free_port()
        config = documented_config()
        config = config.replace("bind 127.0.0.1:8080", f"bind 127.0.0.1:{self.port}")
        servers = "\n".join(
            f"    server mcp{n} 127.0.0.1:{port} maxconn 256" for n, port in enumerate(backends, 1)
        )
        config = re.sub(r"(?m)^    server mcp\d .*\n(?:    server mcp\d .*\n)*", servers + "\n", config)
        assert f"127.0.0.1:{backends[0]}" in config, config
        self.config_path = workdir / "haproxy.cfg"
        self.config_path.write_text(config)
        check = run_bounded([program, "-c", "-f", self.config_path], 30)
        assert check.returncode == 0, f"haproxy rejects the documented configuration:\n{check.stderr}"
        self.proc = subprocess.Popen(
            [program, "-db", "-f", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._wait_listening()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def _wait_listening(self) -> None:
        import time

        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"haproxy exited: {''.join(self.output)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.02)  # polling a port of another program
        raise AssertionError(f"haproxy did not listen within {START_TIMEOUT} s: {''.join(self.output)}")

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait(5)
