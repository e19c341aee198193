"""A copy of the server's runtime that the unprivileged `tester` user can import.

The tests' interpreter and its venv may live where `tester` cannot look (root's 0700 home, or
a `mktemp -d` directory in CI).  For the runs as `tester`, the system Python imports the
package from a directory everyone can read: the checkout and the venv themselves when
`tester` can read them, else a copy of the package, of the attack probe and of the runtime
distributions the package depends on (found from its metadata), made once per test session
under /var/tmp and removed at exit.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
_IMPORT_CHECK = "import anyio, tomlkit, pydantic, httpx, codex_mcp.cli, codex_mcp.sandbox.select"


@dataclass(frozen=True)
class Runtime:
    pythonpath: str
    root: Path  # where `tests/security/` can be found


def _requirements(dist: metadata.Distribution) -> list[str]:
    names: list[str] = []
    for req in dist.requires or []:
        if ";" in req and "extra ==" in req.split(";", 1)[1]:
            continue
        match = re.match(r"[A-Za-z0-9_.\-]+", req)
        if match:
            names.append(match.group(0))
    return names


def _runtime_distributions() -> list[metadata.Distribution]:
    seen: dict[str, metadata.Distribution] = {}
    queue = _requirements(metadata.distribution("codex-mcp"))
    while queue:
        name = queue.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = dist
        queue.extend(_requirements(dist))
    return list(seen.values())


def _readable_by(user: str, pythonpath: str) -> bool:
    proc = subprocess.run(
        [shutil.which("runuser") or "runuser", "-u", user, "--", SYSTEM_PYTHON, "-c", _IMPORT_CHECK],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": pythonpath}, cwd="/",
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return proc.returncode == 0


def _copy_runtime(base: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT_DIR / "codex_mcp", base / "codex_mcp", ignore=ignore)
    for part in ("tests", "tests/security"):
        (base / part).mkdir(exist_ok=True)
        (base / part / "__init__.py").write_text("")
    for name in ("backends_probe.py", "uexec_probe.py", "netproxy_probe.py"):
        shutil.copy2(ROOT_DIR / "tests" / "security" / name, base / "tests" / "security" / name)
    site = base / "site"
    for dist in _runtime_distributions():
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if "__pycache__" in file.parts or not source.is_file() or file.parts[0] == "..":
                continue
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for path in (base, *base.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)


@functools.cache
def runtime_for(user: str) -> Runtime:
    """How `user` imports the package with the system Python (built on first use)."""
    site = [p for p in sys.path if p.endswith("site-packages")]
    direct = os.pathsep.join([str(ROOT_DIR), *site])
    if _readable_by(user, direct):
        return Runtime(direct, ROOT_DIR)
    base = Path(tempfile.mkdtemp(prefix="codex-mcp-tester-runtime-", dir="/var/tmp"))
    atexit.register(shutil.rmtree, base, True)
    _copy_runtime(base)
    pythonpath = os.pathsep.join([str(base), str(base / "site")])
    if not _readable_by(user, pythonpath):
        raise RuntimeError(f"{user} cannot import the copied runtime in {base}")
    return Runtime(pythonpath, base)
