"""A clean plate as a camera sees it, cut out as the plate stage cuts it.

:func:`camera_view` puts the face-on plate (:mod:`citywatch.training.plate_render`) in a scene,
turns it in perspective, brings it to CCTV size (capitals 8-40 px high, most 14-32), and cuts
the box a text detector would have found around its number, padded as the plate reader pads
it; the crop is then dirtied, occluded in part, blurred, darkened for night, given sensor noise
and JPEG-compressed.  Every choice comes from the ``random.Random`` passed in: the same seed
gives the same crops.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import cv2
import numpy as np

from citywatch.training.plate_render import CAP, CleanPlate, to_bgr
from citywatch.vision.record import ImageBGR


@dataclass(frozen=True)
class ViewSettings:
    """How far the views vary (the defaults are what the shipped model was trained on)."""

    cap_px: tuple[float, float] = (9.0, 40.0)  # capital height in the camera picture
    max_roll_deg: float = 7.0
    max_yaw: float = 0.25  # one side of the plate nearer by up to this fraction
    max_shear: float = 0.15
    p_night: float = 0.2
    p_dirt: float = 0.25
    p_occlusion: float = 0.12
    p_jpeg: float = 0.7
    p_grey: float = 0.1
    p_whole_plate: float = 0.2  # cut the whole plate (a plate detector's box), not the number
    pad: float = 0.15  # the reader's padding (times the box height; PlateReaderConfig.pad_x/y)


def _cap_height(rng: random.Random, lo: float, hi: float) -> float:
    """Most crops 14-32 px, some smaller and larger (log-uniform mixture)."""
    if rng.random() < 0.75:
        return math.exp(rng.uniform(math.log(max(lo, 14.0)), math.log(min(hi, 32.0))))
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _homography(
    w: float, h: float, scale: float, s: ViewSettings, rng: random.Random
) -> np.ndarray:
    """Plate (w x h, face-on) to camera picture: scaled, rolled, sheared, one side nearer."""
    yaw = rng.uniform(-s.max_yaw, s.max_yaw)
    pitch = rng.uniform(-0.12, 0.12)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    # one side taller (yaw), the top or the bottom wider (pitch)
    left, right = 1 + min(0.0, yaw), 1 - max(0.0, yaw)
    top, bottom = 1 + min(0.0, pitch), 1 - max(0.0, pitch)
    dst = np.array(
        [
            [w * (1 - top) / 2, h * (1 - left) / 2],
            [w - w * (1 - top) / 2, h * (1 - right) / 2],
            [w - w * (1 - bottom) / 2, h - h * (1 - right) / 2],
            [w * (1 - bottom) / 2, h - h * (1 - left) / 2],
        ],
        np.float32,
    )
    persp = cv2.getPerspectiveTransform(src, dst)
    shear = np.array([[1, rng.uniform(-s.max_shear, s.max_shear), 0], [0, 1, 0], [0, 0, 1]], float)
    angle = math.radians(rng.uniform(-s.max_roll_deg, s.max_roll_deg))
    c, si = math.cos(angle) * scale, math.sin(angle) * scale
    rot = np.array([[c, -si, 0], [si, c, 0], [0, 0, 1]], float)
    return rot @ shear @ persp


def box_jitter(box_h: float, rng: random.Random) -> list[float]:
    """How much looser (or, by a little, tighter) than the text a detector's box is on each
    side (left, top, right, bottom), in pixels for a box ``box_h`` high."""
    return [rng.uniform(-0.06, 0.2) * box_h for _ in range(4)]


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ m.T
    return p[:, :2] / p[:, 2:3]


def _scene_colour(rng: random.Random) -> tuple[int, int, int]:
    v = rng.randint(10, 230)
    return tuple(int(np.clip(v + rng.randint(-40, 40), 0, 255)) for _ in range(3))  # type: ignore[return-value]


def camera_view(plate: CleanPlate, rng: random.Random, s: ViewSettings | None = None) -> ImageBGR:
    """The crop the plate reader would read of ``plate`` seen by a camera (BGR uint8)."""
    s = s or ViewSettings()
    h, w = plate.rgb.shape[:2]
    cap = _cap_height(rng, *s.cap_px)
    # warp at twice the size, then halve with area averaging (the lens and sensor blur)
    over = 2.0
    m = _homography(w, h, over * cap / CAP, s, rng)
    x0, y0, x1, y1 = plate.number_box
    if rng.random() < s.p_whole_plate:
        x0, y0, x1, y1 = 0.0, 0.0, float(w), float(h)
    corners = _apply(m, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float))
    bx0, by0 = corners.min(axis=0)
    bx1, by1 = corners.max(axis=0)
    bh = by1 - by0
    # the detector's box is loose or tight by a little, then the reader pads it
    jit = box_jitter(bh, rng)
    jit[0] += rng.uniform(0, 0.5) * bh if rng.random() < 0.3 else 0.0  # the EU band, in part
    pad = s.pad * bh
    cx0, cy0 = bx0 - jit[0] - pad, by0 - jit[1] - pad
    cx1, cy1 = bx1 + jit[2] + pad, by1 + jit[3] + pad
    out_w = max(4, round(cx1 - cx0))
    out_h = max(4, round(cy1 - cy0))
    shift = np.array([[1, 0, -cx0], [0, 1, -cy0], [0, 0, 1]], float)
    scene = _scene_colour(rng)
    view = cv2.warpPerspective(
        to_bgr(plate.rgb), shift @ m, (out_w, out_h), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=scene,
    )  # fmt: skip
    view = cv2.resize(
        view, (max(2, round(out_w / over)), max(2, round(out_h / over))),
        interpolation=cv2.INTER_AREA,
    )  # fmt: skip
    return degrade(np.asarray(view, np.uint8), rng, s)


def _dirt(img: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = img.shape[:2]
    layer = img.copy()
    for _ in range(rng.randint(1, 6)):
        colour = [rng.randint(40, 120)] * 3
        centre = (rng.randint(0, w), rng.randint(0, h))
        axes = (rng.randint(1, max(2, w // 5)), rng.randint(1, max(2, h // 3)))
        cv2.ellipse(layer, centre, axes, rng.uniform(0, 180), 0, 360, colour, -1)
    alpha = rng.uniform(0.15, 0.45)
    return cv2.addWeighted(layer, alpha, img, 1 - alpha, 0)


def _occlude(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Cover a band along the top or bottom edge, or a thin bar across (a tow bar, a frame,
    a bumper): never more than a third of the characters' height."""
    h, w = img.shape[:2]
    out = img.copy()
    colour = _scene_colour(rng)
    kind = rng.random()
    if kind < 0.6:  # the plate frame or a bumper along one edge
        depth = max(1, round(h * rng.uniform(0.1, 0.3)))
        if rng.random() < 0.5:
            out[:depth] = colour
        else:
            out[h - depth :] = colour
    else:  # a thin vertical bar (a pole, a tow hook) across part of the width
        bw = max(1, round(w * rng.uniform(0.02, 0.05)))
        x = rng.randint(0, max(0, w - bw))
        y_end = round(h * rng.uniform(0.3, 0.5))
        out[:y_end, x : x + bw] = colour
    return out


