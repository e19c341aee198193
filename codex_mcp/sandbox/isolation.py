"""Which isolation the Landlock backend's container can use on this host, found by trying.

A throw-away keeper is forked that creates the namespaces and an init that sets up the
mounts, exactly as a command's container would; the first variant that works is the one
`select` uses (namespaces as root, then with a user namespace, else none).  A network
namespace (needed only for the proxied network) is tried on top of the working variant.

Only the standard library is imported here (the launcher loads this without the package).
"""

from __future__ import annotations

import os

from codex_mcp.sandbox import netbridge, procs
from codex_mcp.sandbox.container import (
    _NS_FLAGS,
    ISOLATION_NONE,
    ISOLATION_NS,
    ISOLATION_NS_USER,
    Policy,
)
from codex_mcp.sandbox.mounts import own_mount_namespace, setup_mounts


def _probe_one(isolation: str, network: bool = False) -> tuple[bool, str]:
    """Fork a throw-away keeper that sets up a container around nothing."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            os.dup2(w, 2)
            flags = _NS_FLAGS | (procs.CLONE_NEWUSER if isolation == ISOLATION_NS_USER else 0)
            flags |= procs.CLONE_NEWNET if network else 0
            uid, gid = os.getuid(), os.getgid()
            procs.unshare(flags)
            if flags & procs.CLONE_NEWUSER:
                procs.write_id_maps(uid, gid)
            init = os.fork()
            if init == 0:
                try:
                    own_mount_namespace()
                    here = os.path.dirname(os.path.abspath(__file__))
                    setup_mounts(Policy([here], True, [], None, isolation))
                    if network:
                        netbridge.loopback_up()
                    os._exit(0)
                except BaseException as exc:
                    os.write(2, str(exc).encode(errors="replace"))
                    os._exit(1)
            code = os.waitstatus_to_exitcode(os.waitpid(init, 0)[1])
        except BaseException as exc:
            os.write(w, str(exc).encode(errors="replace"))
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    while data := os.read(r, 4096):
        chunks.append(data)
    os.close(r)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return code == 0, b"".join(chunks).decode(errors="replace").strip()


def probe_isolation() -> dict[str, object]:
    """Which isolation works here, and whether it can have a network namespace of its own."""
    details: list[str] = []
    candidates = [ISOLATION_NS, ISOLATION_NS_USER] if os.geteuid() == 0 else [ISOLATION_NS_USER]
    for isolation in candidates:
        ok, detail = _probe_one(isolation)
        if ok:
            netns, why = _probe_one(isolation, network=True)
            note = "" if netns else f"; no network namespace ({why or 'failed'})"
            return {"isolation": isolation, "netns": netns, "detail": f"isolation {isolation}{note}"}
        details.append(f"{isolation}: {detail or 'failed'}")
    detail = "no namespaces (" + "; ".join(details) + ")"
    return {"isolation": ISOLATION_NONE, "netns": False, "detail": detail}
