"""Pure helpers that decide which decoded frames go on: sampling by presentation time, and
dropping stale frames of a live stream instead of letting them queue."""

from __future__ import annotations

# Presentation times are floats made from rational time bases; 1 ms is far below the frame
# interval of any stream we read (60 fps: 16.7 ms) and far above the rounding error.
PTS_TOLERANCE_S = 1e-3


class PtsSampler:
    """Passes frames at ``fps`` by presentation time: a 25 fps stream sampled at 5 fps passes
    every 5th frame, a 7.5 fps stream at 5 fps passes 2 of 3, whatever the decode speed."""

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"sampling fps must be > 0, got {fps}")
        self.interval_s = 1.0 / fps
        self._next_due: float | None = None

    def due(self, pts_s: float) -> bool:
        nxt = self._next_due
        if nxt is not None and pts_s < nxt - PTS_TOLERANCE_S:
            # Not yet due; a jump backwards (new stream) of more than one interval restarts.
            if pts_s < nxt - 2 * self.interval_s:
                self._next_due = pts_s + self.interval_s
                return True
            return False
        base = pts_s if nxt is None else nxt
        self._next_due = base + self.interval_s
        if self._next_due <= pts_s + PTS_TOLERANCE_S:
            # A gap in the stream: do not pass a burst of frames to catch up.
            self._next_due = pts_s + self.interval_s
        return True

    def reset(self) -> None:
        self._next_due = None


class LagGate:
    """Tells whether a live frame is stale: the reader has fallen more than ``max_lag_s``
    behind the stream (wall time advanced more than media time since the best moment seen).

    ``wall - pts`` is constant while the reader keeps up; it grows when the consumer is slow
    and frames wait in buffers.  Stale frames are dropped (decoded, but not converted or
    passed on) until the reader has caught up again.
    """

    def __init__(self, max_lag_s: float) -> None:
        self.max_lag_s = max_lag_s
        self._best: float | None = None

    def stale(self, pts_s: float, wall_s: float) -> bool:
        offset = wall_s - pts_s
        if self._best is None or offset < self._best:
            self._best = offset
        return offset - self._best > self.max_lag_s

    def reset(self) -> None:
        self._best = None
