"""The soak's verdict (eval/soak_verdict.py): a steady leak fails, one allocator high-water
step after the warm-up does not, unless it comes in the last third of the run."""

from __future__ import annotations

import pytest

from citywatch.eval.soak import SoakSample
from citywatch.eval.soak_verdict import soak_verdict


def _samples(rss: list[float], every_s: float = 60.0) -> list[SoakSample]:
    """One sample a minute, footage analysed in real time."""
    return [
        SoakSample(
            t_s=i * every_s,
            footage_s=i * every_s,
            frames=i * 300,
            rss_mb=r,
            open_files=20,
            threads=30,
        )
        for i, r in enumerate(rss)
    ]


FLAT = [600.0] * 31
# 30 minutes after a 0-minute warm-up, one sample a minute (31 samples); MB/h at the limit 1.0
TABLE = [
    ("flat", FLAT, True, "least-squares"),
    ("noise, up and down alike", [600 + 0.3 * (i % 2) for i in range(31)], True, "least"),
    ("steady leak, 6 MB/h", [600 + 0.1 * i for i in range(31)], False, "memory grows"),
    # the 75-minute soak's shape: a 38.6 MB step near the middle, level before and after
    ("one step in the middle", [600.0] * 15 + [638.6] * 16, True, "a step, not a leak"),
    ("one step early", [600.0] * 3 + [638.6] * 28, True, "a step, not a leak"),
    # a step inside the last third: not known to have stopped; run longer
    ("one step in the last third", [600.0] * 25 + [638.6] * 6, False, "memory grows"),
    # a leak in steps: 5 MB every 5 minutes (60 MB/h), the median interval 0
    ("a leak in steps", [600 + 5 * (i // 5) for i in range(31)], False, "memory grows"),
    ("a step, then a slow leak", [600.0] * 10 + [630 + 0.1 * i for i in range(21)], False, "grows"),
]


@pytest.mark.parametrize(("name", "rss", "passed", "reason"), TABLE, ids=[r[0] for r in TABLE])
def test_soak_verdict_table(name: str, rss: list[float], passed: bool, reason: str) -> None:
    v = soak_verdict(_samples(rss), warmup_s=0.0, max_slope=1.0)
    assert v.passed is passed, (name, v)
    assert reason in v.reason


def test_the_warm_up_is_left_out_and_too_few_samples_fail() -> None:
    warming = [300.0 + 30 * i for i in range(10)] + [600.0] * 21  # 300 MB of warm-up
    left_out = soak_verdict(_samples(warming), warmup_s=600.0, max_slope=1.0)
    assert left_out.passed and "least-squares slope +0.00" in left_out.reason
    # counted, a third of the intervals grow and then it stops: judged a step
    counted = soak_verdict(_samples(warming), warmup_s=0.0, max_slope=1.0)
    assert counted.passed and "a step" in counted.reason
    # growing in most intervals, even if it stops at the end: a leak
    longer = [300.0 + 15 * i for i in range(20)] + [585.0] * 11
    assert not soak_verdict(_samples(longer), warmup_s=0.0, max_slope=1.0).passed
    few = soak_verdict(_samples([600.0]), warmup_s=0.0, max_slope=1.0)
    assert not few.passed and "too few" in few.reason


def test_a_short_tail_cannot_excuse_a_step() -> None:
    # 4 samples after the warm-up: the last third holds one sample, too few to judge a plateau
    v = soak_verdict(_samples([600.0, 600.0, 638.6, 638.6]), warmup_s=0.0, max_slope=1.0)
    assert not v.passed and v.tail_slope_mb_per_h is None
