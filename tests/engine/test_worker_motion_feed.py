"""The worker tells its source's motion feed what the analysis saw on each frame (issue 18:
the source's decoder rests on a still scene, sources/still.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from citywatch.engine.worker import CameraWorker
from citywatch.sources.still import MotionFeed
from citywatch.vision.record import Frame, FrameRecord, Motion


class Source:
    def __init__(self, n: int) -> None:
        self.n = n

    def frames(self) -> Iterator[Frame]:
        for i in range(self.n):
            yield Frame("cam-1", 10 + i, i / 5, time.time(), np.zeros((4, 4, 3), np.uint8))

    def stop(self) -> None:
        pass


class Pipeline:
    """Moving on the frames in ``moving``; no motion gate at all on those in ``ungated``;
    fails on those in ``bad``."""

    def __init__(self, moving: set[int], ungated: set[int], bad: set[int]) -> None:
        self.moving, self.ungated, self.bad = moving, ungated, bad

    def process(self, frame: Frame) -> tuple[FrameRecord, list[Any]]:
        if frame.index in self.bad:
            raise ValueError("broken frame")
        record = FrameRecord(frame)
        if frame.index not in self.ungated:
            record.motion = Motion(moving=frame.index in self.moving, fraction=0.0)
        return record, []

    def flush(self) -> list[Any]:
        return []


class Feed(MotionFeed):
    def __init__(self) -> None:
        super().__init__()
        self.told: list[tuple[int, float, bool]] = []

    def seen(self, index: int, pts_s: float, moving: bool) -> None:
        self.told.append((index, round(pts_s, 3), moving))
        super().seen(index, pts_s, moving)


class Sink:
    def handle(self, camera_id: str, sightings: list[Any]) -> None:
        pass


def test_each_analysed_frame_is_reported_by_index_and_media_time() -> None:
    feed = Feed()
    pipe = Pipeline(moving={12}, ungated={14}, bad={15})
    CameraWorker("cam-1", Source(8), pipe, Sink(), live=False, motion_feed=feed).run()
    assert feed.told == [
        (10, 0.0, False),
        (11, 0.2, False),
        (12, 0.4, True),
        (13, 0.6, False),
        (14, 0.8, True),  # no motion gate: counts as moving (never rests)
        (15, 1.0, True),  # the analysis failed: counts as moving
        (16, 1.2, False),
        (17, 1.4, False),
    ]
    assert feed.last_index == 17 and feed.still_for() == pytest.approx(0.2)
    assert feed.moved_after(14)
    assert not feed.moved_after(15)


def test_without_a_feed_nothing_is_reported() -> None:
    stats = CameraWorker("cam-1", Source(3), Pipeline(set(), set(), set()), Sink(), live=False)
    assert stats.run().analysed == 3
