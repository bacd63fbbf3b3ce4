"""Stacked (two-line) plates read by a one-line recogniser: which text lines of a frame lie one
above the other as the two lines of one plate, and their reads joined into one.

Motorcycle plates, square plates and some national styles (a German ``KA AB`` over ``123``, a
US ``AB`` over ``1234``) print the number on two lines.  The text detector finds each line, and
a one-line recogniser reads each alone, so neither read is the plate.  :func:`stacked_pairs`
finds pairs of line boxes that sit one under the other (similar height, a small gap, mostly
the same columns); the reader reads both and :func:`join_lines` puts the lower line's steps
after the upper line's with a separator between, so the format-aware decoding
(:func:`~citywatch.vision.plates.ctc.decode`) reads the pair as one plate, upper line first
(what a two-row model gives too: :mod:`citywatch.vision.plates.ppocr`).  The stage keeps the
joined read only where it scores better than each line read alone.  Pure functions on our own
types.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from citywatch.vision.plates.ctc import CharProbs
from citywatch.vision.record import FloatArray

MAX_HEIGHT_RATIO = 2.0  # the taller line at most this many times the shorter
MAX_GAP = 0.8  # the gap between the lines at most this fraction of the shorter's height
MAX_OVERLAP = 0.35  # the boxes may overlap by this fraction of the shorter's height
MIN_COLUMNS = 0.5  # the lines share at least this fraction of the narrower's width
# the two lines' widths over their heights, summed, at most this: a stacked plate holds some 8
# characters on its two lines (about 0.65 of a line's height each, plus the box's margins),
# so a plate-long line over another long line (a serial under a state's name) is no pair
MAX_ASPECT_SUM = 7.0
# a line narrower than a plate's line alone may be read as one line of a stacked plate (two
# characters, ZG, over 123 AB), above or below a plate-shaped line, and is this wide at least
STACKED_MIN_ASPECT = 0.8


def is_stacked(upper: FloatArray, lower: FloatArray) -> bool:
    """Whether the box ``lower`` sits under ``upper`` as the second line of one plate."""
    ax0, ay0, ax1, ay1 = (float(v) for v in upper)
    bx0, by0, bx1, by1 = (float(v) for v in lower)
    ha, hb = ay1 - ay0, by1 - by0
    wa, wb = ax1 - ax0, bx1 - bx0
    if min(ha, hb, wa, wb) <= 0 or max(ha, hb) > MAX_HEIGHT_RATIO * min(ha, hb):
        return False
    if wa / ha + wb / hb > MAX_ASPECT_SUM:
        return False
    if (ay0 + ay1) / 2 >= (by0 + by1) / 2:
        return False  # not above it
    gap = by0 - ay1
    if not -MAX_OVERLAP * min(ha, hb) <= gap <= MAX_GAP * min(ha, hb):
        return False
    shared = min(ax1, bx1) - max(ax0, bx0)
    return shared >= MIN_COLUMNS * min(wa, wb)


def stacked_pairs(xyxy: FloatArray) -> list[tuple[int, int]]:
    """(upper, lower) indices of the boxes that are two lines of one plate, each box in one
    pair at most: where a line could pair with several, the pair whose lines are closest in
    height and column wins."""
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    scored = []
    for i in range(len(boxes)):
        for j in range(len(boxes)):
            if i != j and is_stacked(boxes[i], boxes[j]):
                hi, hj = boxes[i, 3] - boxes[i, 1], boxes[j, 3] - boxes[j, 1]
                ci, cj = (boxes[i, 0] + boxes[i, 2]) / 2, (boxes[j, 0] + boxes[j, 2]) / 2
                cost = abs(float(np.log(hi / hj))) + abs(float(ci - cj)) / float(max(hi, hj))
                scored.append((cost, i, j))
    used: set[int] = set()
    out = []
    for _, i, j in sorted(scored):
        if i not in used and j not in used:
            out.append((i, j))
            used |= {i, j}
    return out


def short_stacked_lines(
    xyxy: FloatArray,
    window: FloatArray,
    kept: npt.NDArray[np.int64],
    min_aspect: float,
    min_line: float,
) -> npt.NDArray[np.int64]:
    """Indices of the lines in ``xyxy`` centred in ``window`` that are too narrow for a plate's
    line alone (width over height under ``min_aspect``, at least :data:`STACKED_MIN_ASPECT`),
    at least ``min_line`` of the window high, and right above or below a line of ``kept``."""
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    x0, y0, x1, y1 = (float(v) for v in window)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    heights = boxes[:, 3] - boxes[:, 1]
    aspect = (boxes[:, 2] - boxes[:, 0]) / np.maximum(heights, 1e-6)
    short = np.flatnonzero(
        (centres[:, 0] >= x0) & (centres[:, 0] <= x1)
        & (centres[:, 1] >= y0) & (centres[:, 1] <= y1)
        & (aspect >= STACKED_MIN_ASPECT) & (aspect < min_aspect)
        & (heights >= min_line * (y1 - y0))
    )  # fmt: skip
    out = [
        k
        for k in short
        if any(is_stacked(boxes[k], boxes[m]) or is_stacked(boxes[m], boxes[k]) for m in kept)
    ]
    return np.asarray(out, np.int64)


def join_lines(upper: CharProbs, lower: CharProbs) -> CharProbs:
    """The two lines' steps as one line: the upper's, one separator step, the lower's."""
    sep_chars = np.zeros((1, upper.chars.shape[1]), np.float32)
    one, none = np.ones(1, np.float32), np.zeros(1, np.float32)
    return CharProbs(
        np.concatenate([upper.chars, sep_chars, lower.chars]).astype(np.float32),
        np.concatenate([upper.blank, none, lower.blank]).astype(np.float32),
        np.concatenate([upper.gap, one, lower.gap]).astype(np.float32),
        np.concatenate([upper.other, none, lower.other]).astype(np.float32),
    )
