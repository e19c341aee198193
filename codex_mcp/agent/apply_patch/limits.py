"""Size caps of the patch engine: the model and the workspace choose these sizes, not us.

A patch is text the model wrote; the files it names are whatever the workspace holds (a
sandboxed command can replace one with a FIFO, a device symlink, or a sparse file of any
size).  Each cap turns what would be a hang or an out-of-memory into a clear error:

* `MAX_PATCH_BYTES`: the patch text itself (UTF-8 bytes).
* `MAX_PATCH_FILES`: distinct paths one patch may touch (move destinations included).
* `MAX_TARGET_FILE_BYTES`: one file the patch reads (to update, delete or move it).
* `MAX_PATCH_READ_BYTES`: all files one patch reads together.

Files are read only if they are regular files (never FIFOs, devices, sockets or /proc),
without blocking (see `codex_mcp.bounded_read`).
"""

from __future__ import annotations

# The same size as the cap on one tool call's arguments (`agent.limits.MAX_TOOL_ARGUMENTS_CHARS`):
# a larger patch could never arrive as a call, and a shell-form patch is inside such a call too.
MAX_PATCH_BYTES = 4 * 1024 * 1024
MAX_PATCH_FILES = 512
MAX_TARGET_FILE_BYTES = 16 * 1024 * 1024
MAX_PATCH_READ_BYTES = 64 * 1024 * 1024


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"


def patch_too_large(size: int) -> str:
    return (
        f"the patch is {size} bytes, over the limit of {_mib(MAX_PATCH_BYTES)}; "
        "split it into several smaller patches"
    )


def too_many_files(count: int) -> str:
    return (
        f"the patch touches {count} files, over the limit of {MAX_PATCH_FILES} per patch; "
        "split it into several patches"
    )
