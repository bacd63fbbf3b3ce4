"""The colour of a vehicle's body, named (one of :data:`COLOURS`), from the pixels around its
plate.

The body region is the middle of the vehicle box (10-90 % of its width, 30-90 % of its
height: below most of the glass, above the road), the plate itself left out, and of it the
pixels darker than :data:`SHADOW_RATIO` of its 90th lightness percentile (shadow, glass, tyres,
grille) unless that leaves too few (a black car).  A colour is named when at least
:data:`CHROMA_SHARE` of the remaining pixels carry colour (CIELAB chroma >= :data:`MIN_CHROMA`;
bluish hues need :data:`MIN_CHROMA_BLUE`, since sky light tints silver paint blue), by the hue
most of them have (dark orange and yellow are brown); otherwise the body is white, grey or
black by their median lightness relative to the plate's background (its 85th lightness
percentile): the plate is the one surface of known brightness in the picture, so a white car
in shade is not called grey for being darker than a white car in the sun.

Measured on the labelled dev photos (``bench/vehicles/labels.csv``, 161 bodies found and named
by eye; ``citywatch eval vehicles``): 0.671 right.  The thresholds were chosen on the even rows
(0.662) and are reported on the held-out odd rows (0.679); chosen on the odd rows instead
(0.716 there) the shadow rule came out at 0.3 and gave 0.625 on the even rows, against 0.637
without it: the gain holds on one half and is a wash on the other (``docs/vehicles.md``).
White and silver are told apart worst.  Under the 0.8 issue 20 asks for: a named colour is a
hint for an operator, never a match criterion.
"""

from __future__ import annotations

import math
from collections import Counter

import cv2
import numpy as np
import numpy.typing as npt

from citywatch.vision.record import ImageBGR

COLOURS: tuple[str, ...] = (
    "white",
    "grey",
    "black",
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "brown",
)
BODY = (0.10, 0.30, 0.90, 0.90)  # body region: fractions of the vehicle box (x0, y0, x1, y1)
MIN_CHROMA = 7.0  # CIELAB chroma (8-bit Lab, a and b centred) of a coloured pixel
# bluish pixels need more: daylight and sky reflections tint silver and grey paint blue
MIN_CHROMA_BLUE = 12.0
BLUE_HUES = (200.0, 300.0)  # CIELAB hue angles (degrees) named blue
CHROMA_SHARE = 0.4  # share of coloured pixels that makes the body coloured
# shadow, glass, tyres and grille: pixels darker than this share of the region's 90th
# lightness percentile are left out, unless fewer than SHADOW_KEEP of the pixels would remain
# (a black car is dark all over)
SHADOW_RATIO = 0.4
SHADOW_KEEP = 0.3
WHITE_RATIO = 0.85  # median body lightness / plate background lightness: white at or above
BLACK_RATIO = 0.50  # black below; grey between
MAX_PIXELS = 3000  # pixels sampled from the region


def hue_name(a: float, b: float, lightness: float) -> str:
    """The name of a coloured pixel: CIELAB a, b (centred) and lightness 0..100."""
    hue = math.degrees(math.atan2(b, a)) % 360
    if hue < 40 or hue >= 300:
        return "red"
    if hue < 105:
        if lightness < 55:
            return "brown"
        return "orange" if hue < 70 else "yellow"
    if hue < BLUE_HUES[0]:
        return "green"
    return "blue"


def _lab(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    lab = cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_BGR2LAB).reshape(-1, 3)
    out = lab.astype(np.float64)
    out[:, 0] *= 100.0 / 255.0
    out[:, 1:] -= 128.0
    return out


def body_pixels(
    image: ImageBGR, vehicle: npt.ArrayLike, plate: npt.ArrayLike
) -> npt.NDArray[np.uint8]:
    """(N, 3) BGR pixels of the body region of ``vehicle`` (xyxy), ``plate`` (xyxy) left out;
    empty when the region is."""
    h, w = image.shape[:2]
    vx0, vy0, vx1, vy1 = (float(v) for v in np.asarray(vehicle).reshape(4))
    px0, py0, px1, py1 = (float(v) for v in np.asarray(plate).reshape(4))
    vw, vh = vx1 - vx0, vy1 - vy0
    x0, y0 = int(max(0, vx0 + BODY[0] * vw)), int(max(0, vy0 + BODY[1] * vh))
    x1, y1 = int(min(w, vx0 + BODY[2] * vw)), int(min(h, vy0 + BODY[3] * vh))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((0, 3), np.uint8)
    keep = np.ones((y1 - y0, x1 - x0), bool)
    pw, ph = px1 - px0, py1 - py0
    ax0, ay0 = int(max(0, px0 - 0.1 * pw - x0)), int(max(0, py0 - 0.2 * ph - y0))
    ax1, ay1 = int(max(0, px1 + 0.1 * pw - x0)), int(max(0, py1 + 0.2 * ph - y0))
    keep[ay0:ay1, ax0:ax1] = False
    pixels = image[y0:y1, x0:x1][keep]
    if len(pixels) > MAX_PIXELS:
        pixels = pixels[np.linspace(0, len(pixels) - 1, MAX_PIXELS).astype(np.int64)]
    return np.ascontiguousarray(pixels, np.uint8)


def plate_lightness(image: ImageBGR, plate: npt.ArrayLike) -> float | None:
    """The plate background's lightness (85th percentile, 0..100); None for an empty box."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (round(float(v)) for v in np.asarray(plate).reshape(4))
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return float(np.percentile(_lab(image[y0:y1, x0:x1])[:, 0], 85))


def name_colour(image: ImageBGR, vehicle: npt.ArrayLike, plate: npt.ArrayLike) -> tuple[str, float]:
    """The body colour of the vehicle (xyxy) that holds ``plate`` (xyxy), and the share of
    the region's pixels that agree with it (0..1); ``("", 0.0)`` when there is no region."""
    pixels = body_pixels(image, vehicle, plate)
    if len(pixels) == 0:
        return "", 0.0
    lab = _lab(pixels)
    lit = lab[:, 0] >= SHADOW_RATIO * np.percentile(lab[:, 0], 90)
    if lit.mean() >= SHADOW_KEEP:
        lab = lab[lit]
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360
    bluish = (hue >= BLUE_HUES[0]) & (hue < BLUE_HUES[1])
    coloured = chroma >= np.where(bluish, MIN_CHROMA_BLUE, MIN_CHROMA)
    if coloured.mean() >= CHROMA_SHARE:
        names = Counter(hue_name(a, b, lt) for lt, a, b in lab[coloured])
        colour, n = names.most_common(1)[0]
        return colour, n / len(lab)
    reference = plate_lightness(image, plate) or 100.0
    ratio = float(np.median(lab[:, 0])) / max(reference, 1.0)
    colour = "white" if ratio >= WHITE_RATIO else "black" if ratio < BLACK_RATIO else "grey"
    return colour, float(np.mean(~coloured))
