"""Keeping the bearer token out of the process list.

`--http-token TOKEN` puts the token in the server's command line, which every local user
can read (`ps`, `/proc/<pid>/cmdline`; unlike the environment, the command line is not
protected by the process being non-dumpable).  The token is what keeps the other users of a
shared machine out of a loopback server, so once it is parsed the server overwrites it in
its own argument area (Linux, through `/proc/self/mem`): from then on the process list shows
asterisks.  It stays visible for the moment between the start and that overwrite, which is
why `$CODEX_MCP_HTTP_TOKEN` is the better way to pass it.
"""

from __future__ import annotations

import sys


def hide_from_cmdline(secret: str) -> bool:
    """Overwrite every occurrence of `secret` in this process's command line with `*`.

    Returns whether anything was overwritten; never raises (best effort: another platform,
    a kernel that forbids writing /proc/self/mem, an odd /proc).
    """
    if not secret or not sys.platform.startswith("linux"):
        return False
    needle = secret.encode("utf-8", "surrogateescape")
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49)
        changed = False
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            data = mem.read(end - start)
            pos = data.find(needle)
            while pos >= 0:
                mem.seek(start + pos)
                mem.write(b"*" * len(needle))
                changed = True
                pos = data.find(needle, pos + len(needle))
        return changed
    except (OSError, ValueError, IndexError):
        return False