def degrade(img: np.ndarray, rng: random.Random, s: ViewSettings) -> ImageBGR:
    """Dirt, occlusion, blur, night, noise and JPEG on a crop at camera size."""
    if rng.random() < s.p_dirt:
        img = _dirt(img, rng)
    if rng.random() < s.p_occlusion:
        img = _occlude(img, rng)
    r = rng.random()
    if r < 0.35:
        sigma = rng.uniform(0.3, 1.1)
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    elif r < 0.5:  # motion blur along the road
        n = rng.randint(2, 4)
        k = np.zeros((n, n), np.float32)
        k[n // 2, :] = 1.0 / n
        img = cv2.filter2D(img, -1, k)
    f = img.astype(np.float32)
    if rng.random() < s.p_night:
        if rng.random() < 0.4:  # infrared: grey, the retro-reflective plate bright
            g = f.mean(axis=2, keepdims=True)
            f = np.repeat(np.clip((g - 60) * rng.uniform(1.2, 1.8), 0, 255), 3, axis=2)
        else:
            f = 255.0 * (f / 255.0) ** rng.uniform(1.3, 2.2) * rng.uniform(0.25, 0.6)
            f *= np.array(
                [rng.uniform(0.7, 1.0), rng.uniform(0.8, 1.0), rng.uniform(0.9, 1.2)], np.float32
            )
        noise = rng.uniform(4, 14)
    else:
        f = f * rng.uniform(0.6, 1.25) + rng.uniform(-35, 30)
        noise = rng.uniform(0, 7)
    if rng.random() < s.p_grey:
        f = np.repeat(f.mean(axis=2, keepdims=True), 3, axis=2)
    gen = np.random.default_rng(rng.getrandbits(32))
    f = f + gen.normal(0.0, noise, f.shape).astype(np.float32)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < s.p_jpeg:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(15, 90)])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            out = np.asarray(decoded, np.uint8)
    return out
