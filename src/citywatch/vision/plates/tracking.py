"""Plate tracks: overlap for plates that stand still, motion plus text for plates that move.

At 5 analysed frames per second a car at 30 km/h moves its plate several plate widths between
frames, so boxes stop overlapping and a pure IoU tracker splits one car into many tracks.  A
plate, unlike a face, carries its own identity: a detection continues a track when its box
overlaps the track's predicted box, or when it lies within ``max_jump`` plate widths of it *and*
reads alike (edit distance at most ``max_text_distance``).  An overlapping box that reads a
clearly other plate (both reads at least :data:`MIN_APART_CHARS` long, more than half of the
longer one differing) starts a track of its own: the next car of a queue, stopped where the
one before it stood, is another plate, and continuing the first car's track (already reported)
would never report it.  Implements the :class:`~citywatch.vision.tracking.Tracker` contract.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from citywatch.config.plates import PlateTrackerConfig
from citywatch.vision.boxes import box_iou
from citywatch.vision.plates.formats import edit_distance
from citywatch.vision.record import Detections, FloatArray

#: Reads shorter than this are too partial to say that two boxes hold different plates.
MIN_APART_CHARS = 4


def reads_apart(a: str, b: str) -> bool:
    """Whether two reads are of different plates, not one plate read twice: both at least
    :data:`MIN_APART_CHARS` long and more than half of the longer one differing (a misread or
    a partial read of the same plate differs in a character or two)."""
    if min(len(a), len(b)) < MIN_APART_CHARS:
        return False
    return 2 * edit_distance(a, b) > max(len(a), len(b))


@dataclass(slots=True)
class _Track:
    track_id: int
    box: FloatArray  # last seen xyxy
    seen: float  # media time last seen
    text: str
    velocity: FloatArray  # px per second of the box (xyxy), from the last two sightings

    def predicted(self, t: float) -> FloatArray:
        return self.box + self.velocity * (t - self.seen)


class PlateTracker:
    def __init__(
        self,
        *,
        min_iou: float = 0.1,
        max_jump: float = 3.0,
        max_text_distance: int = 2,
        lost_s: float = 1.5,
    ) -> None:
        self._min_iou = min_iou
        self._max_jump = max_jump
        self._max_text = max_text_distance
        self._lost_s = lost_s
        self._tracks: list[_Track] = []
        self._next_id = 1

    @classmethod
    def from_config(cls, cfg: PlateTrackerConfig) -> PlateTracker:
        return cls(
            min_iou=cfg.min_iou,
            max_jump=cfg.max_jump,
            max_text_distance=cfg.max_text_distance,
            lost_s=cfg.lost_s,
        )

    def __len__(self) -> int:
        return len(self._tracks)

    def _cost(
        self, box: FloatArray, text: str, track: _Track, pred: FloatArray, iou: float
    ) -> float:
        """0..1 for overlap, 1..2 for a jump that reads alike, inf for no match (nor for an
        overlap that reads another plate)."""
        if iou >= self._min_iou:
            return float("inf") if reads_apart(text, track.text) else 1.0 - iou
        if not text or not track.text or edit_distance(text, track.text) > self._max_text:
            return float("inf")
        width = max(float(box[2] - box[0]), float(pred[2] - pred[0]), 1.0)
        centre = (box[:2] + box[2:]) / 2.0
        pcentre = (pred[:2] + pred[2:]) / 2.0
        jump = float(np.hypot(*(centre - pcentre))) / width
        return 1.0 + jump / self._max_jump if jump <= self._max_jump else float("inf")

    def update(self, detections: Detections, t: float) -> Detections:
        self._tracks = [tr for tr in self._tracks if t - tr.seen <= self._lost_s]
        n = len(detections)
        ids = np.full(n, -1, np.int64)
        texts = detections.text if detections.text else ("",) * n
        preds = np.array([tr.predicted(t) for tr in self._tracks], np.float32).reshape(-1, 4)
        iou = box_iou(detections.xyxy, preds)
        pairs = []
        for i in range(n):
            for j, tr in enumerate(self._tracks):
                cost = self._cost(detections.xyxy[i], texts[i], tr, preds[j], float(iou[i, j]))
                if np.isfinite(cost):
                    pairs.append((cost, i, j))
        used_d: set[int] = set()
        used_t: set[int] = set()
        for _, i, j in sorted(pairs):
            if i in used_d or j in used_t:
                continue
            used_d.add(i)
            used_t.add(j)
            tr = self._tracks[j]
            box = detections.xyxy[i].astype(np.float32)
            dt = t - tr.seen
            if dt > 0:
                tr.velocity = (box - tr.box) / dt
            tr.box, tr.seen, ids[i] = box, t, tr.track_id
            tr.text = texts[i] or tr.text
        for i in range(n):
            if i not in used_d:
                ids[i] = self._next_id
                self._tracks.append(
                    _Track(
                        self._next_id,
                        detections.xyxy[i].astype(np.float32),
                        t,
                        texts[i],
                        np.zeros(4, np.float32),
                    )
                )
                self._next_id += 1
        return detections.with_tracks(ids)
