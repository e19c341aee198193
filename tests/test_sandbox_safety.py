"""Known-safe commands, the command approval table, patch safety and the denial heuristic."""

from __future__ import annotations

import itertools
import os
import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codex_mcp.agent.handlers.confine import UnsandboxedRefused, harden_unsandboxed
from codex_mcp.sandbox.boundary import compute_boundary
from codex_mcp.sandbox.classify import bwrap_status_has_exit_code, classify_result
from codex_mcp.sandbox.denial import is_likely_sandbox_denied
from codex_mcp.sandbox.policy import APPROVAL_POLICIES, SandboxPolicy
from codex_mcp.sandbox.safety import (
    REJECT_EMPTY_PATCH,
    REJECT_NO_SANDBOX,
    REJECT_NOT_TRUSTED,
    REJECT_PATCH_OUTSIDE,
    AskUser,
    AutoApprove,
    Reject,
    assess_command_safety,
    assess_patch_safety,
    is_known_safe_command,
    patch_write_allowed,
    split_simple_script,
)

RO = SandboxPolicy("read-only")
WW = SandboxPolicy("workspace-write")
FULL = SandboxPolicy("danger-full-access")

SAFE = [
    ["ls"],
    ["ls", "-la", "/etc"],
    ["/bin/ls", "-l"],
    ["/usr/bin/cat", "x"],
    ["cat", "file.txt"],
    ["grep", "-R", "foo", "."],
    ["echo", ">", "x"],  # argv is exec'd directly: '>' is just an argument
    ["pwd"],
    ["wc", "-l", "a"],
    ["numfmt", "1000"],
    ["tac", "f"],
    ["base64", "-d", "f"],
    ["find", ".", "-name", "*.py"],
    ["rg", "TODO", "-n"],
    ["rg", "--files"],
    ["git", "status"],
    ["git", "--no-pager", "log", "--oneline", "--no-ext-diff", "--stat"],
    ["uniq"],
    ["uniq", "-c", "file.txt"],
    ["uniq", "-"],
    ["rg", "--pretty", "x"],
    ["git", "--no-pager", "diff", "HEAD~1"],
    ["git", "show", "HEAD"],
    ["git", "branch"],
    ["git", "branch", "--show-current", "-v"],
    ["git", "branch", "--format=%(refname)"],
    ["sed", "-n", "10p"],
    ["sed", "-n", "1,5p", "file.txt"],
    ["bash", "-lc", "ls"],
    ["bash", "-lc", "ls && pwd"],
    ["bash", "-c", "git status; git log -n 3 | head -n 5"],
    ["zsh", "-lc", "grep -n 'a b' x.txt || echo \"not found\""],
    ["bash", "-lc", "cat 'odd;name' | wc -l"],
    ["bash", "-lc", 'echo "a\\$b"'],
    ["/bin/bash", "-lc", "ls -1"],
]

