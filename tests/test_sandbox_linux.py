"""Real commands through `prepare_command` on Linux, for both the bwrap and the Landlock backend.

Every test spawns actual processes; nothing of ours is mocked.  Network tests only talk to
listeners the test itself opens on 127.0.0.1 / ::1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from codex_mcp.sandbox import seccomp
from codex_mcp.sandbox.boundary import Boundary, compute_boundary, protected_paths
from codex_mcp.sandbox.bwrap import BwrapVariant, build_bwrap_argv
from codex_mcp.sandbox.classify import classify_result
from codex_mcp.sandbox.landlock import probe as landlock_probe
from codex_mcp.sandbox.launcher import LAUNCHER_EXIT_CODE, LAUNCHER_MARKER, launcher_argv, launcher_policy
from codex_mcp.sandbox.policy import SandboxPolicy
from codex_mcp.sandbox.select import (
    BACKEND_ENV_VAR,
    SandboxUnavailableError,
    prepare_command,
    probe_backends,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.sandbox,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox backends"),
]

HAVE_BWRAP = shutil.which("bwrap") is not None
IN_CI = bool(os.environ.get("CI"))
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP and not IN_CI, reason="bwrap not installed (required in CI)")
needs_landlock = pytest.mark.skipif(landlock_probe()[0] < 1, reason="Landlock unavailable on this kernel")

BACKENDS = [
    pytest.param("bwrap", marks=needs_bwrap, id="bwrap"),
    pytest.param("landlock", marks=needs_landlock, id="landlock"),
]
PY = sys.executable


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with a .git dir and an outside sibling.  Policies below exclude /tmp and
    $TMPDIR, so the outside dir (also under the temp dir) is not writable."""
    (tmp_path / "ws" / ".git").mkdir(parents=True)
    (tmp_path / "ws" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "outside").mkdir()
    return tmp_path / "ws"


WW = SandboxPolicy("workspace-write", (), False, True, True)
WW_NET = SandboxPolicy("workspace-write", (), True, True, True)
RO = SandboxPolicy("read-only")


