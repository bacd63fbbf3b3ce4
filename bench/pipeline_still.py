"""Helpers of bench/pipeline.py for the decoder resting on a still scene (issue 18,
``sources/still.py``): each analysed frame's motion kept with the CPU an idle camera pays, the
detection delay of motion onsets and the runs of motion a resting run never saw."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from citywatch.config.camera import CameraConfig
from citywatch.decisions.types import Sighting
from citywatch.engine.worker import PipelineLike
from citywatch.vision.record import Frame


class Moves:
    """The pipeline, with each analysed frame's media time and motion verdict kept, and the
    process's CPU (every thread) between consecutive still frames: what an idle camera pays
    per second of video, decode included, whatever its decoder skips."""

    def __init__(self, inner: PipelineLike) -> None:
        self.inner = inner
        self.seen: list[tuple[float, bool]] = []
        self.idle_cpu_s = 0.0
        self.idle_video_s = 0.0
        self._last: tuple[float, float] | None = None  # (pts, process CPU) of a still frame

    def process(self, frame: Frame) -> tuple[Any, list[Sighting]]:
        record, out = self.inner.process(frame)
        motion = record.motion
        moving = motion is None or motion.moving
        self.seen.append((frame.pts_s, moving))
        now = time.process_time()
        if not moving and self._last is not None:
            self.idle_video_s += frame.pts_s - self._last[0]
            self.idle_cpu_s += now - self._last[1]
        self._last = None if moving else (frame.pts_s, now)
        return record, out

    def flush(self) -> list[Sighting]:
        return self.inner.flush()


def still_supported() -> bool:
    return "still_decode" in CameraConfig.model_fields


def video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as c:
        return (c.duration or 0) / 1_000_000


def onset_delays(
    full: list[tuple[float, bool]], rested: list[tuple[float, bool]], still_s: float = 2.0
) -> list[float]:
    """For each motion onset with every picture decoded (a moving frame after ``still_s`` of
    still ones), how much later the first moving frame at or after it was analysed with the
    decoder resting (nan: never)."""
    onsets: list[float] = []
    since: float | None = None
    for pts, moving in full:
        if moving:
            if since is not None and pts - since >= still_s:
                onsets.append(pts)
            since = None
        elif since is None:
            since = pts
    moving_at = [pts for pts, moving in rested if moving]
    out = []
    for t in onsets:
        later = [p for p in moving_at if p >= t - 1e-6]
        out.append(later[0] - t if later else float("nan"))
    return out


def episodes_missed(full: list[tuple[float, bool]], rested: list[tuple[float, bool]]) -> int:
    """Runs of moving frames (every picture decoded) during which the resting run analysed no
    moving frame at all: motion that came and went unseen."""
    runs: list[tuple[float, float]] = []
    was_moving = False
    for pts, moving in full:
        if moving and was_moving:
            runs[-1] = (runs[-1][0], pts)
        elif moving:
            runs.append((pts, pts))
        was_moving = moving
    moving_at = [pts for pts, moving in rested if moving]
    return sum(1 for a, b in runs if not any(a - 1e-6 <= p <= b + 1e-6 for p in moving_at))