UNSAFE = [
    [],
    ["rm", "-rf", "/"],
    ["./ls"],
    ["/tmp/evil/ls"],
    ["python", "-c", "print(1)"],
    ["base64", "-o", "out", "f"],
    ["base64", "--output=out", "f"],
    ["base64", "-oout", "f"],
    ["find", ".", "-delete"],
    ["find", ".", "-exec", "rm", "{}", ";"],
    ["find", ".", "-fprint", "x"],
    ["rg", "--pre", "sh", "x"],
    ["rg", "--pre=sh", "x"],
    ["rg", "-z", "x"],
    ["rg", "-uz", "x"],
    ["rg", "--search-zip", "x"],
    ["rg", "--hostname-bin=/x", "x"],
    ["git", "-c", "core.pager=evil", "log"],
    ["git", "-ccore.pager=evil", "log"],
    ["git", "--config-env=core.pager=X", "log"],
    ["git", "commit", "-m", "x"],
    ["git", "checkout", "x"],
    ["git", "reset", "--hard"],
    ["git", "log", "--output=/etc/x"],
    ["git", "diff", "--ext-diff"],
    ["git", "show", "--textconv"],
    ["git", "log", "--exec=x"],
    ["git", "log", "--paginate"],
    ["git", "branch", "-D", "main"],
    ["git", "branch", "new-branch"],
    ["git"],
    ["sed", "-i", "s/a/b/", "f"],
    ["sed", "-n", "1p", "a", "b"],
    ["sed", "-n", "1d"],
    ["sed", "-n"],
    ["bash", "-lc", "ls > out"],
    ["bash", "-lc", "ls >> out"],
    ["bash", "-lc", "cat < /etc/passwd"],
    ["bash", "-lc", "ls && rm -rf x"],
    ["bash", "-lc", "(ls)"],
    ["bash", "-lc", "ls &"],
    ["bash", "-lc", "echo $(rm x)"],
    ["bash", "-lc", 'echo "$(rm x)"'],
    ["bash", "-lc", "echo `rm x`"],
    ["bash", "-lc", "echo $HOME"],
    ["bash", "-lc", "ls *"],
    ["bash", "-lc", "ls {a,b}"],
    ["bash", "-lc", "ls\nrm x"],
    ["bash", "-lc", "ls && "],
    ["bash", "-lc", ""],
    ["bash", "-lc", "ls 'unterminated"],
    ["bash", "-lc", "PATH=/tmp/x/ls ls"],
    ["bash", "-lc", "FOO=1 ls"],
    ["bash", "-lc", "./ls"],
    ["bash", "-lc", "ls # comment"],
    ["bash", "-lc", "ls; ; pwd"],
    ["bash", "-lc", "ls |& cat"],
    ["bash", "-lc", "ls", "extra"],
    ["bash", "-x", "ls"],
    ["sh", "-c", "ls"],
    ["bash", "-lc", "find . -delete"],
    ["bash", "-lc", "git -c x=y status"],
    ["bash", "-lc", "echo a\\ b"],
    # write and exec primitives hidden in otherwise read-only tools
    ["uniq", "in.txt", "out.txt"],
    ["uniq", "-", "out.txt"],
    ["uniq", "--", "-in", "-out"],
    ["uniq", "-c", "in.txt", "out.txt"],
    ["bash", "-lc", "uniq in.txt out.txt"],
    ["bash", "-lc", "sort a | uniq - out.txt"],
    ["base64", "--out=x", "f"],
    ["base64", "--o", "x", "f"],
    ["rg", "--pr=sh", "x"],
    ["rg", "--search-z", "x"],
    ["rg", "--host=/x", "x"],
    ["sort", "-o", "out", "in"],
    ["tee", "out"],
    ["sed", "-n", "1w out"],
    ["bash", "-lc", "cat a | tee out"],
    # git: options that point it at another repository or config, run programs, write files
    ["git", "-C", "sub", "log", "--oneline"],
    ["git", "-C", "sub", "status"],
    ["git", "--git-dir=x/.git", "status"],
    ["git", "--git-dir", "x/.git", "status"],
    ["git", "--work-tree=x", "status"],
    ["git", "--exec-path=./bin", "status"],
    ["git", "--namespace=x", "log"],
    ["git", "-p", "status"],
    ["git", "--paginate", "status"],
    ["git", "log", "--outp=/tmp/x"],
    ["git", "log", "--out", "/tmp/x"],
    ["git", "diff", "--ext"],
    ["git", "show", "--text"],
    ["git", "log", "--pag"],
    ["git", "log", "--show-signature"],
    ["git", "log", "--show-sig"],
    ["git", "log", "--format=%G?"],
    ["git", "log", "--pretty=format:%GS"],
    ["git", "log", "--exe=x"],
    ["bash", "-lc", "git -C sub status"],
]


@pytest.mark.parametrize("argv", SAFE, ids=lambda a: shlex.join(a))
def test_known_safe(argv: list[str]) -> None:
    assert is_known_safe_command(argv)


@pytest.mark.parametrize("argv", UNSAFE, ids=lambda a: shlex.join(a) or "<empty>")
def test_not_known_safe(argv: list[str]) -> None:
    assert not is_known_safe_command(argv)


def test_split_simple_script() -> None:
    assert split_simple_script("ls -l && echo 'a b'|wc") == [["ls", "-l"], ["echo", "a b"], ["wc"]]
    assert split_simple_script('echo ""') == [["echo", ""]]
    assert split_simple_script('grep "a\\|b" f') == [["grep", "a\\|b", "f"]]


