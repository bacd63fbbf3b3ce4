"""The C-heap trimmer (issue 13): glibc's malloc_trim on a schedule, asked by the camera
workers after each frame, one trimmer per process; a no-op where it cannot apply."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from citywatch.decisions.types import Sighting
from citywatch.engine import allocator
from citywatch.engine.allocator import HeapTrimmer, heap_trimmer, libc_malloc_trim
from citywatch.engine.worker import CameraWorker
from citywatch.vision.record import Frame, FrameRecord


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Trims:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return True


@pytest.mark.parametrize(
    ("every_s", "times", "trimmed"),
    [
        # seconds after construction at which maybe_trim is asked -> which calls trimmed
        (60.0, [0, 30, 59.9], [False, False, False]),
        (60.0, [60, 61, 119, 120.5, 121], [True, False, False, True, False]),
        (60.0, [200, 201, 260, 300], [True, False, True, False]),  # late: next one 60 s on
        (10.0, [10, 10, 20, 30], [True, False, True, True]),
        (0.0, [0, 60, 1e6], [False, False, False]),  # 0: never
    ],
)
def test_trims_on_its_schedule(every_s: float, times: list[float], trimmed: list[bool]) -> None:
    clock, trims = Clock(), Trims()
    start = clock.now
    trimmer = HeapTrimmer(every_s, trim=trims, clock=clock)
    got = []
    for t in times:
        clock.now = start + t
        got.append(trimmer.maybe_trim())
    assert got == trimmed
    assert trims.calls == trimmer.trims == sum(trimmed)


def test_no_trim_function_means_never_and_a_negative_interval_is_refused() -> None:
    clock = Clock()
    trimmer = HeapTrimmer(1.0, trim=None, clock=clock)
    clock.now += 100
    assert not trimmer.enabled and trimmer.maybe_trim() is False
    with pytest.raises(ValueError, match="heap trim interval must be >= 0"):
        HeapTrimmer(-1.0, trim=Trims())


def test_libc_malloc_trim_on_glibc_and_switched_off_by_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(allocator.ENV_SWITCH, "0")
    assert libc_malloc_trim() is None
    assert heap_trimmer(60.0).enabled is False
    monkeypatch.delenv(allocator.ENV_SWITCH)
    trim = libc_malloc_trim()
    glibc = sys.platform.startswith("linux") and _has_malloc_trim()
    assert (trim is not None) == glibc
    if trim is not None:
        assert trim() in (True, False)  # it runs (whether pages went back depends on the heap)
        assert heap_trimmer(60.0).enabled and not heap_trimmer(0.0).enabled


def _has_malloc_trim() -> bool:
    import ctypes

    try:
        return hasattr(ctypes.CDLL(None), "malloc_trim")
    except OSError:
        return False


# ----------------------------------------------------------------------------- the workers


class TickingSource:
    """``n`` frames (the pipeline moves the clock)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def frames(self) -> Iterator[Frame]:
        for i in range(self.n):
            yield Frame("cam-1", i, i / 5, time.time(), np.zeros((4, 4, 3), np.uint8))

    def stop(self) -> None:
        pass


class ClockPipeline:
    """Each analysed frame takes ``step_s`` on the injected clock."""

    def __init__(self, clock: Clock, step_s: float) -> None:
        self.clock, self.step_s = clock, step_s

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Sighting]]:
        self.clock.now += self.step_s
        return FrameRecord(frame), []

    def flush(self) -> list[Sighting]:
        return []


class NullSink:
    def handle(self, camera_id: str, sightings: list[Sighting]) -> None:
        pass


def test_a_worker_asks_the_trimmer_after_each_frame() -> None:
    clock, trims = Clock(), Trims()
    trimmer = HeapTrimmer(10.0, trim=trims, clock=clock)
    # 50 frames of 1 s each: trimmed after the 10th, 20th, ... 50th
    pipeline = ClockPipeline(clock, 1.0)
    worker = CameraWorker(
        "cam-1", TickingSource(50), pipeline, NullSink(), live=False, trimmer=trimmer
    )
    assert worker.trimmer is trimmer
    stats = worker.run()
    assert stats.analysed == 50
    assert trims.calls == 5


def test_workers_of_one_process_share_the_trimmer_schedule() -> None:
    clock, trims = Clock(), Trims()
    trimmer = HeapTrimmer(10.0, trim=trims, clock=clock)
    # two cameras, 25 frames each, 1 s per frame on the one clock: 50 s -> 5 trims, not 10
    for cam in ("cam-1", "cam-2"):
        CameraWorker(
            cam,
            TickingSource(25),
            ClockPipeline(clock, 1.0),
            NullSink(),
            live=False,
            trimmer=trimmer,
        ).run()
    assert trims.calls == 5


# ----------------------------------------------------------------------------- wiring


@pytest.mark.integration
def test_the_engine_gives_its_workers_one_trimmer_from_the_config(
    tmp_path: Path, shared_data: Path
) -> None:
    from citywatch.audit.chain import Actor
    from citywatch.config.root import parse_config
    from citywatch.engine.platform import Platform
    from citywatch.store.db import make_engine, make_session_factory, upgrade_database
    from tests.conftest import embedded_config

    clips = sorted((shared_data / "plates/video_nl/clips").iterdir())[:2]
    cams = [
        {
            "id": f"gate-{i}",
            "url": str(clip),
            "purposes": ["plate"],
            "legal_basis": "Test Act s.1",
            "impact_assessment": "DPIA-T-1",
            "approved_on": "2026-01-01",
            "zone": "stage",
        }
        for i, clip in enumerate(clips)
    ]
    raw = embedded_config(tmp_path, cams)
    raw.setdefault("engine", {})["heap_trim_every_s"] = 17
    cfg = parse_config(raw)
    assert parse_config(embedded_config(tmp_path, cams)).engine.heap_trim_every_s == 0  # off
    upgrade_database(cfg.store.database_url)
    sessions = make_session_factory(make_engine(cfg.store.database_url))
    engine = Platform.create(cfg, sessions, Actor("test-admin", "admin")).build_engine()
    trimmers = {id(run.worker.trimmer) for run in engine.runs}
    assert len(engine.runs) == 2 and len(trimmers) == 1
    trimmer = engine.runs[0].worker.trimmer
    assert trimmer is not None and trimmer.every_s == 17
