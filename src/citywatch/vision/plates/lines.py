"""Pure functions on one frame's text boxes and on the reads of one candidate window, used by
:class:`~citywatch.vision.plates.stage.PlateStage`: which boxes can hold a plate, pieces of one
line joined, a box grown at an edge, whether one read extends another and which of two reads
of a window is kept.  Tested as tables (``tests/vision/plates/test_stage.py``,
``test_read_choice.py``)."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from citywatch.config.plates import PlateFilterConfig
from citywatch.vision.boxes import union_box
from citywatch.vision.plates.formats import Candidate
from citywatch.vision.record import Detections, FloatArray, ImageBGR

Side = Literal["left", "right"]
SIDES: tuple[Side, ...] = ("left", "right")
TIE = 0.01  # reads of one window this close in score are a tie (the recogniser sure of both)


def geometry_mask(dets: Detections, frame_h: int, cfg: PlateFilterConfig) -> np.ndarray:
    """Boxes whose shape can hold a one-line plate."""
    w, h = dets.widths, dets.heights
    aspect = w / np.maximum(h, 1e-6)
    return (
        (aspect >= cfg.min_aspect)
        & (aspect <= cfg.max_aspect)
        & (h >= cfg.min_height_px)
        & (h <= cfg.max_height_frac * frame_h)
    )


def equalise_contrast(image: ImageBGR) -> ImageBGR:
    """``image`` with the contrast of its lightness equalised locally (CLAHE, 8x8 tiles,
    clip 2): the characters of a plate in shade or at dusk become visible to the text
    detector.  Colours keep their hue."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lightness = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(lab[:, :, 0])
    lab[:, :, 0] = lightness
    return np.asarray(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), np.uint8)


def grow_sideways(box: FloatArray, side: Side, reach: float, width: int) -> FloatArray:
    """``box`` (xyxy) grown on ``side`` by ``reach`` times its height, inside ``width``."""
    x0, y0, x1, y1 = (float(v) for v in box)
    grow = reach * (y1 - y0)
    if side == "left":
        x0 = max(0.0, x0 - grow)
    else:
        x1 = min(float(width), x1 + grow)
    return np.array([x0, y0, x1, y1], np.float32)


def extends(tight: str, wider: str, side: Side) -> bool:
    """Whether ``wider``, read from a box grown on ``side``, is ``tight`` with characters
    added beyond that edge: longer, and holding all of ``tight`` but its character at that
    edge, which may be a glyph the box cut in part and so misread (``627WWI`` read ``6271``:
    a wider ``627WWI`` extends it; ``GLS168`` for ``LGLS168``, or ``1RDN464`` for ``RON464``,
    do not).  A wider read that changes anything else is the grown box pulling in a frame or
    a bolt, not a character the tight box cut off."""
    if len(wider) <= len(tight):
        return False
    if side == "left":
        return wider.endswith(tight[1:])
    return wider.startswith(tight[:-1])


def better_read(new: Candidate, old: Candidate, *, tie: float = TIE) -> bool:
    """Whether ``new`` is the better of two reads of one candidate window: the surer, but
    within ``tie`` of each other the one that holds the other with characters added at an
    edge (:func:`extends`, either side).  A line box that ends before the plate's last
    character reads a cut plate (``B310VL``) about as surely as the whole window reads it
    (``B310VLV``) when the recogniser is sure of every character it sees and both texts fit a
    format of the same weight; which of the two scored higher was then noise."""
    if abs(new.score - old.score) <= tie:
        if extends(old.text, new.text, "left") or extends(old.text, new.text, "right"):
            return True
        if extends(new.text, old.text, "left") or extends(new.text, old.text, "right"):
            return False
    return new.score > old.score


def merge_lines(dets: Detections, *, max_gap: float = 1.0, min_overlap: float = 0.6) -> Detections:
    """Join text boxes that sit side by side on one line (a plate split at its gaps or its
    crest: ``RK`` ``101`` ``AO``) into one box each; the score is the mean, weighted by width.

    Two boxes join when their vertical overlap is at least ``min_overlap`` of the shorter one's
    height and the horizontal gap between them is at most ``max_gap`` times that height.
    """
    if len(dets) < 2:
        return dets
    boxes = [b.astype(np.float64) for b in dets.xyxy]
    weights = [float(w) for w in dets.widths]
    scores = [float(s) * w for s, w in zip(dets.score, weights, strict=True)]
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                h = min(a[3] - a[1], b[3] - b[1])
                overlap = min(a[3], b[3]) - max(a[1], b[1])
                gap = max(a[0], b[0]) - min(a[2], b[2])
                if h > 0 and overlap >= min_overlap * h and gap <= max_gap * h:
                    boxes[i] = union_box(a, b)
                    weights[i] += weights[j]
                    scores[i] += scores[j]
                    del boxes[j], weights[j], scores[j]
                    merged = True
                    break
            if merged:
                break
    return Detections.from_boxes(
        np.asarray(boxes, np.float32),
        np.asarray([s / max(w, 1e-6) for s, w in zip(scores, weights, strict=True)], np.float32),
    )