_word = st.sampled_from(["ls", "pwd", "cat", "x.txt", "-n", "foo", "'a b'", '"q"', "git", "status"])
_op = st.sampled_from([" && ", " || ", "; ", " | "])
_bad = st.sampled_from([">", "<", "$(x)", "`x`", "$X", "&", "(", ")", "*", "\n", "{a,b}", "#"])


@given(st.lists(st.lists(_word, min_size=1, max_size=4), min_size=1, max_size=4), _op, _bad, st.data())
def test_any_shell_metacharacter_makes_a_script_unsafe(
    commands: list[list[str]], op: str, bad: str, data: st.DataObject
) -> None:
    script = op.join(" ".join(c) for c in commands)
    pos = data.draw(st.integers(0, len(script)))
    tainted = script[:pos] + " " + bad + " " + script[pos:]
    # Quoted metacharacters are literal (safe), except expansions inside double quotes.
    in_single = script[:pos].count("'") % 2 == 1
    in_double = script[:pos].count('"') % 2 == 1
    expands = bad[0] in "$`"
    if not in_single and (not in_double or expands):
        assert not is_known_safe_command(["bash", "-lc", tainted])
    else:
        assert is_known_safe_command(["bash", "-lc", tainted]) == is_known_safe_command(
            ["bash", "-lc", script]
        )


@given(st.lists(st.sampled_from(["ls", "pwd", "cat f", "git status", "echo 'x y'", "wc -l"]), min_size=1))
def test_chains_of_safe_commands_are_safe(parts: list[str]) -> None:
    assert is_known_safe_command(["bash", "-lc", " && ".join(parts)])
    assert is_known_safe_command(["bash", "-lc", " | ".join(parts)])


@given(st.lists(st.text(max_size=8), max_size=5))
def test_safety_check_never_crashes(argv: list[str]) -> None:
    is_known_safe_command(argv)
    is_known_safe_command(["bash", "-lc", " ".join(argv)])


# ---- the approval table ---------------------------------------------------------------------------

UNSAFE_CMD = ["touch", "x"]


def _assess(policy: str, sandbox: SandboxPolicy, escalated: bool, available: bool) -> object:
    return assess_command_safety(UNSAFE_CMD, policy, sandbox, set(), escalated, available)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("approval", "sandbox", "escalated", "available", "expected"),
    [
        # untrusted: always ask, whatever the sandbox
        *[("untrusted", sb, esc, av, AskUser()) for sb, esc, av in
          itertools.product((RO, WW, FULL), (False, True), (False, True))],
        # danger-full-access: auto, no sandbox
        *[(ap, FULL, esc, av, AutoApprove(run_sandboxed=False)) for ap, esc, av in
          itertools.product(("on-failure", "never", "on-request"), (False, True), (False, True))],
        # on-request
        ("on-request", RO, False, True, AutoApprove(run_sandboxed=True)),
        ("on-request", WW, False, True, AutoApprove(run_sandboxed=True)),
        ("on-request", WW, True, True, AskUser()),
        ("on-request", RO, False, False, AskUser()),
        ("on-request", WW, True, False, AskUser()),
        # never / on-failure
        ("never", WW, False, True, AutoApprove(run_sandboxed=True)),
        ("never", RO, True, True, AutoApprove(run_sandboxed=True)),
        ("on-failure", WW, False, True, AutoApprove(run_sandboxed=True)),
        ("on-failure", RO, False, False, AskUser()),
        ("never", RO, False, False, Reject(REJECT_NOT_TRUSTED)),
        ("never", WW, True, False, Reject(REJECT_NOT_TRUSTED)),
    ],
)  # fmt: skip
def test_command_table(approval: str, sandbox: SandboxPolicy, escalated: bool, available: bool,
                       expected: object) -> None:  # fmt: skip
    assert _assess(approval, sandbox, escalated, available) == expected


