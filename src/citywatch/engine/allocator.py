"""Keep large freed buffers for reuse instead of handing them back to the kernel (glibc only).

glibc serves every allocation above its mmap threshold (128 KiB at start, raised only after
such a block is freed) with a fresh ``mmap`` and returns it with ``munmap`` when it is freed.
Per frame this pipeline makes many short-lived arrays of 100 KiB to a few MiB (a 720p frame is
2.7 MiB, a face chip's float64 work arrays 0.5 MiB each), so every frame paid for new zeroed
pages, page fault by page fault: interpolating one 150x150 face chip took 4.6-5.4 ms that way
and 1.6-1.7 ms with the thresholds below (same machine, same run of tests).  With them, blocks
up to :data:`MMAP_THRESHOLD` come from the heap and are reused; the heap gives memory back
once more than :data:`TRIM_THRESHOLD` lies free at its top, which bounds what a worker keeps.

The heap is also held to :data:`ARENA_MAX` malloc arenas.  glibc gives each thread that
allocates its own arena, up to 8 per core (camera workers and readers, onnxruntime's threads,
the API, the sinks: 9 and more in one process); memory one thread frees stays in its arena
for that arena's next callers, so the free space scattered over the arenas grew while the
memory in use stayed flat.  Soak of the demo platform, four variants side by side (2026-12-06,
25 min, loaded host): after the warm-up RSS rose 1,370 -> 1,373 MB with glibc's arenas and
stayed at 1,342 MB throughout with 2; an 80-minute soak with 2 still grew in two high-water
steps of the heap (README, "What it costs").  ``$MALLOC_ARENA_MAX``,
when set, is glibc's own setting and is left as it is.

Called once per process that analyses frames, before its threads start: the CLI, Ray camera
actors and the shared embedder actors.  ``CITYWATCH_MALLOC_TUNING=0`` leaves the allocator
alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest glibc accepts on 64-bit machines
TRIM_THRESHOLD = 64 * 1024 * 1024
ARENA_MAX = 2
ENV_SWITCH = "CITYWATCH_MALLOC_TUNING"


def _switched_off() -> bool:
    """``$CITYWATCH_MALLOC_TUNING`` is ``0``: leave the allocator as glibc sets it."""
    return os.environ.get(ENV_SWITCH, "1").strip() == "0"


def keep_freed_buffers(
    *,
    mmap_threshold: int = MMAP_THRESHOLD,
    trim_threshold: int = TRIM_THRESHOLD,
    arena_max: int = ARENA_MAX,
) -> bool:
    """Set glibc's mmap and trim thresholds and its arena limit for this process (the limit
    not where ``$MALLOC_ARENA_MAX`` sets one); True when all were taken.

    False (and nothing changed) off Linux, on a C library without ``mallopt`` or one that
    refuses the values, or when ``$CITYWATCH_MALLOC_TUNING`` is ``0``.
    """
    if _switched_off():
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
    if not os.environ.get("MALLOC_ARENA_MAX"):
        taken = taken and mallopt(M_ARENA_MAX, arena_max) == 1
    if not taken:
        log.debug("malloc thresholds not taken by this C library; allocator left as it is")
    return taken


def worker_env() -> dict[str, str]:
    """The environment a process started to analyse frames (a Ray camera or embedder actor)
    needs from its first allocation on: the arena limit, which ``mallopt`` can only set for
    arenas not yet made, and a Ray worker has started Ray's own threads before citywatch's
    code runs.  ``$MALLOC_ARENA_MAX`` of this process is passed on when set; nothing when
    ``$CITYWATCH_MALLOC_TUNING`` is ``0``."""
    if _switched_off():
        return {}
    return {"MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX") or str(ARENA_MAX)}


def actor_runtime_env() -> dict[str, dict[str, str]] | None:
    """The ``runtime_env`` option of the Ray actors that analyse frames (None: Ray's default).
    Ray merges its ``env_vars`` with the job's own."""
    env = worker_env()
    return {"env_vars": env} if env else None


def libc_malloc_trim() -> Callable[[], bool] | None:
    """glibc's ``malloc_trim(0)`` as a call returning whether memory went back to the kernel;
    None off Linux, on another C library, or when ``$CITYWATCH_MALLOC_TUNING`` is ``0``."""
    if _switched_off() or not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int

    def trim() -> bool:
        return bool(fn(0))

    return trim


class HeapTrimmer:
    """Hands the C heap's free pages back to the kernel every ``every_s`` seconds (opt-in:
    ``engine.heap_trim_every_s``).

    With the thresholds of :func:`keep_freed_buffers` the heap keeps what frames and chips
    free, for reuse: in the demo's soak ~470 MB of it lay free beside ~910 MB in use.
    ``malloc_trim(0)`` releases the whole free pages of every arena (the chunks stay free and
    are reused; a page touched again faults in once): the same soak ran at ~965 MB of RSS
    instead of ~1,370, but RSS then saws up and down between trims and a trim paused the
    camera that ran it for 3 to 600 ms on a loaded 2-core host, so it is off by default (the
    arena limit is the fix chosen; README, "What it costs").  The camera workers call
    :meth:`maybe_trim` after each frame; whichever comes first after the interval trims for
    the whole process.
    ``trim`` None (not glibc) or ``every_s`` 0: never.
    """

    def __init__(
        self,
        every_s: float,
        *,
        trim: Callable[[], bool] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if every_s < 0:
            raise ValueError(f"heap trim interval must be >= 0 seconds, got {every_s}")
        self.every_s = every_s
        self._trim = trim if every_s > 0 else None
        self._clock = clock
        self._lock = threading.Lock()
        self._next = clock() + every_s
        self.trims = 0  # times malloc_trim ran
        self.last_ms = 0.0  # how long the last one took
        self.longest_ms = 0.0  # and the longest

    @property
    def enabled(self) -> bool:
        return self._trim is not None

    def maybe_trim(self) -> bool:
        """Trim when the interval has passed since the last trim (or since construction);
        True when this call trimmed."""
        if self._trim is None:
            return False
        now = self._clock()
        if now < self._next or not self._lock.acquire(blocking=False):
            return False
        try:
            if now < self._next:  # another worker trimmed meanwhile
                return False
            started = time.perf_counter()
            self._trim()
            self.last_ms = (time.perf_counter() - started) * 1000.0
            self.longest_ms = max(self.longest_ms, self.last_ms)
            self.trims += 1
            self._next = now + self.every_s
            return True
        finally:
            self._lock.release()


def heap_trimmer(every_s: float) -> HeapTrimmer:
    """The process's trimmer: glibc's ``malloc_trim`` every ``every_s`` s (0: never)."""
    return HeapTrimmer(every_s, trim=libc_malloc_trim())
