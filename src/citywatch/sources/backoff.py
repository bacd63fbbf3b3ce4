"""Exponential backoff with full jitter (pure: no sleeping, no clock).

The n-th delay (from 0) is uniform in ``[0, min(max_s, initial_s * factor**n)]``; full jitter
keeps many cameras that lost the same recorder from reconnecting in lock step.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        initial_s: float = 0.5,
        max_s: float = 30.0,
        factor: float = 2.0,
        *,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s <= 0:
            raise ValueError(f"Backoff initial_s must be > 0, got {initial_s}")
        if max_s < initial_s:
            raise ValueError(f"Backoff max_s ({max_s}) must be >= initial_s ({initial_s})")
        if factor < 1:
            raise ValueError(f"Backoff factor must be >= 1, got {factor}")
        self.initial_s = initial_s
        self.max_s = max_s
        self.factor = factor
        self._rng = rng if rng is not None else random.Random()
        self._ceiling = initial_s
        self.attempts = 0

    @property
    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        return self._ceiling

    def next_delay(self) -> float:
        """The delay before the next attempt; each call raises the ceiling for the one after."""
        delay = self._ceiling * self._rng.random()
        self.attempts += 1
        # Multiply step by step (never factor**n): the ceiling stops at max_s, no overflow.
        self._ceiling = min(self.max_s, self._ceiling * self.factor)
        return delay

    def reset(self) -> None:
        """After a success: the next failure waits at most ``initial_s`` again."""
        self._ceiling = self.initial_s
        self.attempts = 0