@pytest.mark.parametrize("approval", APPROVAL_POLICIES)
@pytest.mark.parametrize("sandbox", [RO, WW])
def test_known_safe_commands_run_in_the_sandbox_without_asking(approval: str, sandbox: SandboxPolicy) -> None:
    """ "Known safe" spares the question, never the sandbox."""
    for argv in (["ls"], ["git", "status"], ["bash", "-lc", "cat a | wc -l"]):
        got = assess_command_safety(argv, approval, sandbox, set(), False, True)  # type: ignore[arg-type]
        assert got == AutoApprove(run_sandboxed=True)
        # No sandbox here: ask (or reject under never), never run it bare.
        unavailable = assess_command_safety(argv, approval, sandbox, set(), False, False)  # type: ignore[arg-type]
        assert unavailable == (Reject(REJECT_NO_SANDBOX) if approval == "never" else AskUser())


def test_escalation_request_for_a_safe_command_is_asked() -> None:
    assert assess_command_safety(["ls"], "on-request", WW, set(), True, True) == AskUser()


def test_without_any_sandbox_git_is_not_known_safe() -> None:
    """Under danger-full-access git would run repository-configured programs unsandboxed."""
    assert assess_command_safety(["git", "status"], "untrusted", FULL, set(), False, True) == AskUser()
    assert assess_command_safety(["ls"], "untrusted", FULL, set(), False, True) == AutoApprove(False)
    assert is_known_safe_command(["git", "status"])
    assert not is_known_safe_command(["git", "status"], without_sandbox=True)
    assert not is_known_safe_command(["bash", "-lc", "ls && git log"], without_sandbox=True)


@pytest.mark.parametrize("approval", APPROVAL_POLICIES)
@pytest.mark.parametrize("sandbox", [RO, WW, FULL])
def test_session_approved_runs_unsandboxed(approval: str, sandbox: SandboxPolicy) -> None:
    for escalated, available in itertools.product((False, True), repeat=2):
        if sandbox.is_full_access:
            safe = assess_command_safety(["ls"], approval, sandbox, set(), escalated, available)  # type: ignore[arg-type]
            assert safe == AutoApprove(run_sandboxed=False)
        approved = assess_command_safety(
            UNSAFE_CMD,
            approval,  # type: ignore[arg-type]
            sandbox,
            {tuple(UNSAFE_CMD)},
            escalated,
            available,
        )
        assert approved == AutoApprove(run_sandboxed=False)


@given(st.sampled_from(APPROVAL_POLICIES), st.sampled_from([RO, WW]), st.booleans(), st.booleans())
def test_restricted_policy_never_runs_unknown_command_unsandboxed(
    approval: str, sandbox: SandboxPolicy, escalated: bool, available: bool
) -> None:
    result = _assess(approval, sandbox, escalated, available)
    assert result != AutoApprove(run_sandboxed=False)
    if not available:
        assert not isinstance(result, AutoApprove)


# ---- patch safety (judged by the session boundary) --------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "ws" / ".git" / "hooks").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return tmp_path / "ws"


NO_TMP = SandboxPolicy("workspace-write", (), False, True, True)


def _paths(ws: Path, *names: str) -> list[str]:
    return [os.path.realpath(os.path.join(ws, n)) for n in names]


def test_patch_empty(ws: Path) -> None:
    for ap in APPROVAL_POLICIES:
        assert assess_patch_safety([], ap, compute_boundary(WW, ws)) == Reject(REJECT_EMPTY_PATCH)


def test_patch_untrusted_asks(ws: Path) -> None:
    assert assess_patch_safety(_paths(ws, "a.txt"), "untrusted", compute_boundary(FULL, ws)) == AskUser()


