"""The exec'd sandbox launcher: restrict this process, then exec the command.

    python -I -S -m codex_mcp.sandbox.launcher --policy '<json>' -- argv...

`<json>` is `{"writable_roots": [abs paths], "network_access": bool}` (see `launcher_policy`).
Steps: no_new_privs; the seccomp network filter when the network is off; Landlock (read
everywhere, write only under the writable roots); `CODEX_SANDBOX_NETWORK_DISABLED=1` when the
network is off; `execvp`.  If any step fails the launcher prints a line starting with
`LAUNCHER_MARKER` to stderr and exits with `LAUNCHER_EXIT_CODE` without running anything.

`prepare_command` starts it with `-I -S -c <bootstrap>` instead of `-m`, so that files in the
(model-writable) working directory can never shadow a module imported before the sandbox is
in place, and so that start-up does not import the whole package (see `BOOTSTRAP`).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from types import ModuleType

LAUNCHER_EXIT_CODE = 121
LAUNCHER_MARKER = "codex-mcp-sandbox: failed to apply sandbox, refusing to run:"
_HERE = os.path.dirname(os.path.abspath(__file__))

# Run as `python -I -S -c BOOTSTRAP <this file> --policy ... -- argv`.  The file is loaded by
# path, outside the `codex_mcp` package, so start-up imports only what the launcher needs.
BOOTSTRAP = (
    "import sys; p = sys.argv.pop(1); g = {'__name__': '_codex_mcp_sandbox_launcher', '__file__': p}; "
    "exec(compile(open(p, 'rb').read(), p, 'exec'), g); sys.exit(g['main'](sys.argv[1:]))"
)


def launcher_policy(
    writable_roots: Sequence[str], network_access: bool, read_only_paths: Sequence[str] = ()
) -> str:
    return json.dumps(
        {
            "writable_roots": list(writable_roots),
            "network_access": network_access,
            "read_only_paths": list(read_only_paths),
        }
    )


def launcher_argv(policy_json: str, command: Sequence[str], python: str | None = None) -> list[str]:
    """The argv that runs `command` under the launcher."""
    exe = python or sys.executable
    script = os.path.join(_HERE, "launcher.py")
    return [exe, "-I", "-S", "-c", BOOTSTRAP, script, "--policy", policy_json, "--", *command]


def _load_sibling(name: str) -> ModuleType:
    """`landlock` / `seccomp`: from the package when imported normally, else by file path
    (cheaper than importlib.util, which matters for every sandboxed command)."""
    if __package__:
        return importlib.import_module(f"{__package__}.{name}")
    path = os.path.join(_HERE, name + ".py")
    module = ModuleType(f"_codex_mcp_sandbox_{name}")
    module.__file__ = path
    sys.modules[module.__name__] = module
    with open(path, "rb") as fh:
        exec(compile(fh.read(), path, "exec"), module.__dict__)
    return module


def _refuse(detail: str) -> int:
    try:
        sys.stderr.write(f"{LAUNCHER_MARKER} {detail}\n")
        sys.stderr.flush()
    except OSError:
        pass
    return LAUNCHER_EXIT_CODE


def _parse(args: Sequence[str]) -> tuple[list[str], bool, list[str]]:
    if len(args) < 3 or args[0] != "--policy" or args[2] != "--":
        raise ValueError("usage: launcher --policy <json> -- argv...")
    doc = json.loads(args[1])
    if not isinstance(doc, dict):
        raise ValueError("policy must be a JSON object")
    roots = doc.get("writable_roots", [])
    network = doc.get("network_access", False)
    if not isinstance(roots, list) or not all(isinstance(r, str) and r.startswith("/") for r in roots):
        raise ValueError("writable_roots must be a list of absolute paths")
    if not isinstance(network, bool):
        raise ValueError("network_access must be a boolean")
    command = list(args[3:])
    if not command:
        raise ValueError("no command given")
    return roots, network, command


def main(args: Sequence[str] | None = None) -> int:
    """Apply the sandbox and exec; returns only on failure."""
    if args is None:
        args = sys.argv[1:]
    try:
        roots, network, command = _parse(args)
    except ValueError as exc:
        return _refuse(f"bad arguments: {exc}")
    try:
        seccomp = _load_sibling("seccomp")
        landlock = _load_sibling("landlock")
        seccomp.set_no_new_privs()
        if not network:
            seccomp.install_filter(seccomp.build_filter())
        landlock.restrict_self(roots)
    except Exception as exc:
        return _refuse(str(exc) or type(exc).__name__)
    if not network:
        os.environ["CODEX_SANDBOX_NETWORK_DISABLED"] = "1"
    sys.stdout.flush()
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        sys.stderr.write(f"{command[0]}: command not found\n")
        return 127
    except OSError as exc:
        sys.stderr.write(f"{command[0]}: {exc.strerror}\n")
        return 126


if __name__ == "__main__":
    sys.exit(main())
