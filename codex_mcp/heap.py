"""Large transient buffers outside the C heap, so that a long turn does not leave the server's
memory grown (glibc only; elsewhere nothing is done).

Every step of a turn encodes the whole history as one request: a string and its bytes of up
to the request's size (~400 KiB for 2,000 items), made and freed again each step.  glibc's
malloc serves such sizes with their own mappings, returned to the system on free, until the
first one is freed: from then on its "dynamic threshold" rises to that size, the following
buffers come from the heap, and long-lived objects allocated between them keep the heap from
shrinking.  The start-up alone raises it already: reading the dataclass method cache
(`dataclass_cache`, ~0.5 MB at once) frees a buffer larger than any request of a short
thread (without that file the same turn grew ~4.4-6 MB instead of ~8.6-9.6).  Over a
1,000-step turn the server's RSS grew by ~9 MB of which well under 1 MB was still in use
(`mallinfo2`: the rest free inside the heap).  Fixing the thresholds at glibc's defaults
keeps every buffer of 128 KiB or more in a mapping of its own: a few system calls and page
faults per step (~50 us for a 490 KiB request, well under 1 % of a step), and the RSS growth
of that turn goes from ~8.6 to ~5 MB.

The server process sets it once it is warm (`prewarm`): `ctypes` costs ~2 ms to import,
which the start and the first call do not pay.  The embedding API leaves the allocator alone.
"""

from __future__ import annotations

import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""`mallopt`'s parameter numbers (malloc.h); setting the mmap threshold also stops its
dynamic adjustment."""
THRESHOLD = 128 * 1024
"""glibc's default for both: buffers from this size get a mapping of their own, and free
memory beyond this at the top of the heap goes back to the system (the dynamic adjustment
raises this one too, to twice the largest buffer freed so far)."""


def pin_mmap_threshold() -> bool:
    """Fix glibc's mmap and trim thresholds at their defaults (whatever the start-up raised
    them to); whether both were set (False on a system without glibc, or when the C library
    refuses)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):  # musl's mallopt does nothing
            return False
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))