def run(
    backend: str, policy: SandboxPolicy, cwd: Path, argv: list[str], env: dict[str, str] | None = None
) -> tuple[int, str, str, str]:
    """Run through prepare_command; returns (rc, stdout, stderr, classification)."""
    boundary = compute_boundary(policy, str(cwd), env=env or dict(os.environ))
    prepared = prepare_command(argv, boundary, str(cwd), env or dict(os.environ), backend=backend)  # type: ignore[arg-type]
    assert prepared.backend == backend
    try:
        proc = subprocess.run(
            prepared.argv, env=prepared.env, cwd=prepared.cwd, pass_fds=prepared.pass_fds,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        prepared.after_spawn()
        status = prepared.read_status()
    finally:
        prepared.close()
    kind = classify_result(
        backend, proc.returncode, proc.stderr, stdout=proc.stdout, policy=policy, bwrap_status=status
    )
    return proc.returncode, proc.stdout, proc.stderr, kind


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


# ---- filesystem -------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_write_inside_allowed_outside_blocked(backend: str, ws: Path) -> None:
    outside = ws.parent / "outside" / "o.txt"
    rc, _, err, kind = run(
        backend, WW, ws, sh(f"echo in > in.txt && mkdir d && echo x > d/f; echo out > '{outside}'")
    )
    assert (ws / "in.txt").read_text() == "in\n" and (ws / "d" / "f").exists()
    assert not outside.exists()
    assert rc != 0 and ("Read-only file system" in err or "Permission denied" in err), err
    assert kind == "maybe_denied"


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_only_blocks_all_writes_but_reads_work(backend: str, ws: Path) -> None:
    (ws / "existing.txt").write_text("data")
    rc, out, _, _ = run(
        backend, RO, ws, sh("echo ok > /dev/null && cat existing.txt; echo > new.txt; echo > existing.txt")
    )
    assert out == "data" and not (ws / "new.txt").exists() and (ws / "existing.txt").read_text() == "data"
    assert rc != 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncate_and_unlink_outside_blocked(backend: str, ws: Path) -> None:
    victim = ws.parent / "outside" / "victim.txt"
    victim.write_text("keep")
    v = str(victim)
    code = (
        f"import os\nfor f in (lambda: os.truncate({v!r}, 0), lambda: os.unlink({v!r})):\n"
        "    try: f(); print('done')\n    except OSError as e: print(e.errno)\n"
    )
    _, out, err, _ = run(backend, WW, ws, [PY, "-c", code])
    assert "done" not in out, out + err
    assert victim.read_text() == "keep"


@pytest.mark.parametrize("backend", BACKENDS)
def test_symlink_out_of_workspace_blocked(backend: str, ws: Path) -> None:
    (ws / "link").symlink_to(ws.parent / "outside")
    run(backend, WW, ws, sh("echo escaped > link/escape.txt; ln -s ../outside link2; echo x > link2/e2.txt"))
    assert not (ws.parent / "outside" / "escape.txt").exists()
    assert not (ws.parent / "outside" / "e2.txt").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_git_dir_read_only(backend: str, ws: Path) -> None:
    _, _, err, _ = run(
        backend, WW, ws, sh("echo evil > .git/HEAD; touch .git/new; mv .git gone; echo ok > fine.txt")
    )
    assert (ws / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (ws / ".git" / "new").exists() and (ws / ".git").is_dir()
    assert (ws / "fine.txt").exists() and "Read-only file system" in err


def _run_prepared(backend: str, boundary: Boundary, ws: Path) -> subprocess.CompletedProcess[str]:
    prepared = prepare_command(sh("echo ran"), boundary, str(ws), dict(os.environ), backend=backend)  # type: ignore[arg-type]
    try:
        proc = subprocess.run(
            prepared.argv, env=prepared.env, cwd=prepared.cwd, pass_fds=prepared.pass_fds,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        prepared.after_spawn()
    finally:
        prepared.close()
    return proc


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_protected_name_removed_before_the_mount_is_skipped(backend: str, ws: Path) -> None:
    """Another process removes `.git` between the boundary and the command's start: the
    command runs as if `.git` had been missing (no setup failure another session could
    provoke at will); a CODEX_HOME removed the same way still fails closed."""
    home = ws.parent / "codex-home"
    home.mkdir()
    boundary = compute_boundary(WW, str(ws), codex_home=home, env=dict(os.environ))
    assert str(ws / ".git") in boundary.read_only_paths
    shutil.rmtree(ws / ".git")
    proc = _run_prepared(backend, boundary, ws)
    assert (proc.returncode, proc.stdout) == (0, "ran\n"), proc.stderr
    home.rmdir()
    proc = _run_prepared(backend, boundary, ws)
    assert proc.returncode != 0 and "ran" not in proc.stdout


@needs_bwrap
def test_gitdir_file_target_protected(ws: Path) -> None:
    real_git = ws.parent / "outside" / "real-gitdir"
    real_git.mkdir()
    shutil.rmtree(ws / ".git")
    (ws / ".git").write_text(f"gitdir: {real_git}\n")
    extra = SandboxPolicy("workspace-write", (str(real_git.parent),), False, True, True)
    assert str(real_git) in protected_paths([str(ws), str(real_git.parent)])
    run("bwrap", extra, ws, sh("echo evil > .git; touch '" + str(real_git) + "/x'; touch ../outside/ok"))
    assert (ws / ".git").read_text().startswith("gitdir:")
    assert not (real_git / "x").exists() and (ws.parent / "outside" / "ok").exists()


@needs_landlock
def test_landlock_protects_git_with_read_only_mounts(ws: Path) -> None:
    """Landlock rules are additive, so the launcher re-binds `.git` read-only in the command's
    mount namespace (this used to be a documented gap of the Landlock backend)."""
    _, _, err, _ = run("landlock", WW, ws, sh("touch .git/new; rm -rf .git; echo x > .git/HEAD"))
    assert not (ws / ".git" / "new").exists()
    assert (ws / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert "Read-only file system" in err


@pytest.mark.parametrize("backend", BACKENDS)
def test_extra_writable_root_and_tmp(backend: str, ws: Path) -> None:
    extra = ws.parent / "outside"
    tmpdir = ws.parent / "tmpdir"
    tmpdir.mkdir()
    pol = SandboxPolicy("workspace-write", (str(extra),), False, False, True)
    env = dict(os.environ, TMPDIR=str(tmpdir))
    rc, _, err, _ = run(backend, pol, ws, sh(f"echo a > '{extra}/a' && echo t > \"$TMPDIR/t\""), env=env)
    assert rc == 0, err
    assert (extra / "a").exists() and (tmpdir / "t").exists()


# ---- network ------------------------------------------------------------------------------------------


@contextmanager
def listeners() -> Iterator[dict[str, socket.socket]]:
    socks: dict[str, socket.socket] = {}
    try:
        for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            try:
                tcp = socket.socket(fam, socket.SOCK_STREAM)
                udp = socket.socket(fam, socket.SOCK_DGRAM)
            except OSError:
                continue
            for s in (tcp, udp):
                s.bind((host, 0))
            tcp.listen(8)
            tcp.setblocking(False)
            udp.setblocking(False)
            socks[f"tcp-{host}"] = tcp
            socks[f"udp-{host}"] = udp
        yield socks
    finally:
        for s in socks.values():
            s.close()


NET_PROBE = """
import socket, sys
results = []
for spec in sys.argv[1:]:
    kind, host, port = spec.split(",")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        if kind == "tcp":
            s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(3); s.connect((host, int(port)))
            s.sendall(b"leak")
        else:
            s = socket.socket(fam, socket.SOCK_DGRAM); s.sendto(b"leak", (host, int(port)))
        results.append(kind + host + "=connected")
    except OSError as e:
        results.append(kind + host + "=" + str(e.errno))
print(" ".join(results))
"""


def _probe_network(backend: str, policy: SandboxPolicy, ws: Path) -> tuple[str, dict[str, bool]]:
    with listeners() as socks:
        specs = [
            f"{name.split('-')[0]},{s.getsockname()[0]},{s.getsockname()[1]}" for name, s in socks.items()
        ]
        _, out, err, _ = run(backend, policy, ws, [PY, "-c", NET_PROBE, *specs])
        reached: dict[str, bool] = {}
        for name, s in socks.items():
            try:
                if name.startswith("tcp"):
                    conn, _ = s.accept()
                    conn.close()
                else:
                    s.recv(16)
                reached[name] = True
            except BlockingIOError:
                reached[name] = False
    return out + err, reached


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_blocked_tcp_udp_v4_v6(backend: str, ws: Path) -> None:
    out, reached = _probe_network(backend, WW, ws)
    assert reached and not any(reached.values()), (reached, out)
    assert "connected" not in out


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_allowed_when_policy_grants_it(backend: str, ws: Path) -> None:
    out, reached = _probe_network(backend, WW_NET, ws)
    assert reached and all(reached.values()), (reached, out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unix_socketpair_works_and_env_marker_set(backend: str, ws: Path) -> None:
    code = (
        "import os, socket\n"
        "a, b = socket.socketpair()\n"
        "os.write(a.fileno(), b'ping'); print(os.read(b.fileno(), 4).decode())\n"
        "print(os.environ.get('CODEX_SANDBOX_NETWORK_DISABLED'))\n"
    )
    rc, out, err, kind = run(backend, WW, ws, [PY, "-c", code])
    assert rc == 0 and out.split() == ["ping", "1"], err
    assert kind == "ok"


@pytest.mark.parametrize("backend", BACKENDS)
def test_no_new_privs_and_seccomp_active(backend: str, ws: Path) -> None:
    rc, out, _, _ = run(backend, WW, ws, ["grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"])
    assert rc == 0
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"


# ---- fail closed and setup errors -------------------------------------------------------------------


def test_forced_unavailable_backend_raises_and_never_runs(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV_VAR, "none-available")
    marker = ws / "ran.txt"
    for policy in (WW, RO, WW_NET):
        with pytest.raises(SandboxUnavailableError):
            prepare_command(
                ["touch", str(marker)], compute_boundary(policy, str(ws)), str(ws), dict(os.environ)
            )
    assert not marker.exists()
    # danger-full-access does not need a sandbox, so it still runs.
    assert (
        prepare_command(
            ["true"], compute_boundary(SandboxPolicy("danger-full-access"), str(ws)), str(ws), {}
        ).backend
        == "none"
    )


def test_env_cannot_select_unsandboxed(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("none", "off", "disabled"):
        monkeypatch.setenv(BACKEND_ENV_VAR, value)
        with pytest.raises(SandboxUnavailableError):
            prepare_command(["true"], compute_boundary(WW, str(ws)), str(ws), {})


def test_missing_bwrap_binary_fails_closed(ws: Path) -> None:
    with pytest.raises(SandboxUnavailableError, match="not found"):
        prepare_command(
            ["true"],
            compute_boundary(WW, str(ws)),
            str(ws),
            {},
            backend="bwrap",
            bwrap_path=str(ws / "no-such-bwrap"),
        )
    report = probe_backends(bwrap_path=str(ws / "no-such-bwrap"))
    assert report.bwrap is not None and not report.bwrap.available


@pytest.mark.parametrize("backend", BACKENDS)
def test_env_var_forces_backend(backend: str, ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV_VAR, backend)
    prepared = prepare_command(["true"], compute_boundary(WW, str(ws)), str(ws), {})
    prepared.close()
    assert prepared.backend == backend


@needs_bwrap
def test_bwrap_setup_error_is_classified(ws: Path) -> None:
    prepared = prepare_command(
        ["true"], compute_boundary(WW, str(ws)), str(ws), dict(os.environ), backend="bwrap"
    )
    argv = list(prepared.argv)
    argv[argv.index("--chdir") + 1] = str(ws / "gone")  # bwrap cannot chdir: a setup failure
    try:
        proc = subprocess.run(
            argv, env=prepared.env, pass_fds=prepared.pass_fds, capture_output=True, text=True,
            check=False, timeout=20,
        )  # fmt: skip
        prepared.after_spawn()
        status = prepared.read_status()
    finally:
        prepared.close()
    assert proc.returncode == 1 and "bwrap: " in proc.stderr
    assert (
        classify_result("bwrap", proc.returncode, proc.stderr, bwrap_status=status, policy=WW)
        == "setup_error"
    )
    # A command that itself prints a bwrap-looking line and exits 1 is a plain failure.
    rc, _, _, kind = run("bwrap", WW, ws, sh("echo 'bwrap: fake' >&2; exit 1"))
    assert rc == 1 and kind == "failed"


@needs_bwrap
@needs_landlock
def test_launcher_refuses_when_landlock_is_unavailable(ws: Path) -> None:
    """Simulate a Docker-like host (Landlock -> ENOSYS) with an outer seccomp filter."""
    import errno

    fd = seccomp.filter_memfd(seccomp.build_errno_filter({444: errno.ENOSYS, 445: errno.ENOSYS}))
    marker = ws / "ran.txt"
    inner = launcher_argv(launcher_policy([str(ws)], False), ["touch", str(marker)])
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--add-seccomp-fd", str(fd), "--", *inner]
    try:
        proc = subprocess.run(argv, pass_fds=(fd,), capture_output=True, text=True, check=False, timeout=20)
    finally:
        os.close(fd)
    assert proc.returncode == LAUNCHER_EXIT_CODE, proc.stderr
    assert proc.stderr.startswith(LAUNCHER_MARKER) and "ENOSYS" in proc.stderr
    assert not marker.exists()
    assert classify_result("landlock", proc.returncode, proc.stderr) == "setup_error"


@needs_landlock
def test_launcher_rejects_bad_arguments(ws: Path) -> None:
    argv = launcher_argv("{not json", ["true"])
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=20)
    assert proc.returncode == LAUNCHER_EXIT_CODE and LAUNCHER_MARKER in proc.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_command_not_found_is_not_a_setup_error(backend: str, ws: Path) -> None:
    rc, _, err, kind = run(backend, WW, ws, ["definitely-not-a-command-xyz"])
    assert rc != 0 and kind == "failed", (rc, err)


@pytest.mark.parametrize("backend", BACKENDS)
def test_launcher_ignores_workspace_module_shadowing(backend: str, ws: Path) -> None:
    """Files in the (writable) cwd must not be importable by the launcher before it restricts."""
    for name in ("ctypes.py", "json.py", "codex_mcp.py"):
        (ws / name).write_text(f"open({str(ws.parent / 'outside' / 'pwned')!r}, 'w')\n")
    rc, _, err, _ = run(backend, WW, ws, ["true"])
    assert rc == 0, err
    assert not (ws.parent / "outside" / "pwned").exists()


def test_bwrap_argv_layout() -> None:
    argv = build_bwrap_argv(
        ["ls"], cwd="/w", writable_roots=["/w/sub", "/w"], network_access=False, seccomp_fd=5, status_fd=6,
        variant=BwrapVariant(unshare_user=True, mount_proc=False), bwrap_path="/usr/bin/bwrap",
    )  # fmt: skip
    text = " ".join(argv)
    assert argv[:4] == ["/usr/bin/bwrap", "--new-session", "--die-with-parent", "--unshare-user"]
    assert text.index("--ro-bind / /") < text.index("--bind /w /w") < text.index("--bind /w/sub /w/sub")
    assert "--unshare-net" in argv and "--proc" not in argv and "--unshare-pid" in argv
    assert "--add-seccomp-fd 5" in text and "--json-status-fd 6" in text
    assert "--setenv CODEX_SANDBOX_NETWORK_DISABLED 1" in text
    assert argv[-4:] == ["--chdir", "/w", "--", "ls"]
    net = build_bwrap_argv(["ls"], cwd="/", writable_roots=[], network_access=True)
    assert "--unshare-net" not in net and "--proc /proc --remount-ro /proc" in " ".join(net)
    assert "--bind" not in net
    everywhere = build_bwrap_argv(["ls"], cwd="/", writable_roots=["/", "/w"], network_access=False)
    assert everywhere[5:8] == ["--bind", "/", "/"] and everywhere.count("--bind") == 2
    # Capabilities are always dropped; root without a user namespace also runs setpriv.
    assert everywhere[3:5] == ["--cap-drop", "ALL"]
    priv = build_bwrap_argv(["ls"], cwd="/", writable_roots=[], network_access=False,
                            variant=BwrapVariant(setpriv="/usr/bin/setpriv"))  # fmt: skip
    assert "--cap-add CAP_SETPCAP" in " ".join(priv)
    assert priv[-7:] == ["/usr/bin/setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--", "ls"]


@needs_bwrap
def test_write_everywhere_without_network(ws: Path) -> None:
    """A permission profile writing everywhere but without network still blocks the network."""
    pol = SandboxPolicy("workspace-write", ("/",), False, True, True)
    target = ws.parent / "outside" / "ok.txt"
    rc, out, err, _ = run("bwrap", pol, ws, sh(f"echo x > '{target}' && echo y > /dev/null && ls /dev/null"))
    assert rc == 0 and target.exists(), err
    out, reached = _probe_network("bwrap", pol, ws)
    assert not any(reached.values()), out


def test_seccomp_filter_shape() -> None:
    for arch in ("x86_64", "aarch64"):
        prog = seccomp.build_filter(arch)
        assert len(prog) % 8 == 0 and len(prog) // 8 < 64
        gate = seccomp.build_filter(arch, mode="gate")
        assert len(gate) < len(prog)
    with pytest.raises(seccomp.SeccompError):
        seccomp.build_filter("mips")


def test_a_killed_bwrap_is_not_a_setup_error() -> None:
    """Timeouts and cancellation kill bwrap before it writes an exit-code: still a command
    that ran, not a sandbox that could not be set up."""
    status = '{"child-pid": 12}'
    assert classify_result("bwrap", 124, "", bwrap_status=status, policy=WW) == "failed"
    assert classify_result("bwrap", 137, "", bwrap_status=status) == "failed"
    assert classify_result("bwrap", 1, "bwrap: Can't chdir to /x\n", bwrap_status=status) == "setup_error"


@needs_bwrap
def test_only_prepared_bwrap_command_lines_skip_the_keeper(ws: Path) -> None:
    """run_exec spawns a bwrap argv directly only while `prepare_command` holds it: bwrap's
    PID namespace and --die-with-parent then do the keeper's job.  Anything else (a copy
    after close, a look-alike) goes through a keeper."""
    from codex_mcp.sandbox.select import is_self_contained

    prepared = prepare_command(["true"], compute_boundary(WW, str(ws)), str(ws), {}, backend="bwrap")
    argv = list(prepared.argv)
    assert is_self_contained(argv)
    assert not is_self_contained([*argv[:-1], "false"])
    prepared.close()
    prepared.close()
    assert not is_self_contained(argv)
