"""The allocator tuning: taken on glibc Linux, a no-op where it cannot apply."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from citywatch.engine import allocator


def _glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    except OSError:
        return False


_CHILD = """
import ctypes, numpy as np
from citywatch.engine.allocator import keep_freed_buffers
names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in names.split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
taken = keep_freed_buffers()
before = libc.mallinfo2().hblks
block = np.ones(4 << 20, np.uint8)  # 4 MiB, like a few video frames
print(taken, libc.mallinfo2().hblks - before)
"""


def _run_child(env_switch: str) -> list[str]:
    env = {**os.environ, allocator.ENV_SWITCH: env_switch}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True, env=env
    )
    return out.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _glibc(), reason="glibc only")
def test_large_buffers_come_from_the_heap_once_tuned() -> None:
    # Child processes: the thresholds stay set for the rest of a process.  glibc counts the
    # blocks it serves with mmap (mallinfo2().hblks): one more for a 4 MiB array untuned,
    # none once tuned (the array comes from the heap, where freed memory is reused).
    assert _run_child("0") == ["False", "1"]
    assert _run_child("1") == ["True", "0"]


_ARENAS = """
import ctypes, threading
from citywatch.engine.allocator import keep_freed_buffers
keep_freed_buffers()
n = 8
barrier = threading.Barrier(n + 1)
kept = []
def work():
    kept.append(bytearray(1 << 16))  # this thread's first malloc picks its arena
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(n)]
for t in threads:
    t.start()
barrier.wait()
ctypes.CDLL(None).malloc_stats()  # one "Arena N:" section per arena, on stderr
barrier.wait()
for t in threads:
    t.join()
"""


def _arenas(env: dict[str, str]) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _ARENAS],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return sum(line.startswith("Arena ") for line in out.stderr.splitlines())


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _glibc(), reason="glibc only")
def test_the_heap_is_held_to_two_arenas_unless_the_environment_says_otherwise() -> None:
    # Eight threads allocating at once: glibc gives each its own arena (9 with the main
    # thread's) unless limited; tuned, they share 2; $MALLOC_ARENA_MAX, when set, wins.
    plain = {allocator.ENV_SWITCH: "0", "MALLOC_ARENA_MAX": ""}
    assert _arenas(plain) > allocator.ARENA_MAX
    assert _arenas({allocator.ENV_SWITCH: "1", "MALLOC_ARENA_MAX": ""}) == allocator.ARENA_MAX
    assert _arenas({allocator.ENV_SWITCH: "1", "MALLOC_ARENA_MAX": "3"}) == 3


def test_switched_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(allocator.ENV_SWITCH, "0")
    monkeypatch.setattr(ctypes, "CDLL", lambda *_a: pytest.fail("libc must not be touched"))
    assert allocator.keep_freed_buffers() is False


def test_c_library_without_mallopt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(allocator.ENV_SWITCH, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", lambda *_a: object())  # no mallopt attribute
    assert allocator.keep_freed_buffers() is False


@pytest.mark.parametrize(
    ("switch", "arena_env", "expected"),
    [
        ("1", None, {"MALLOC_ARENA_MAX": str(allocator.ARENA_MAX)}),
        ("1", "", {"MALLOC_ARENA_MAX": str(allocator.ARENA_MAX)}),
        ("1", "4", {"MALLOC_ARENA_MAX": "4"}),  # the operator's own limit is passed on
        ("0", "4", {}),  # tuning off: the actors get glibc's default
    ],
)
def test_actor_processes_get_the_arena_limit_before_their_first_allocation(
    monkeypatch: pytest.MonkeyPatch, switch: str, arena_env: str | None, expected: dict
) -> None:
    monkeypatch.setenv(allocator.ENV_SWITCH, switch)
    if arena_env is None:
        monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    else:
        monkeypatch.setenv("MALLOC_ARENA_MAX", arena_env)
    assert allocator.worker_env() == expected
    assert allocator.actor_runtime_env() == ({"env_vars": expected} if expected else None)
