"""The exec'd sandbox launcher of the Landlock backend, and how to start the sandbox helpers.

    python -I -S -X utf8 -c BOOTSTRAP <sandbox dir> launcher --policy '<json>' -- argv...

runs `argv` in the container described by `<json>` (`container.Policy`): its own PID, mount
and IPC namespaces (plus a user namespace when not root) where the kernel allows, every
mount read-only except the writable roots, the read-only carve-outs re-bound read-only, no
capabilities, no_new_privs, the seccomp filter and Landlock.  The launcher is the keeper of
that container (`keeper.supervise`): it forwards SIGTERM/SIGINT/SIGHUP, exits with the
command's status once the command has ended, and nothing the command started survives it.
If any step fails it prints a line starting with `LAUNCHER_MARKER` to stderr and exits with
`LAUNCHER_EXIT_CODE` without running anything.

`BOOTSTRAP` loads modules from this directory under stub `codex_mcp` packages, so that
start-up imports only what the sandbox needs and files in the (model-writable) working
directory can never shadow a module imported before the sandbox is in place.  The fork
server (`forkserver.py`) is started the same way; `run_exec` recognises a launcher argv
(`parse_launcher_argv`) and runs the same container from the fork server instead of paying
for a new interpreter per command.
"""

from __future__ import annotations

import os
import sys

from codex_mcp.sandbox.container import (
    ISOLATION_NONE,
    LAUNCHER_EXIT_CODE,
    LAUNCHER_MARKER,
    ContainerJob,
    Policy,
    refuse,
)

TYPE_CHECKING = False  # start-up stays free of `typing` (mypy still sees it)
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "BOOTSTRAP",
    "LAUNCHER_EXIT_CODE",
    "LAUNCHER_MARKER",
    "SANDBOX_DIR",
    "TERMINAL_HELPER",
    "helper_argv",
    "launcher_argv",
    "launcher_policy",
    "main",
    "parse_launcher_argv",
    "terminal_argv",
]

SANDBOX_DIR = os.path.dirname(os.path.abspath(__file__))
BOOTSTRAP = (
    "import sys\n"
    "d = sys.argv.pop(1); n = sys.argv.pop(1); M = type(sys)\n"
    "for k, p in (('codex_mcp', d[: d.rindex('/')]), ('codex_mcp.sandbox', d)):\n"
    "    m = sys.modules[k] = M(k); m.__path__ = [p]\n"
    "sys.exit(__import__('codex_mcp.sandbox.' + n, fromlist=['main']).main(sys.argv[1:]))\n"
)
_PREFIX = ["-I", "-S", "-X", "utf8", "-c", BOOTSTRAP, SANDBOX_DIR]


def helper_argv(module: str, args: Sequence[str], python: str | None = None) -> list[str]:
    """Run `codex_mcp.sandbox.<module>.main(args)` in a fresh, isolated interpreter."""
    return [python or sys.executable, *_PREFIX, module, *args]


def launcher_policy(
    writable_roots: Sequence[str],
    network_access: bool,
    read_only_paths: Sequence[str] = (),
    *,
    readable_roots: Sequence[str] | None = None,
    isolation: str = ISOLATION_NONE,
    pinned_paths: Sequence[str] = (),
    hidden_paths: Sequence[str] = (),
    network_proxy: tuple[int, int] | None = None,
) -> str:
    return Policy(
        list(writable_roots),
        network_access,
        list(read_only_paths),
        None if readable_roots is None else list(readable_roots),
        isolation,
        list(pinned_paths),
        list(hidden_paths),
        network_proxy,
    ).to_json()


def launcher_argv(policy_json: str, command: Sequence[str], python: str | None = None) -> list[str]:
    """The argv that runs `command` under the launcher."""
    return helper_argv("launcher", ["--policy", policy_json, "--", *command], python)


# Run inside a sandbox with a terminal on stdin: become the leader of a new session (bwrap
# runs the command as pid 2 in the session of its pid 1; a session leader already is one),
# take the terminal as the controlling terminal, so that Ctrl-C typed into it reaches the
# command's process group, then become the command.  Standard library only, no site, no
# environment: the sandbox's files cannot change what runs here.
TERMINAL_HELPER = (
    "import fcntl, os, sys, termios\n"
    "try:\n"
    "    os.setsid()\n"
    "except OSError:\n"
    "    pass\n"
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0)\n"
    "a = sys.argv[1:]\n"
    "try:\n"
    "    os.execvp(a[0], a)\n"
    "except OSError as e:\n"
    "    missing = isinstance(e, FileNotFoundError)\n"
    "    why = 'command not found' if missing else str(e.strerror)\n"
    "    os.write(2, (a[0] + ': ' + why + '\\n').encode())\n"
    "    os._exit(127 if missing else 126)\n"
)


def terminal_argv(command: Sequence[str], python: str | None = None) -> list[str]:
    """`command`, started through `TERMINAL_HELPER` (see there)."""
    return [python or sys.executable, "-I", "-S", "-c", TERMINAL_HELPER, *command]


def parse_launcher_argv(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """(policy JSON, command) if `argv` is exactly a `launcher_argv`, else None."""
    n = len(_PREFIX)
    if (
        len(argv) >= n + 5
        and list(argv[1 : n + 1]) == _PREFIX
        and argv[n + 1] == "launcher"
        and argv[n + 2] == "--policy"
        and argv[n + 4] == "--"
    ):
        return argv[n + 3], list(argv[n + 5 :])
    return None


def _parse(args: Sequence[str]) -> tuple[Policy, list[str]]:
    if len(args) < 3 or args[0] != "--policy" or args[2] != "--":
        raise ValueError("usage: launcher --policy <json> -- argv...")
    policy = Policy.from_json(args[1])
    command = list(args[3:])
    if not command:
        raise ValueError("no command given")
    return policy, command


def _exit_code(status: int | None) -> int:
    """Our exit status mirrors the command's: the same code, or death by the same signal."""
    if status is None:
        return LAUNCHER_EXIT_CODE
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return code
    import signal

    sig = -code
    try:
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
    except (OSError, ValueError):
        pass
    return 128 + sig


def main(args: Sequence[str] | None = None) -> int:
    """Run the command in the container; return its exit code (or the refusal code)."""
    if args is None:
        args = sys.argv[1:]
    if list(args[:1]) == ["--probe"]:
        import json

        from codex_mcp.sandbox.isolation import probe_isolation

        sys.stdout.write(json.dumps(probe_isolation()) + "\n")
        return 0
    try:
        policy, command = _parse(args)
    except ValueError as exc:
        return refuse(f"bad arguments: {exc}")
    from codex_mcp.sandbox import keeper, procs

    try:
        procs.set_pdeathsig(9)  # SIGKILL when whoever started us dies; init follows us
        procs.set_dumpable(False)
        cwd = os.getcwd()
        env = dict(os.environ)
        job: keeper.Job
        if policy.isolation == ISOLATION_NONE:
            job = keeper.PlainJob(command, env, restrict=policy)
        else:
            job = ContainerJob(policy, command, env, cwd)
    except Exception as exc:
        return refuse(str(exc) or type(exc).__name__)
    keeper.release_stdio([])
    return _exit_code(keeper.supervise(job, None))


if __name__ == "__main__":
    sys.exit(main())
