"""Multi-object tracking: ByteTrack from the ``trackers`` package, behind our own small contract.

``Tracker.update(detections, t)`` returns the same detections with ``track_id`` filled in
(detections the tracker does not confirm yet keep -1).  The adapter converts to and from
``supervision.Detections`` here, at the edge; nothing else imports ``trackers``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from citywatch.vision.boxes import box_iou
from citywatch.vision.record import Detections


class Tracker(Protocol):
    def update(self, detections: Detections, t: float) -> Detections: ...


class ByteTracker:
    """ByteTrack (``trackers.ByteTrackTracker``) for one camera and one object kind.

    ``frame_rate`` is the analysed rate (not the camera's native rate): at 5 fps a person walks
    much further between frames, so the IoU floor is kept low.  ``lost_s`` is how long a track
    survives without a detection.
    """

    def __init__(
        self,
        *,
        frame_rate: float = 5.0,
        lost_s: float = 2.0,
        activation_threshold: float = 0.5,
        min_iou: float = 0.05,
        min_consecutive: int = 1,
    ) -> None:
        from trackers import ByteTrackTracker

        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(lost_s * frame_rate)),
            frame_rate=frame_rate,
            track_activation_threshold=activation_threshold,
            minimum_consecutive_frames=min_consecutive,
            minimum_iou_threshold=min_iou,
            high_conf_det_threshold=activation_threshold,
        )

    def update(self, detections: Detections, t: float) -> Detections:
        import supervision as sv

        sv_dets = sv.Detections(
            xyxy=detections.xyxy.astype(np.float32).reshape(-1, 4),
            confidence=detections.score.astype(np.float32),
            class_id=np.zeros(len(detections), int),
        )
        out = self._tracker.update(sv_dets)
        ids = np.full(len(detections), -1, np.int64)
        if len(out) and len(detections) and out.tracker_id is not None:
            # The tracker may reorder or drop boxes: map back by best IoU.
            iou = box_iou(detections.xyxy, np.asarray(out.xyxy, np.float32))
            for j in range(len(out)):
                i = int(np.argmax(iou[:, j]))
                if iou[i, j] > 0.5 and int(out.tracker_id[j]) >= 0:
                    ids[i] = int(out.tracker_id[j])
        return detections.with_tracks(ids)


class IouTracker:
    """A dependency-free greedy IoU tracker, for tests and for plates (which barely move)."""

    def __init__(self, *, min_iou: float = 0.2, lost_s: float = 2.0) -> None:
        self._min_iou = min_iou
        self._lost_s = lost_s
        self._next_id = 1
        self._boxes = np.zeros((0, 4), np.float32)
        self._ids = np.zeros((0,), np.int64)
        self._seen = np.zeros((0,), np.float64)

    def update(self, detections: Detections, t: float) -> Detections:
        alive = (t - self._seen) <= self._lost_s
        self._boxes, self._ids, self._seen = self._boxes[alive], self._ids[alive], self._seen[alive]
        ids = np.full(len(detections), -1, np.int64)
        iou = box_iou(detections.xyxy, self._boxes)
        taken: set[int] = set()
        for i in np.argsort(-detections.score, kind="stable"):
            if iou.shape[1]:
                row = iou[i].copy()
                row[[j for j in taken if j < len(row)]] = -1
                j = int(np.argmax(row))
                if row[j] >= self._min_iou:
                    ids[i] = self._ids[j]
                    self._boxes[j] = detections.xyxy[i]
                    self._seen[j] = t
                    taken.add(j)
                    continue
            ids[i] = self._next_id
            self._next_id += 1
            self._boxes = np.vstack([self._boxes, detections.xyxy[i : i + 1]])
            self._ids = np.append(self._ids, ids[i])
            self._seen = np.append(self._seen, t)
            taken.add(len(self._ids) - 1)
        return detections.with_tracks(ids)
