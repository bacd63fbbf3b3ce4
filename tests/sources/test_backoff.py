"""Exponential backoff with full jitter: table tests with a fixed 'random' draw."""

from __future__ import annotations

import random
from typing import Any

import pytest

from citywatch.sources.backoff import Backoff


class FixedDraw(random.Random):
    """A Random whose random() always returns the same value."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("kwargs", "draw", "want"),
    [
        ({}, 1.0, [0.5, 1, 2, 4, 8, 16, 30, 30, 30]),
        ({}, 0.5, [0.25, 0.5, 1, 2, 4, 8, 15, 15]),
        ({}, 0.0, [0, 0, 0]),
        ({"initial_s": 1, "max_s": 5, "factor": 3}, 1.0, [1, 3, 5, 5]),
        ({"initial_s": 2, "max_s": 2, "factor": 2}, 1.0, [2, 2, 2]),
        ({"initial_s": 0.1, "max_s": 1, "factor": 1}, 1.0, [0.1, 0.1, 0.1]),
    ],
)
def test_delays(kwargs: dict[str, float], draw: float, want: list[float]) -> None:
    b = Backoff(**kwargs, rng=FixedDraw(draw))
    assert [b.next_delay() for _ in want] == pytest.approx(want)


def test_reset_starts_over() -> None:
    b = Backoff(rng=FixedDraw(1.0))
    for _ in range(5):
        b.next_delay()
    assert b.attempts == 5
    b.reset()
    assert b.attempts == 0
    assert b.next_delay() == pytest.approx(0.5)


def test_full_jitter_stays_within_the_ceiling_and_is_reproducible() -> None:
    a = Backoff(rng=random.Random(7))
    b = Backoff(rng=random.Random(7))
    for _ in range(50):
        ceiling = a.ceiling
        delay = a.next_delay()
        assert 0 <= delay <= ceiling <= 30
        assert b.next_delay() == delay


def test_many_attempts_do_not_overflow() -> None:
    b = Backoff(rng=FixedDraw(1.0))
    for _ in range(5000):
        assert b.next_delay() <= 30


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_s": 0}, {"initial_s": -1}, {"initial_s": 5, "max_s": 1}, {"factor": 0.5}],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Backoff"):
        Backoff(**kwargs)