@pytest.mark.parametrize("approval", ["on-request", "never", "on-failure"])
def test_patch_inside_workspace(ws: Path, approval: str) -> None:
    paths = _paths(ws, "a.txt", "sub/b.txt")
    boundary = compute_boundary(NO_TMP, ws)
    assert assess_patch_safety(paths, approval, boundary) == AutoApprove(run_sandboxed=True)  # type: ignore[arg-type]
    no_sandbox = assess_patch_safety(paths, approval, boundary, sandbox_available=False)  # type: ignore[arg-type]
    assert no_sandbox == AskUser()
    full = compute_boundary(FULL, ws)
    assert assess_patch_safety(paths, approval, full) == AutoApprove(run_sandboxed=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "target",
    ["../outside/x.txt", "/etc/passwd", ".git/config", ".git/hooks/pre-commit", "sub/../../outside/y",
     "link/escape.txt", ".codex/config.toml", ".agents/x"],
)  # fmt: skip
def test_patch_outside_workspace_is_asked_under_on_failure_too(ws: Path, target: str) -> None:
    (ws / "link").symlink_to(ws.parent / "outside")
    paths = _paths(ws, "ok.txt", target)
    boundary = compute_boundary(NO_TMP, ws)
    assert assess_patch_safety(paths, "on-request", boundary) == AskUser()
    assert assess_patch_safety(paths, "never", boundary) == Reject(REJECT_PATCH_OUTSIDE)
    assert assess_patch_safety(paths, "on-failure", boundary) == AskUser()


def test_patch_read_only_policy(ws: Path) -> None:
    boundary = compute_boundary(RO, ws)
    assert assess_patch_safety(_paths(ws, "a"), "on-request", boundary) == AskUser()
    assert assess_patch_safety(_paths(ws, "a"), "on-failure", boundary) == AskUser()
    assert assess_patch_safety(_paths(ws, "a"), "never", boundary) == Reject(REJECT_PATCH_OUTSIDE)


def test_patch_configured_roots(ws: Path) -> None:
    outside = ws.parent / "outside"
    target = [str(outside / "z.txt")]
    configured = SandboxPolicy("workspace-write", (str(outside),), False, True, True)
    assert assess_patch_safety(target, "never", compute_boundary(configured, ws)) == AutoApprove(True)
    assert assess_patch_safety(target, "never", compute_boundary(NO_TMP, ws)) == Reject(REJECT_PATCH_OUTSIDE)


def test_patch_protected_names_under_every_root_even_when_missing(ws: Path) -> None:
    """A workspace inside another writable root: `.git` is protected whichever root holds it,
    and `.git`, `.codex`, `.agents` may not be created by a patch either."""
    other = ws.parent / "outside"
    policy = SandboxPolicy("workspace-write", (str(ws.parent),), False, True, True)
    boundary = compute_boundary(policy, ws)
    for target in (
        ws / ".git" / "config",
        ws / ".git" / "hooks" / "pre-commit",
        ws.parent / ".git" / "config",
        ws.parent / ".codex" / "x",
        ws / ".agents",
    ):
        assert not patch_write_allowed(boundary, str(target)), target
    assert patch_write_allowed(boundary, str(other / "gitignore"))
    assert patch_write_allowed(boundary, str(other / ".git" / "config")), (
        "a nested repository is not protected"
    )


def test_patch_tmp_roots(ws: Path) -> None:
    env = {"TMPDIR": str(ws.parent / "outside")}
    pol = SandboxPolicy("workspace-write")
    boundary = compute_boundary(pol, ws, env=env)
    assert assess_patch_safety(["/tmp/x"], "never", boundary) == AutoApprove(run_sandboxed=True)
    got = assess_patch_safety([str(ws.parent / "outside" / "t")], "never", boundary)
    assert got == AutoApprove(run_sandboxed=True)
    no_tmp = compute_boundary(NO_TMP, ws, env=env)
    assert assess_patch_safety(["/tmp/x"], "never", no_tmp) == Reject(REJECT_PATCH_OUTSIDE)


# ---- denial heuristic and classification -------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "code", "out", "err", "expected"),
    [
        (WW, 1, "", "touch: cannot touch 'x': Permission denied", True),
        (WW, 1, "", "bash: x: Read-only file system", True),
        (WW, 1, "Operation not permitted", "", True),
        (WW, 2, "", "Landlock says no", True),
        (WW, 0, "", "permission denied", False),
        (FULL, 1, "", "permission denied", False),
        (WW, 2, "", "usage: foo", False),
        (WW, 126, "", "", False),
        (WW, 127, "", "command not found", False),
        (WW, 159, "", "", True),
        (WW, -31, "", "", True),
        (WW, 1, "", "boom", False),
        (WW, 7, "", "curl: (7) Couldn't connect to server", True),
        (WW, 6, "", "curl: (6) Could not resolve host: example.com", True),
        (SandboxPolicy("workspace-write", network_access=True), 7, "", "Couldn't connect to server", False),
        (RO, 1, "", "socket.gaierror: [Errno -3] Temporary failure in name resolution", True),
        (RO, 1, "", "OSError: [Errno 101] Network is unreachable", True),
    ],
)
def test_is_likely_sandbox_denied(
    policy: SandboxPolicy, code: int, out: str, err: str, expected: bool
) -> None:
    assert is_likely_sandbox_denied(policy, code, out, err) is expected


