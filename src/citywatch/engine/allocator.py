"""Keep large freed buffers for reuse instead of handing them back to the kernel (glibc only).

glibc serves every allocation above its mmap threshold (128 KiB at start, raised only after
such a block is freed) with a fresh ``mmap`` and returns it with ``munmap`` when it is freed.
Per frame this pipeline makes many short-lived arrays of 100 KiB to a few MiB (a 720p frame is
2.7 MiB, a face chip's float64 work arrays 0.5 MiB each), so every frame paid for new zeroed
pages, page fault by page fault: interpolating one 150x150 face chip took 4.6-5.4 ms that way
and 1.6-1.7 ms with the thresholds below (same machine, same run of tests).  With them, blocks
up to :data:`MMAP_THRESHOLD` come from the heap and are reused; the heap gives memory back
once more than :data:`TRIM_THRESHOLD` lies free at its top, which bounds what a worker keeps.

Called once per process that analyses frames: the CLI, Ray camera actors and the shared
embedder actors.  ``CITYWATCH_MALLOC_TUNING=0`` leaves the allocator alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest glibc accepts on 64-bit machines
TRIM_THRESHOLD = 64 * 1024 * 1024
ENV_SWITCH = "CITYWATCH_MALLOC_TUNING"


def keep_freed_buffers(
    *, mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD
) -> bool:
    """Set glibc's mmap and trim thresholds for this process; True when both were taken.

    False (and nothing changed) off Linux, on a C library without ``mallopt`` or one that
    refuses the values, or when ``$CITYWATCH_MALLOC_TUNING`` is ``0``.
    """
    if os.environ.get(ENV_SWITCH, "1").strip() == "0":
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    taken = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    taken = taken and mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1
    if not taken:
        log.debug("malloc thresholds not taken by this C library; allocator left as it is")
    return taken
