"""Whether a soak's memory grew: a leak, or one high-water step of the allocator.

The least-squares slope of RSS over the footage after the warm-up is the first test.  A run
of an hour or so fails it on one step alone: when an alert's evidence clip is encoded, glibc
keeps the freed encoding buffers for reuse (engine/allocator.py), and RSS rises once by tens
of MB and stays level (a 75-minute soak on 2026-12-07: one 38.6 MB step at minute 38, level
to 0.1 MB for the 37 minutes after it; least squares +51 MB/h, median +0.6 MB/h).

So a slope over the limit is judged again: it is a step, not a leak, when the median growth
over the sampling intervals is within the limit (a leak grows in every interval; a step in
one) and so is the least-squares slope of the last third of the run after the warm-up (the
memory has stopped growing).  Steps that keep coming land in the last third too, given a run
long enough; a step inside the last third fails the run: run it longer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from citywatch.eval.soak import SoakSample, median_slope_mb_per_h, rss_slope_mb_per_h

TAIL_SHARE = 1 / 3  # the last third of the time after the warm-up
MIN_TAIL_SAMPLES = 3


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str
    tail_slope_mb_per_h: float | None = None


def soak_verdict(samples: Sequence[SoakSample], warmup_s: float, max_slope: float) -> Verdict:
    """Passed when RSS after the warm-up grew at most ``max_slope`` MB per hour of footage,
    by least squares, or by the median over the intervals and over the last third alike."""
    slope = rss_slope_mb_per_h(samples, warmup_s)
    if slope is None:
        return Verdict(False, "too few samples with footage after the warm-up to judge")
    if slope <= max_slope:
        return Verdict(True, f"least-squares slope {slope:+.2f} MB/h <= {max_slope}")
    median = median_slope_mb_per_h(samples, warmup_s)
    end = samples[-1].t_s
    tail_from = end - (end - warmup_s) * TAIL_SHARE
    tail_samples = [s for s in samples if s.t_s >= tail_from]
    tail = rss_slope_mb_per_h(samples, tail_from) if len(tail_samples) >= MIN_TAIL_SAMPLES else None
    if median is not None and median <= max_slope and tail is not None and tail <= max_slope:
        return Verdict(
            True,
            f"a step, not a leak: least-squares slope {slope:+.2f} MB/h > {max_slope}, but the "
            f"median over the intervals {median:+.2f} and the last third's slope {tail:+.2f} "
            "are within it",
            tail,
        )
    median_text = "n/a" if median is None else f"{median:+.2f}"
    tail_text = "n/a" if tail is None else f"{tail:+.2f}"
    return Verdict(
        False,
        f"memory grows: least-squares slope {slope:+.2f} MB/h > {max_slope}; median over the "
        f"intervals {median_text}, last third {tail_text}",
        tail,
    )
