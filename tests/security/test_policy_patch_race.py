"""A process racing the patch writer cannot redirect it outside, nor crash the turn.

A background process swaps a workspace directory (or file) with a symlink to the outside
directory in a tight loop (`renameat2(RENAME_EXCHANGE)`, atomic), while the model applies
patch after patch through that path.  Whatever the interleaving, the outside directory must
be exactly as it was, and every patch must end in success or a clean error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.harness import outside_dir
from tests.security.policy_support import (
    add_file,
    assert_clean,
    delete_file,
    patch,
    renameat2_available,
    run_turn,
    swapping,
    update_file,
)
from tests.support.scripted_model import ScriptedModel
from tests.support.server import ServerFactory

pytestmark = pytest.mark.skipif(not renameat2_available(), reason="needs Linux renameat2")

ROUNDS = 20


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in sorted(root.rglob("*"))
    }


def _outcomes(model: ScriptedModel, calls: list[str]) -> tuple[int, int]:
    """(successes, clean failures); anything else fails the test."""
    ok = failed = 0
    for call in calls:
        output = model.call_output(call)
        assert "internal error" not in output, output
        if "Success." in output:
            ok += 1
        else:
            assert output.startswith(("Exit code: 1", "apply_patch verification failed", "writing outside",
                                      "patch rejected")), output  # fmt: skip
            failed += 1
    print(f"race: {ok} patches applied, {failed} failed cleanly")
    return ok, failed


def _fill(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "existing.txt").write_text("original\n")
    for i in range(ROUNDS):
        (directory / f"victim{i}").write_text("keep\n")


@pytest.mark.parametrize("approval", ["never", "on-request"])
def test_directory_swapped_with_a_symlink_during_patches(
    approval: str, scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    with outside_dir() as outside:
        _fill(outside)
        _fill(workspace / "d")
        (workspace / "s").symlink_to(outside)
        before = _snapshot(outside)
        calls: list[str] = []
        for i in range(ROUNDS):
            calls.append(scripted_model.apply_patch(add_file(f"d/new{i}.txt", f"n{i}")))
            calls.append(scripted_model.apply_patch(update_file("d/existing.txt", "original", "original")))
            calls.append(scripted_model.apply_patch(delete_file(f"d/victim{i}")))
            calls.append(scripted_model.apply_patch(patch(f"*** Add File: d/deep{i}/x/y.txt", "+deep")))
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        with swapping(workspace / "d", workspace / "s"):
            result = run_turn(client, approval=approval, timeout=180)
        assert_clean(client, result)
        assert _snapshot(outside) == before, "a patch landed outside while the paths were swapped"
        ok, failed = _outcomes(scripted_model, calls)
        assert ok + failed == len(calls)


def test_file_swapped_with_a_symlink_to_an_outside_file(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    with outside_dir() as outside:
        target = outside / "target.txt"
        target.write_text("original\n")
        (workspace / "f.txt").write_text("original\n")
        (workspace / "l").symlink_to(target)
        calls = [scripted_model.apply_patch(add_file("f.txt", f"write {i}")) for i in range(ROUNDS * 2)]
        calls += [scripted_model.apply_patch(delete_file("f.txt")) for _ in range(3)]
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        with swapping(workspace / "f.txt", workspace / "l"):
            result = run_turn(client, approval="never", timeout=180)
        assert_clean(client, result)
        assert target.read_text() == "original\n"
        assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]
        _outcomes(scripted_model, calls)


def test_deep_component_swapped_while_moving_files(
    scripted_model: ScriptedModel, spawn_server: ServerFactory, workspace: Path
) -> None:
    with outside_dir() as outside:
        (workspace / "a" / "b").mkdir(parents=True)
        (workspace / "a" / "c").symlink_to(outside)
        before = _snapshot(outside)
        calls: list[str] = []
        for i in range(ROUNDS):
            (workspace / f"src{i}.txt").write_text("move me\n")
            calls.append(
                scripted_model.apply_patch(
                    update_file(f"src{i}.txt", "move me", "moved", move_to=f"a/b/m{i}.txt")
                )
            )
        scripted_model.text("done")
        client = spawn_server(policy="decline")
        with swapping(workspace / "a" / "b", workspace / "a" / "c"):
            result = run_turn(client, approval="never", timeout=180)
        assert_clean(client, result)
        assert _snapshot(outside) == before
        _outcomes(scripted_model, calls)