def test_not_sandboxed_is_never_denied() -> None:
    assert not is_likely_sandbox_denied(WW, 1, "", "permission denied", sandboxed=False)


def test_classify_result() -> None:
    ran = '{ "child-pid": 5 }\n{ "exit-code": 1 }\n'
    not_ran = '{ "child-pid": 5 }'
    assert classify_result("bwrap", 0, "") == "ok"
    assert (
        classify_result("bwrap", 1, "bwrap: Can't chdir to /x: No such file", bwrap_status=not_ran)
        == "setup_error"
    )
    assert (
        classify_result("bwrap", 1, "bwrap: Creating new namespace failed: Operation not permitted")
        == "setup_error"
    )
    assert classify_result("bwrap", 1, "bwrap: something the command printed", bwrap_status=ran) == "failed"
    assert (
        classify_result("bwrap", 1, "x: Read-only file system", bwrap_status=ran, policy=WW) == "maybe_denied"
    )
    assert classify_result(
        "landlock", 121, "codex-mcp-sandbox: failed to apply sandbox, refusing to run: x"
    ) == ("setup_error")
    assert classify_result("landlock", 121, "the command itself exited 121") == "failed"
    assert classify_result("landlock", 1, "Permission denied", policy=WW) == "maybe_denied"
    assert classify_result("none", 1, "Permission denied", policy=WW) == "failed"
    assert bwrap_status_has_exit_code('{"child-pid": 1}{"exit-code": 0}')
    assert not bwrap_status_has_exit_code("")


# ---- running an approved command outside the sandbox ---------------------------------------------------


def test_harden_unsandboxed_drops_writable_path_entries_and_startup_files(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "bin").mkdir(parents=True)
    (ws / "home").mkdir()
    boundary = compute_boundary(NO_TMP, ws)
    env = {"PATH": f"{ws}/bin:bin::/usr/bin:/bin", "HOME": str(ws / "home"), "BASH_ENV": "env.sh"}
    out = harden_unsandboxed(["bash", "-lc", "ls"], env, str(ws), boundary)
    assert out.env["PATH"] == "/usr/bin:/bin"
    assert out.argv[0] in ("/usr/bin/bash", "/bin/bash")
    assert out.argv[1:] == ["--noprofile", "--norc", "-c", "ls"]
    assert "BASH_ENV" not in out.env
    assert len(out.notes) == 3
    zsh = harden_unsandboxed(["/bin/zsh", "-o", "pipefail", "--login", "-ilc", "x"], env, str(ws), boundary)
    assert zsh.argv == ["/bin/zsh", "-f", "-o", "pipefail", "-c", "x"]


def test_harden_unsandboxed_leaves_commands_alone_when_nothing_is_writable(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    out = harden_unsandboxed(["bash", "-lc", "ls"], env, str(ws), compute_boundary(NO_TMP, ws))
    assert out.argv[1:] == ["-lc", "ls"] and out.notes == []
    full = harden_unsandboxed(["wc"], {"PATH": f"{ws}"}, str(ws), compute_boundary(FULL, ws))
    assert full.argv == ["wc"] and full.env == {"PATH": f"{ws}"}


def test_harden_unsandboxed_refuses_a_program_only_found_in_the_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "bin").mkdir(parents=True)
    tool = ws / "bin" / "only-here"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    with pytest.raises(UnsandboxedRefused, match="only-here"):
        harden_unsandboxed(["only-here"], {"PATH": f"{ws}/bin"}, str(ws), compute_boundary(NO_TMP, ws))
