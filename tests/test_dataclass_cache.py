"""The compiled-methods cache of dataclasses (`codex_mcp.dataclass_cache`): classes made from
it are the classes made without it, it is written only where bytecode would be, and a real
server fills it and then reads it.  Hostile cache files: `tests/security/test_perf_dataclass_cache.py`."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.perf_support import SHAPES, env, make_classes


def test_classes_from_the_cache_are_the_classes_compiled_anew(tmp_path: Path) -> None:
    cache = tmp_path / "methods.bin"
    plain = make_classes("-")
    filled = make_classes(cache)
    assert filled["added"] == 0 and filled["kept"] > 10  # compiled, kept, then saved
    assert cache.is_file()
    cached = make_classes(cache)
    assert cached["added"] == 0 and cached["kept"] == filled["kept"]  # nothing compiled again
    assert plain["classes"] == filled["classes"] == cached["classes"]
    assert plain["classes"]["frozen_refuses"] is True


def test_the_file_is_readable_by_all_and_writable_only_by_its_owner(tmp_path: Path) -> None:
    cache = tmp_path / "methods.bin"
    make_classes(cache)
    mode = stat.S_IMODE(cache.stat().st_mode)
    assert not mode & (stat.S_IWGRP | stat.S_IWOTH)
    assert [p.name for p in tmp_path.iterdir()] == ["methods.bin"]  # no temporary file left


def test_nothing_is_written_when_python_writes_no_bytecode(tmp_path: Path) -> None:
    cache = tmp_path / "methods.bin"
    out = make_classes(cache, write_bytecode=False)
    assert not cache.exists()
    assert out["added"] > 0  # compiled as usual, just not kept


def test_an_unwritable_place_is_no_error(tmp_path: Path) -> None:
    out = make_classes(tmp_path / "missing-dir" / "file-as-dir" / "methods.bin")
    assert out["classes"] == make_classes("-")["classes"]
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    out = make_classes(blocker / "methods.bin")
    assert out["added"] > 0 and blocker.read_text().startswith("a file")


def test_a_cache_that_grew_stale_is_extended_not_lost(tmp_path: Path) -> None:
    cache = tmp_path / "methods.bin"
    code = (
        "import sys\nfrom codex_mcp import dataclass_cache\ndataclass_cache.install(sys.argv[1])\n"
        "from dataclasses import dataclass\n@dataclass\nclass Only:\n    z: int\n"
        "dataclass_cache.save()\nprint(len(dataclass_cache._codes))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(cache)], capture_output=True, text=True, timeout=60, env=env()
    )
    assert run.returncode == 0, run.stderr
    few = int(run.stdout)
    out = make_classes(cache)
    assert out["kept"] > few and make_classes(cache)["added"] == 0


def _interpreter(version: str) -> str | None:
    """A working `python<version>` (a version manager's shim may exist and refuse to run)."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    for python in filter(None, candidates):
        probe = subprocess.run([python, "-c", "pass"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return python
    return None


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_other_interpreters_make_the_same_classes(tmp_path: Path, version: str) -> None:
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"python{version} is not installed here")
    outs = []
    for cache in ("-", str(tmp_path / "m.bin"), str(tmp_path / "m.bin")):
        proc = subprocess.run(
            [python, "-c", SHAPES, cache], capture_output=True, text=True, timeout=60, env=env()
        )
        if proc.returncode != 0 and "No module named" in proc.stderr:
            pytest.skip(f"python{version} cannot import the package's dependencies: {proc.stderr[-200:]}")
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    import json

    plain, filled, cached = (json.loads(o) for o in outs)
    assert plain["classes"] == filled["classes"] == cached["classes"]
    assert cached["added"] == 0


def test_every_dataclass_of_the_package_has_a_docstring() -> None:
    """Without one, `dataclasses` writes `__doc__` from `inspect.signature` of the class at
    import (~40-130 us a class, the cache cannot keep it): a first call paid ~2 ms for it."""
    import ast

    package = Path(__file__).resolve().parent.parent / "codex_mcp"
    missing = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or ast.get_docstring(node) is not None:
                continue
            if any("dataclass" in ast.unparse(d) for d in node.decorator_list):
                missing.append(f"{path.relative_to(package.parent)}:{node.lineno} {node.name}")
    assert missing == []
