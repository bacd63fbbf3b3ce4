"""Motion gate: a downscaled MOG2 background model that tells the detectors where to look.

A frame without motion costs one resize, one background update and a count: the detectors
are skipped.  Given the decoder's grey (luma) plane instead of a BGR picture, the gate needs no
colour conversion at all, and a still frame is never converted to BGR.  Moving regions come
back as full-frame xyxy boxes, grown by a margin and merged, so a plate reader can read only
where something moved.
"""

from __future__ import annotations

import cv2
import numpy as np

from citywatch.vision.boxes import merge_boxes
from citywatch.vision.record import FloatArray, ImageBGR, Luma, Motion

#: limited-range luma (16-235) to full range (0-255)
_VIDEO_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)


class MotionGate:
    def __init__(
        self,
        *,
        scale_width: int = 320,
        min_fraction: float = 0.002,
        margin: float = 0.25,
        history: int = 200,
        warmup_frames: int = 3,
    ) -> None:
        self._scale_width = scale_width
        self._min_fraction = min_fraction
        self._margin = margin
        self._warmup = warmup_frames
        self._seen = 0
        self._bg = cv2.createBackgroundSubtractorMOG2(
            history=history, varThreshold=25, detectShadows=False
        )
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def update(self, image: ImageBGR | Luma) -> Motion:
        """The motion of one frame: ``image`` is the frame in BGR or the decoder's grey plane
        (then nothing is converted; limited-range samples are stretched to 0-255 after the
        resize, so the gate sees what it would see in BGR: the same weights of R, G and B)."""
        plane = image.plane if isinstance(image, Luma) else image
        h, w = plane.shape[:2]
        scale = min(1.0, self._scale_width / w)
        small = cv2.resize(plane, (max(1, round(w * scale)), max(1, round(h * scale))))
        if isinstance(image, Luma):
            gray = cv2.LUT(small, _VIDEO_TO_FULL) if image.video_range else small
        else:
            gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        gray = cv2.GaussianBlur(gray, (5, 5), 0)
        mask = self._bg.apply(gray)
        self._seen += 1
        if self._seen <= self._warmup:
            # No background yet: treat the whole frame as moving so nothing is missed.
            full = np.array([[0, 0, w, h]], np.float32)
            return Motion(moving=True, fraction=1.0, regions=full, warmup=True)
        if cv2.countNonZero(mask) == 0:
            # A still frame (most of an idle camera's): opening and dilating nothing leaves
            # nothing, the same answer without the two passes.
            return Motion(moving=False, fraction=0.0)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        mask = cv2.dilate(mask, self._kernel, iterations=2)
        fraction = float(np.count_nonzero(mask)) / mask.size
        if fraction < self._min_fraction:
            return Motion(moving=False, fraction=fraction)
        regions = _regions(mask, 1.0 / scale, self._margin, w, h)
        return Motion(moving=len(regions) > 0, fraction=fraction, regions=regions)


def _regions(mask: np.ndarray, inv_scale: float, margin: float, w: int, h: int) -> FloatArray:
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = []
    min_area = max(4, int(mask.size * 0.0005))
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if area < min_area:
            continue
        mx, my = bw * margin, bh * margin
        boxes.append(
            [
                max(0.0, (x - mx) * inv_scale),
                max(0.0, (y - my) * inv_scale),
                min(float(w), (x + bw + mx) * inv_scale),
                min(float(h), (y + bh + my) * inv_scale),
            ]
        )
    return merge_boxes(np.asarray(boxes, np.float32).reshape(-1, 4))
