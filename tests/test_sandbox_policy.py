"""Parsing sandbox policies (Codex SandboxPolicy JSON and codex-cli 0.147 permissionProfile)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_mcp.sandbox.policy import (
    SandboxPolicy,
    SandboxPolicyError,
    file_uri_to_path,
    parse_permission_profile,
    parse_sandbox_policy_json,
    writable_roots_for,
)
from codex_mcp.sandbox.state import parse_sandbox_state

ROOT_READ: dict[str, object] = {"path": {"type": "special", "value": {"kind": "root"}}, "access": "read"}


def special(kind: str, access: str, **extra: object) -> dict[str, object]:
    return {"path": {"type": "special", "value": {"kind": kind, **extra}}, "access": access}


def path_entry(path: str, access: str, **extra: object) -> dict[str, object]:
    return {"path": {"type": "path", "path": path}, "access": access, **extra}


def managed(entries: list[dict[str, object]], network: str = "restricted") -> dict[str, object]:
    return {"type": "managed", "file_system": {"type": "restricted", "entries": entries}, "network": network}


# ---- SandboxPolicy JSON ------------------------------------------------------------------------


def test_simple_modes() -> None:
    assert parse_sandbox_policy_json({"type": "read-only"}) == SandboxPolicy("read-only")
    assert parse_sandbox_policy_json({"type": "danger-full-access"}).is_full_access
    assert parse_sandbox_policy_json("workspace-write") == SandboxPolicy("workspace-write")


def test_workspace_write_fields() -> None:
    pol = parse_sandbox_policy_json(
        {
            "type": "workspace-write",
            "writable_roots": ["/a/b", "file:///c%20d", "/a/b/"],
            "network_access": True,
            "exclude_tmpdir_env_var": True,
            "exclude_slash_tmp": False,
        }
    )
    assert pol == SandboxPolicy("workspace-write", ("/a/b", "/c d"), True, True, False)
    assert pol.has_network


def test_camel_case_fields_accepted() -> None:
    pol = parse_sandbox_policy_json(
        {"type": "workspace-write", "writableRoots": ["/x"], "networkAccess": True}
    )
    assert pol.writable_roots == ("/x",) and pol.network_access


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        [],
        {},
        {"type": "full"},
        {"type": "external-sandbox", "network_access": "enabled"},
        {"type": "workspace-write", "writable_roots": "/x"},
        {"type": "workspace-write", "writable_roots": ["relative/path"]},
        {"type": "workspace-write", "writable_roots": [3]},
        {"type": "workspace-write", "network_access": "yes"},
        {"type": "workspace-write", "writable_roots": ["http://x/y"]},
    ],
)
def test_bad_policies_raise(bad: object) -> None:
    with pytest.raises(SandboxPolicyError):
        parse_sandbox_policy_json(bad)


@given(
    roots=st.lists(
        st.from_regex(r"/[a-z]{1,8}(/[a-z0-9]{1,8}){0,3}", fullmatch=True), max_size=4, unique=True
    ),
    net=st.booleans(),
    ex_tmpdir=st.booleans(),
    ex_tmp=st.booleans(),
)
def test_round_trip(roots: list[str], net: bool, ex_tmpdir: bool, ex_tmp: bool) -> None:
    pol = SandboxPolicy("workspace-write", tuple(roots), net, ex_tmpdir, ex_tmp)
    assert parse_sandbox_policy_json(pol.to_json()) == pol
    for mode in ("read-only", "danger-full-access"):
        assert parse_sandbox_policy_json(SandboxPolicy(mode).to_json()) == SandboxPolicy(mode)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                    max_leaves=10))  # fmt: skip
def test_arbitrary_json_never_crashes_and_never_grants_full_access(obj: object) -> None:
    try:
        pol = parse_sandbox_policy_json(obj)
    except SandboxPolicyError:
        return
    assert isinstance(obj, dict | str)
    if pol.is_full_access:
        assert (obj if isinstance(obj, str) else obj.get("type", obj.get("mode"))) == "danger-full-access"


# ---- permissionProfile ---------------------------------------------------------------------------


def test_profile_read_only() -> None:
    assert parse_permission_profile(managed([ROOT_READ])) == SandboxPolicy("read-only")


def test_profile_disabled() -> None:
    assert parse_permission_profile({"type": "disabled"}).is_full_access


def test_profile_workspace_write_as_sent_by_0_147() -> None:
    cwd = "/home/u/proj"
    entries = [
        ROOT_READ,
        path_entry(cwd, "write"),
        special("slash_tmp", "write"),
        special("tmpdir", "write"),
        path_entry(cwd + "/.git", "read", missing_path_behavior="skip"),
        path_entry(cwd + "/.agents", "read", missing_path_behavior="skip"),
        path_entry(cwd + "/.codex", "read", missing_path_behavior="skip"),
    ]
    pol = parse_permission_profile(managed(entries), cwd="file:///home/u/proj")
    assert pol == SandboxPolicy("workspace-write", (), False, False, False)


def test_profile_extra_roots_network_and_tmp_exclusions() -> None:
    entries = [ROOT_READ, special("project_roots", "write"), path_entry("file:///data/x", "write")]
    pol = parse_permission_profile(managed(entries, network="enabled"))
    assert pol == SandboxPolicy("workspace-write", ("/data/x",), True, True, True)


def test_profile_project_subpath() -> None:
    entries = [
        ROOT_READ,
        special("current_working_directory", "write"),
        special("project_roots", "write", subpath="out"),
    ]
    pol = parse_permission_profile(managed(entries), cwd="/w")
    assert pol.writable_roots == ("/w/out",)


def test_profile_without_cwd_write_is_narrowed_to_read_only() -> None:
    entries = [ROOT_READ, special("slash_tmp", "write"), special("tmpdir", "write")]
    assert parse_permission_profile(managed(entries, network="enabled")) == SandboxPolicy("read-only")


def test_profile_root_write() -> None:
    entries = [special("root", "write")]
    assert parse_permission_profile(managed(entries, network="enabled")).is_full_access
    pol = parse_permission_profile(managed(entries))
    assert pol.mode == "workspace-write" and pol.writable_roots == ("/",) and not pol.has_network


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {"type": "weird"},
        {"type": "managed"},
        {"type": "managed", "file_system": {"type": "restricted"}},
        {"type": "managed", "file_system": {"type": "bogus", "entries": []}},
        managed([ROOT_READ], network="sometimes"),
        managed([ROOT_READ, path_entry("/secret", "deny")]),
        managed([ROOT_READ, path_entry("/secret", "none")]),
        managed([ROOT_READ, {"path": {"type": "glob_pattern", "pattern": "/x/**"}, "access": "write"}]),
        managed([ROOT_READ, special("project_roots", "write", subpath="../escape")], network="restricted"),
        managed([ROOT_READ, special("minimal", "write")]),
        managed([ROOT_READ, path_entry("relative", "write")]),
        managed([ROOT_READ, "not-an-object"]),  # type: ignore[list-item]
    ],
)
def test_bad_profiles_raise(bad: object) -> None:
    with pytest.raises(SandboxPolicyError):
        parse_permission_profile(bad, cwd="/w")


# ---- restricted read access: enforced as readable_roots or refused, never widened ---------------


def test_profile_restricted_read_names_its_paths_and_write_roots() -> None:
    entries = [path_entry("/data/ref", "read"), path_entry("/w", "write"), special("slash_tmp", "write")]
    pol = parse_permission_profile(managed(entries), cwd="/w", env={"TMPDIR": "/ignored"})
    assert pol.mode == "workspace-write"
    assert pol.readable_roots == ("/data/ref", "/w", "/tmp")


def test_profile_restricted_read_only() -> None:
    pol = parse_permission_profile(
        managed([path_entry("/data", "read"), special("minimal", "read")]), cwd="/w"
    )
    assert pol.mode == "read-only" and pol.readable_roots is not None
    assert (
        pol.readable_roots[0] == "/data" and "/usr" in pol.readable_roots and "/w" not in pol.readable_roots
    )
    nothing = parse_permission_profile(managed([]))
    assert nothing.mode == "read-only" and nothing.readable_roots == ()


def test_profile_restricted_read_special_paths() -> None:
    entries = [
        special("current_working_directory", "read"),
        special("tmpdir", "read"),
        special("slash_tmp", "read"),
    ]
    pol = parse_permission_profile(managed(entries), cwd="/w", env={"TMPDIR": "/t"})
    assert pol.readable_roots == ("/w", "/t", "/tmp")
    no_tmpdir = parse_permission_profile(managed([special("tmpdir", "read")]), cwd="/w", env={})
    assert no_tmpdir.readable_roots == ()
    with pytest.raises(SandboxPolicyError, match="cwd"):
        parse_permission_profile(managed([special("current_working_directory", "read")]))


def test_profile_read_only_carve_outs_only_where_enforced() -> None:
    ok = [
        path_entry("/w", "write"),
        path_entry("/w/.git", "read"),
        special("project_roots", "read", subpath=".codex"),
    ]
    assert parse_permission_profile(managed([ROOT_READ, *ok]), cwd="/w").readable_roots is None
    # A workspace under /tmp: `.git` is directly under the workspace root, not under /tmp.
    nested = [
        path_entry("/tmp/p/w", "write"),
        special("slash_tmp", "write"),
        path_entry("/tmp/p/w/.git", "read"),
    ]
    assert parse_permission_profile(managed([ROOT_READ, *nested]), cwd="/tmp/p/w").mode == "workspace-write"
    for carve in ("/w/secrets", "/w/sub/.git", "/tmp/keep"):
        entries = [
            ROOT_READ,
            path_entry("/w", "write"),
            special("slash_tmp", "write"),
            path_entry(carve, "read"),
        ]
        with pytest.raises(SandboxPolicyError, match="read-only inside the writable root"):
            parse_permission_profile(managed(entries), cwd="/w")
    with pytest.raises(SandboxPolicyError):
        parse_permission_profile(managed([special("root", "write"), path_entry("/usr", "read")]), cwd="/w")


def test_profile_unknown_read_kind_is_refused_not_ignored() -> None:
    with pytest.raises(SandboxPolicyError):
        parse_permission_profile(managed([ROOT_READ, special("somewhere_new", "read")]), cwd="/w")
    with pytest.raises(SandboxPolicyError):
        parse_permission_profile(
            managed([ROOT_READ, {"path": {"type": "glob_pattern", "pattern": "/x/**"}, "access": "read"}])
        )


@pytest.mark.parametrize(
    ("policy", "readable"),
    [
        ({"type": "read-only", "access": {"type": "full-access"}}, None),
        ({"type": "readOnly", "access": {"type": "fullAccess"}}, None),
        (
            {"type": "read-only", "access": {"type": "restricted", "readable_roots": ["/a", "file:///b"]}},
            ("/a", "/b"),
        ),
        (
            {
                "type": "readOnly",
                "access": {"type": "restricted", "includePlatformDefaults": True, "readableRoots": []},
            },
            ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"),
        ),
        (
            {
                "type": "workspace-write",
                "writable_roots": ["/out"],
                "read_only_access": {"type": "restricted", "readable_roots": ["/ref"]},
            },
            ("/ref", "/out"),
        ),
        (
            {
                "type": "workspaceWrite",
                "writableRoots": ["/out"],
                "readOnlyAccess": {"type": "restricted", "readableRoots": ["/ref"]},
            },
            ("/ref", "/out"),
        ),
    ],
)
def test_policy_json_read_access(policy: dict[str, object], readable: tuple[str, ...] | None) -> None:
    assert parse_sandbox_policy_json(policy).readable_roots == readable


@pytest.mark.parametrize(
    "access",
    [
        {"type": "partial"},
        "restricted",
        {"type": "restricted", "readable_roots": "/a"},
        {"type": "restricted", "readable_roots": [1]},
        {"type": "restricted", "readable_roots": ["relative"]},
        {"type": "restricted", "readable_roots": ["http://x/a"]},
        {"type": "restricted", "include_platform_defaults": "yes"},
    ],
)
def test_policy_json_read_access_that_cannot_be_read_is_refused(access: object) -> None:
    with pytest.raises(SandboxPolicyError):
        parse_sandbox_policy_json({"type": "read-only", "access": access})
    with pytest.raises(SandboxPolicyError):
        parse_sandbox_policy_json({"type": "workspace-write", "read_only_access": access})


def test_policy_json_two_read_access_fields_are_ambiguous() -> None:
    full = {"type": "full-access"}
    with pytest.raises(SandboxPolicyError, match="more than one"):
        parse_sandbox_policy_json({"type": "read-only", "access": full, "readOnlyAccess": full})


def test_with_writes_readable() -> None:
    from codex_mcp.sandbox.policy import with_writes_readable

    pol = SandboxPolicy("workspace-write", writable_roots=("/out",), readable_roots=("/ref",))
    assert with_writes_readable(pol, "/w", {"TMPDIR": "/t"}).readable_roots == (
        "/ref",
        "/w",
        "/out",
        "/tmp",
        "/t",
    )
    assert with_writes_readable(SandboxPolicy("workspace-write"), "/w").readable_roots is None


# ---- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "path"),
    [("file:///a/b", "/a/b"), ("file://localhost/a%20b", "/a b"), ("/plain/path", "/plain/path")],
)
def test_file_uri_to_path(uri: str, path: str) -> None:
    assert file_uri_to_path(uri) == path


@pytest.mark.parametrize("bad", ["", "file://host/a", "https://x/y", "rel/a", "file:rel"])
def test_file_uri_to_path_rejects(bad: str) -> None:
    with pytest.raises(SandboxPolicyError):
        file_uri_to_path(bad)


def test_writable_roots_for(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    extra = tmp_path / "extra"
    tmpdir = tmp_path / "tmpdir"
    for d in (ws, extra, tmpdir):
        d.mkdir()
    env = {"TMPDIR": str(tmpdir)}
    pol = SandboxPolicy("workspace-write", (str(extra), str(tmp_path / "missing")))
    roots = writable_roots_for(pol, str(ws), env)
    assert roots[:2] == [os.path.realpath(ws), os.path.realpath(extra)]
    assert os.path.realpath("/tmp") in roots and os.path.realpath(tmpdir) in roots
    assert str(tmp_path / "missing") not in roots
    excl = SandboxPolicy("workspace-write", (), False, True, True)
    assert writable_roots_for(excl, str(ws), env) == [os.path.realpath(ws)]
    assert writable_roots_for(SandboxPolicy("read-only"), str(ws), env) == []
    assert writable_roots_for(SandboxPolicy("danger-full-access"), str(ws), env) == ["/"]


def test_parse_sandbox_state_both_generations() -> None:
    update = {"sandboxPolicy": {"type": "read-only"}, "sandboxCwd": "/w", "codexLinuxSandboxExe": None}
    assert parse_sandbox_state(update) == (SandboxPolicy("read-only"), "/w")
    meta = {
        "permissionProfile": managed([ROOT_READ, path_entry("/w", "write")], network="enabled"),
        "sandboxCwd": "file:///w",
        "useLegacyLandlock": False,
    }
    assert parse_sandbox_state(meta) == (SandboxPolicy("workspace-write", (), True, True, True), "/w")
    assert parse_sandbox_state({"permissionProfile": {"type": "disabled"}})[0].is_full_access
    for bad in (
        {},
        {"sandboxCwd": "/w"},
        {"sandboxPolicy": {"type": "x"}},
        {"sandboxPolicy": {"type": "read-only"}, "sandboxCwd": 3},
        [],
    ):
        with pytest.raises(SandboxPolicyError):
            parse_sandbox_state(bad)
