"""Blur faces in evidence snapshots: everyone but the matched person is made unrecognisable.

Each face box is grown (boxes run brow to chin; hair, ears and jaw identify people too), then
pixelated to a few blocks across and smoothed, so no detail of the face survives.  The input
image is never modified: a blurred copy comes back.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.vision.record import FloatArray, ImageBGR

GROW = 0.35  # each side grows by this fraction of the box size
BLOCKS = 6  # pixel blocks across a blurred face
#: A face found again on evidence overlapping the kept (matched) face at least this much is
#: that face, not another one to blur.
SAME_FACE_IOU = 0.3


def grown_boxes(
    xyxy: FloatArray, width: int, height: int, grow: float = GROW
) -> npt.NDArray[np.int64]:
    """Integer boxes grown by ``grow`` on every side and clipped to the image."""
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    w = (b[:, 2] - b[:, 0])[:, None]
    h = (b[:, 3] - b[:, 1])[:, None]
    grown = b + np.hstack([-w, -h, w, h]) * grow
    out = np.empty((len(b), 4), np.int64)
    out[:, [0, 2]] = np.clip(np.round(grown[:, [0, 2]]), 0, width)
    out[:, [1, 3]] = np.clip(np.round(grown[:, [1, 3]]), 0, height)
    return out


def blur_faces(
    image: ImageBGR,
    xyxy: FloatArray,
    keep: int | None = None,
    *,
    grow: float = GROW,
    blocks: int = BLOCKS,
) -> ImageBGR:
    """A copy of ``image`` with every face box blurred, except box number ``keep`` (if given)."""
    out = image.copy()
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    if keep is not None and not 0 <= keep < len(boxes):
        raise IndexError(f"blur_faces: keep={keep} but there are {len(boxes)} boxes")
    h, w = image.shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(grown_boxes(boxes, w, h, grow)):
        if i == keep or x2 - x1 < 1 or y2 - y1 < 1:
            continue
        region = out[y1:y2, x1:x2]
        bw, bh = x2 - x1, y2 - y1
        n = max(1, blocks)
        small = cv2.resize(region, (n, max(1, round(n * bh / bw))), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_NEAREST)
        k = max(3, (min(bw, bh) // n) | 1)
        out[y1:y2, x1:x2] = cv2.GaussianBlur(coarse, (k, k), 0)
    return out
