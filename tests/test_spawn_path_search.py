"""The keeper's start of an unrestricted command searches PATH as execvp does, without a
process per directory that lacks the program: what runs, and every error, stay execvp's."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from codex_mcp.sandbox import container


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _program(directory: Path, name: str, marker: Path, *, executable: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho {directory.name} > {marker}\n")
    path.chmod(0o755 if executable else 0o644)
    return path


def test_the_first_executable_on_path_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    _program(tmp_path / "second", "prog", marker)
    _program(tmp_path / "third", "prog", marker)
    path = os.pathsep.join([str(tmp_path / "missing"), str(tmp_path / "empty"), str(tmp_path / "second"),
                            str(tmp_path / "third")])  # fmt: skip
    (tmp_path / "empty").mkdir()
    assert _wait(container.spawn(["prog"], {"PATH": path})) == 0
    assert marker.read_text().strip() == "second"


def test_a_file_that_cannot_run_is_passed_over_as_execvp_does(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    _program(tmp_path / "first", "prog", marker, executable=False)
    (tmp_path / "dir-named" / "prog").mkdir(parents=True)  # a directory with the name
    _program(tmp_path / "last", "prog", marker)
    path = os.pathsep.join(str(tmp_path / d) for d in ("first", "dir-named", "last"))
    assert _wait(container.spawn(["prog"], {"PATH": path})) == 0
    assert marker.read_text().strip() == "last"


def test_the_errors_are_execvp_s(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        container.spawn(["prog"], {"PATH": str(tmp_path / "nowhere")})
    marker = tmp_path / "ran"
    only = _program(tmp_path / "only", "prog", marker, executable=False)
    if os.geteuid() == 0:
        only.chmod(stat.S_IRUSR)  # root may run anything with an execute bit: none at all
    with pytest.raises(PermissionError):  # found, but not runnable: that error, not "not found"
        container.spawn(["prog"], {"PATH": f"{tmp_path / 'nowhere'}:{tmp_path / 'only'}"})
    assert not marker.exists()


def test_a_path_with_a_slash_is_not_searched(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    program = _program(tmp_path / "here", "prog", marker)
    assert _wait(container.spawn([str(program)], {"PATH": "/nonexistent"})) == 0
    assert marker.exists()
