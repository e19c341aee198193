"""The macOS Seatbelt profile and command line (pure string building; runs on any OS)."""

from __future__ import annotations

import re
import sys

import pytest

from codex_mcp.sandbox.policy import PROTECTED_SUBPATHS
from codex_mcp.sandbox.seatbelt import SANDBOX_EXEC, build_profile, build_seatbelt_argv, seatbelt_available


def _balanced(text: str) -> bool:
    depth = 0
    in_string = False
    for ch in text:
        if ch == '"':
            in_string = not in_string
        elif not in_string and ch == "(":
            depth += 1
        elif not in_string and ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not in_string


def test_read_only_profile_has_no_write_or_network() -> None:
    profile, params = build_profile([], network_access=False)
    assert profile.startswith("(version 1)") and "(deny default)" in profile
    assert "(allow file-read*)" in profile
    assert "subpath (param" not in profile and params == []
    assert "network-outbound" not in profile
    assert _balanced(profile)


def test_workspace_write_profile_params_and_exclusions() -> None:
    roots = ["/Users/me/proj", "/private/tmp"]
    profile, params = build_profile(roots, network_access=False)
    assert _balanced(profile)
    names = dict(params)
    assert names["WRITABLE_ROOT_0"] == "/Users/me/proj" and names["WRITABLE_ROOT_1"] == "/private/tmp"
    for j, sub in enumerate(PROTECTED_SUBPATHS):
        assert names[f"WRITABLE_ROOT_0_RO_{j}"] == f"/Users/me/proj/{sub}"
        assert f'(require-not (literal (param "WRITABLE_ROOT_0_RO_{j}")))' in profile
        assert f'(require-not (subpath (param "WRITABLE_ROOT_0_RO_{j}")))' in profile
    # Paths never appear in the profile text itself, only as parameters.
    assert "/Users/me/proj" not in profile and "/private/tmp" not in profile
    for name, _ in params:
        assert re.fullmatch(r"[A-Z0-9_]+", name) and f'(param "{name}")' in profile


def test_network_section_only_when_allowed() -> None:
    off, _ = build_profile(["/w"], network_access=False)
    on, _ = build_profile(["/w"], network_access=True)
    assert "network-outbound" not in off and "(allow network-outbound)" in on
    assert _balanced(on)


def test_argv_shape() -> None:
    argv = build_seatbelt_argv(["ls", "-la"], writable_roots=["/w x"], network_access=False)
    assert argv[0] == SANDBOX_EXEC == "/usr/bin/sandbox-exec"
    assert argv[1] == "-p" and argv[2].startswith("(version 1)")
    assert "-DWRITABLE_ROOT_0=/w x" in argv
    assert argv[argv.index("--") + 1 :] == ["ls", "-la"]
    assert all(a.startswith("-D") for a in argv[3 : argv.index("--")])


def test_special_characters_in_paths_stay_out_of_the_profile() -> None:
    evil = '/tmp/a") (allow default) ("'
    profile, params = build_profile([evil], network_access=True)
    assert "(allow default)" not in profile and params[0] == ("WRITABLE_ROOT_0", evil)


@pytest.mark.skipif(sys.platform != "darwin", reason="macOS only")
def test_seatbelt_available_on_macos() -> None:
    assert seatbelt_available()[0]
