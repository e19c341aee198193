"""Bounded reads refuse what is not a regular file and never block on a FIFO."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codex_mcp.bounded_read import UnreadableFileError, aread_regular_file, read_regular_file


def test_regular_file_within_limit(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(b"hello")
    assert read_regular_file(f, limit=5) == b"hello"


def test_over_limit_refused_or_cut(tmp_path: Path) -> None:
    f = tmp_path / "big"
    with f.open("wb") as fh:
        fh.truncate(500 * 1024 * 1024)  # sparse: costs nothing on disk
    with pytest.raises(UnreadableFileError, match="over the limit"):
        read_regular_file(f, limit=1024)
    assert read_regular_file(f, limit=1024, truncate=True) == b"\0" * 1024


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableFileError, match="FIFO"):
        read_regular_file(fifo, limit=1024)


@pytest.mark.parametrize("target", ["/dev/zero", "/proc/self/environ", "/sys/kernel/uevent_seqnum"])
def test_pseudo_files_and_devices_are_refused(tmp_path: Path, target: str) -> None:
    link = tmp_path / "innocent.txt"
    os.symlink(target, link)
    for path in (target, link):
        with pytest.raises(UnreadableFileError):
            read_regular_file(path, limit=1024)


def test_directory_and_symlink_policy(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="directory"):
        read_regular_file(tmp_path, limit=10)
    real = tmp_path / "real"
    real.write_text("x")
    link = tmp_path / "link"
    os.symlink(real, link)
    assert read_regular_file(link, limit=10) == b"x"
    with pytest.raises(UnreadableFileError, match="symbolic link"):
        read_regular_file(link, limit=10, follow_symlinks=False)


def test_missing_file_is_a_plain_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "nope", limit=10)


@pytest.mark.anyio
async def test_async_variant(tmp_path: Path) -> None:
    f = tmp_path / "a"
    f.write_bytes(b"abc")
    assert await aread_regular_file(f, limit=3) == b"abc"
