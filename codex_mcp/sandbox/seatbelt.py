"""macOS Seatbelt: our own SBPL profile and the `/usr/bin/sandbox-exec` command line.

Pure string building (testable anywhere).  Paths never appear in the profile text: each is
passed as a `-D NAME=value` parameter and referenced with `(param "NAME")`.  The executable is
always the absolute `/usr/bin/sandbox-exec`, so nothing earlier on PATH can stand in for it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from codex_mcp.sandbox.boundary import is_within
from codex_mcp.sandbox.policy import PROTECTED_SUBPATHS

SANDBOX_EXEC = "/usr/bin/sandbox-exec"

# Start from deny-all, then open what ordinary command-line tools need.
_BASE_PROFILE = """\
(version 1)
; codex-mcp: default-deny profile for model-issued commands
(deny default)

; processes: run programs, fork, and signal / inspect only processes of this sandbox
(allow process-exec)
(allow process-fork)
(allow signal (target same-sandbox))
(allow process-info* (target same-sandbox))

; reading is unrestricted
(allow file-read*)

; the null device and terminals
(allow file-write-data file-ioctl
  (require-all (literal "/dev/null") (vnode-type CHARACTER-DEVICE)))
(allow pseudo-tty)
(allow file-read* file-write* file-ioctl (literal "/dev/ptmx") (regex #"^/dev/ttys[0-9]+$"))

; system information, preferences and the few services libc and Python need
(allow sysctl-read)
(allow user-preference-read)
(allow ipc-posix-sem)
(allow ipc-posix-shm-read* ipc-posix-shm-write-create ipc-posix-shm-write-data
  (ipc-posix-name-regex #"^/__KMP_REGISTERED_LIB_[0-9]+$"))
(allow mach-lookup
  (global-name "com.apple.system.opendirectoryd.libinfo")
  (global-name "com.apple.cfprefsd.daemon")
  (global-name "com.apple.cfprefsd.agent")
  (global-name "com.apple.PowerManagement.control")
  (global-name "com.apple.system.logger"))
"""

_NETWORK_SECTION = """
; network access granted by the policy
(allow network-outbound)
(allow network-inbound)
(allow system-socket)
(allow mach-lookup
  (global-name "com.apple.dnssd.service")
  (global-name "com.apple.SystemConfiguration.configd")
  (global-name "com.apple.trustd.agent"))
"""


def _root_param(i: int) -> str:
    return f"WRITABLE_ROOT_{i}"


def _excluded_param(i: int, j: int) -> str:
    return f"WRITABLE_ROOT_{i}_RO_{j}"


def build_profile(
    writable_roots: Sequence[str],
    network_access: bool,
    read_only_paths: Sequence[str] = (),
    hidden_paths: Sequence[str] = (),
) -> tuple[str, list[tuple[str, str]]]:
    """(profile text, [(param name, path)]) for the given resolved writable roots.

    Each root is writable except its protected names (`.git`, `.codex`, `.agents`) and the
    boundary's read-only paths inside it (CODEX_HOME, git dirs), which are
    excluded both as the exact path (so even their first creation is refused) and as a
    subtree.  No roots -> read-only.  Hidden paths (CODEX_HOME) are denied to reads and
    writes by rules placed last, so that they win over the broad allows above them.
    """
    params: list[tuple[str, str]] = []
    clauses: list[str] = []
    for i, root in enumerate(writable_roots):
        root_name = _root_param(i)
        params.append((root_name, root))
        excludes: list[str] = []
        carved = [os.path.join(root, name) for name in PROTECTED_SUBPATHS]
        carved += [p for p in read_only_paths if p not in carved and is_within(p, root)]
        for j, path in enumerate(carved):
            ex_name = _excluded_param(i, j)
            params.append((ex_name, path))
            excludes.append(f'(require-not (literal (param "{ex_name}")))')
            excludes.append(f'(require-not (subpath (param "{ex_name}")))')
        inner = "\n    ".join([f'(subpath (param "{root_name}"))', *excludes])
        clauses.append(f"  (require-all\n    {inner})")
    profile = _BASE_PROFILE
    if clauses:
        profile += "\n; writable roots (protected names stay read-only)\n(allow file-write*\n"
        profile += "\n".join(clauses) + ")\n"
    if network_access:
        profile += _NETWORK_SECTION
    if hidden_paths:
        profile += "\n; hidden paths: the server's own credentials and records\n"
        for k, path in enumerate(hidden_paths):
            name = f"HIDDEN_{k}"
            params.append((name, path))
            profile += f'(deny file-read* file-write* (subpath (param "{name}")))\n'
    return profile, params


def build_seatbelt_argv(
    command: Sequence[str],
    *,
    writable_roots: Sequence[str],
    network_access: bool,
    read_only_paths: Sequence[str] = (),
    hidden_paths: Sequence[str] = (),
) -> list[str]:
    """`/usr/bin/sandbox-exec -p PROFILE -DNAME=path ... -- command...`."""
    profile, params = build_profile(writable_roots, network_access, read_only_paths, hidden_paths)
    argv = [SANDBOX_EXEC, "-p", profile]
    argv += [f"-D{name}={value}" for name, value in params]
    argv += ["--", *command]
    return argv


def seatbelt_available() -> tuple[bool, str]:
    if os.path.isfile(SANDBOX_EXEC) and os.access(SANDBOX_EXEC, os.X_OK):
        return True, f"seatbelt: {SANDBOX_EXEC}"
    return False, f"seatbelt: {SANDBOX_EXEC} not found"
