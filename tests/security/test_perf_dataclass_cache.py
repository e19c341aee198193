"""A planted dataclass-methods cache must not run: only a regular file owned by us (or root),
writable by nobody else and within its size is loaded.  Judged from outside: the planted
code would create a marker file; the classes must still work.  The control case shows that a
trusted planted file *is* loaded, so every refusal below is the check's doing."""

from __future__ import annotations

import contextlib
import marshal
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from codex_mcp import dataclass_cache
from tests.perf_support import make_classes

TESTER_UID = 1001


def plant(cache: Path, marker: Path) -> None:
    """Fill `cache` legitimately, then replace every compiled method by code that creates
    `marker`: whoever loads the file runs it."""
    make_classes(cache)
    header = dataclass_cache.FORMAT + dataclass_cache._magic()
    codes = marshal.loads(cache.read_bytes()[len(header) :])
    evil = compile(f"open({str(marker)!r}, 'w').write('planted code ran')", "<string>", "exec")
    cache.write_bytes(header + marshal.dumps({key: evil for key in codes}))
    cache.chmod(0o644)


def loads_planted(cache: Path, marker: Path) -> bool:
    """Whether a fresh interpreter ran the planted code (it then fails to make its classes)."""
    with contextlib.suppress(AssertionError):
        make_classes(cache)
    return marker.exists()


def test_control_a_trusted_planted_file_is_loaded(tmp_path: Path) -> None:
    cache, marker = tmp_path / "m.bin", tmp_path / "ran"
    plant(cache, marker)
    assert loads_planted(cache, marker)


def _group_writable(cache: Path) -> Path:
    cache.chmod(0o664)
    return cache


def _world_writable(cache: Path) -> Path:
    cache.chmod(0o646)
    return cache


def _other_owner(cache: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    os.chown(cache, TESTER_UID, TESTER_UID)
    return cache


def _symlink(cache: Path) -> Path:
    link = cache.with_name("link.bin")
    link.symlink_to(cache)
    return link


def _oversized(cache: Path) -> Path:
    with cache.open("ab") as f:
        f.truncate(dataclass_cache.MAX_FILE_BYTES + 1)
    return cache


def _fifo(cache: Path) -> Path:
    fifo = cache.with_name("fifo.bin")
    os.mkfifo(fifo)
    return fifo  # must not block either


def _directory(cache: Path) -> Path:
    d = cache.with_name("dir.bin")
    d.mkdir()
    return d


@pytest.mark.parametrize(
    "spoil",
    [_group_writable, _world_writable, _other_owner, _symlink, _oversized, _fifo, _directory],
    ids=lambda f: f.__name__.strip("_"),
)
def test_an_untrusted_cache_is_not_loaded(tmp_path: Path, spoil: Callable[[Path], Path]) -> None:
    cache, marker = tmp_path / "m.bin", tmp_path / "ran"
    plant(cache, marker)
    used = spoil(cache)
    out = make_classes(used)  # the classes are made, compiled as usual
    assert not marker.exists()
    assert out["classes"] == make_classes("-")["classes"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"garbage",
        marshal.dumps([1, 2, 3]),
        marshal.dumps({"text key": compile("x = 1", "<string>", "exec")}),
        marshal.dumps({b"k" * 20: "not code"}),
        marshal.dumps({b"k" * 20: compile("x = 1", "<string>", "exec")})[:-3],
    ],
    ids=["empty", "garbage", "list", "str-keys", "str-values", "truncated"],
)
def test_a_malformed_cache_is_ignored(tmp_path: Path, body: bytes) -> None:
    cache = tmp_path / "m.bin"
    cache.write_bytes(dataclass_cache.FORMAT + dataclass_cache._magic() + body)
    cache.chmod(0o644)
    out = make_classes(cache)
    assert out["classes"] == make_classes("-")["classes"]


def test_another_interpreters_cache_is_ignored(tmp_path: Path) -> None:
    cache, marker = tmp_path / "m.bin", tmp_path / "ran"
    plant(cache, marker)
    data = bytearray(cache.read_bytes())
    at = len(dataclass_cache.FORMAT)
    data[at] ^= 0xFF  # another bytecode magic number
    cache.write_bytes(bytes(data))
    out = make_classes(cache)
    assert not marker.exists()
    assert out["classes"] == make_classes("-")["classes"]
