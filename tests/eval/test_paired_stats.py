"""The exact McNemar test the benchmarks use to compare two readers on the same plates."""

from __future__ import annotations

import math

import pytest

from citywatch.eval.common import MetricsError, mcnemar_p, wilson


@pytest.mark.parametrize(
    ("only_a", "only_b", "expected"),
    [
        (0, 0, 1.0),  # no discordant item: no evidence either way
        (5, 5, 1.0),  # an even split
        (0, 6, 2 / 64),  # six of six one way: 2 * 0.5**6
        (10, 2, 2 * (1 + 12 + 66) / 4096),  # 2 * P(X <= 2), X ~ Bin(12, 1/2)
        (2, 10, 2 * (1 + 12 + 66) / 4096),  # symmetric
        (1, 1, 1.0),
        (0, 1, 1.0),  # one discordant item proves nothing
    ],
)
def test_mcnemar_p_table(only_a: int, only_b: int, expected: float) -> None:
    assert mcnemar_p(only_a, only_b) == pytest.approx(expected)


def test_mcnemar_p_falls_as_the_split_grows_more_uneven() -> None:
    ps = [mcnemar_p(k, 20 - k) for k in range(11)]
    assert ps == sorted(ps)
    assert ps[0] < 1e-5 and ps[-1] == 1.0
    assert mcnemar_p(15, 5) < 0.05 < mcnemar_p(14, 6)  # 0.041 against 0.115


def test_mcnemar_p_refuses_negative_counts() -> None:
    with pytest.raises(MetricsError, match="negative"):
        mcnemar_p(-1, 3)


def test_wilson_of_no_items_is_the_whole_range() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(50, 100)
    assert math.isclose((lo + hi) / 2, 0.5) and 0.40 < lo < 0.41
