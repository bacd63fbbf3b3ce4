"""Drawing for the demo footage: licence plates, textures, sprites and a car seen from behind.

Plates are drawn with DejaVu Sans Bold (shipped inside matplotlib) through Pillow.  The person
is cut out of ``skimage.data.astronaut()`` (Eileen Collins, NASA photograph, public domain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

from citywatch.vision.record import ImageBGR

FloatImage = npt.NDArray[np.float32]
BoxXYXY = tuple[int, int, int, int]

PLATE_STYLES = ("NL", "EU", "US")
_FACE_IN_ASTRONAUT = (178, 63, 267, 175)  # xyxy: the face in astronaut(), hairline to chin
_EU_BLUE = (0, 51, 153)  # RGB
_PLATE_BG = {"NL": (247, 200, 0), "EU": (250, 250, 248), "US": (245, 245, 240)}


# ---------------------------------------------------------------- plates


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans Bold from matplotlib's data when installed, else Pillow's built-in font."""
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"
        return ImageFont.truetype(str(path), size)
    except (ImportError, OSError):
        return ImageFont.load_default(size)


def _fit_font(
    draw: ImageDraw.ImageDraw, text: str, max_w: float, max_h: float
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    size = max(6, int(max_h * 1.4))
    while size > 6:
        font = _font(size)
        x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
        if x1 - x0 <= max_w and y1 - y0 <= max_h:
            return font
        size -= 2
    return _font(6)


def _draw_centered(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    text: str,
    fill: tuple[int, int, int],
    fill_ratio: float = 1.0,
) -> None:
    x0, y0, x1, y1 = box
    font = _fit_font(draw, text, x1 - x0, (y1 - y0) * fill_ratio)
    bx0, by0, bx1, by1 = draw.textbbox((0, 0), text, font=font)
    x = x0 + (x1 - x0 - (bx1 - bx0)) / 2 - bx0
    y = y0 + (y1 - y0 - (by1 - by0)) / 2 - by0
    draw.text((x, y), text, font=font, fill=fill)


def render_plate(
    text: str, style: str = "NL", height: int = 110, *, country: str | None = None
) -> ImageBGR:
    """A licence plate as a BGR image ``height`` pixels tall.

    ``NL``: yellow with the EU blue band; ``EU``: white with the blue band (``country`` letters,
    default ``EU``); ``US``: white 2:1 with a state header.  Text in DejaVu Sans Bold.
    """
    style = style.upper()
    if style not in PLATE_STYLES:
        raise ValueError(f"render_plate: style must be one of {PLATE_STYLES}, got {style!r}")
    if height < 16:
        raise ValueError(f"render_plate: height must be >= 16 px, got {height}")
    h = int(height)
    w = 2 * h if style == "US" else round(h * 520 / 110)
    bg = _PLATE_BG[style]
    img = Image.new("RGB", (w, h), (30, 30, 30))
    draw = ImageDraw.Draw(img)
    border = max(2, h // 22)
    radius = max(3, h // 10)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=radius, fill=(25, 25, 25))
    draw.rounded_rectangle(
        (border, border, w - 1 - border, h - 1 - border), radius=radius - border // 2, fill=bg
    )
    x0 = float(border)
    pad = h * 0.08
    if style == "US":
        _draw_centered(draw, (x0, border, w - border, h * 0.27), "CITYWATCH", (170, 30, 40))
        _draw_centered(
            draw, (x0 + pad, h * 0.27, w - border - pad, h - border - pad), text, (20, 40, 120)
        )
    else:
        band_w = h * 0.36
        draw.rectangle((border, border, border + band_w, h - 1 - border), fill=_EU_BLUE)
        cx, cy, r = border + band_w / 2, h * 0.32, h * 0.14
        dot = max(1.0, h * 0.02)
        for k in range(12):
            a = 2 * math.pi * k / 12
            sx, sy = cx + r * math.cos(a), cy + r * math.sin(a)
            draw.ellipse((sx - dot, sy - dot, sx + dot, sy + dot), fill=(255, 204, 0))
        letters = "NL" if style == "NL" else (country or "EU")
        _draw_centered(
            draw, (border + 2, h * 0.55, border + band_w - 2, h * 0.88), letters, (255, 255, 255)
        )
        x0 = border + band_w
        _draw_centered(
            draw,
            (x0 + pad, border + pad, w - border - pad, h - border - pad),
            text,
            (15, 15, 15),
            fill_ratio=0.82,
        )
    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1])


# ---------------------------------------------------------------- drawing helpers


def rgb_to_bgr(img: npt.NDArray[np.uint8]) -> ImageBGR:
    return np.ascontiguousarray(img[:, :, ::-1])


def texture(
    gray: npt.NDArray[np.uint8], size: tuple[int, int], tint: tuple[float, ...], contrast: float
) -> FloatImage:
    """A grey skimage texture tiled to ``size`` (w, h), tinted (BGR 0..255) and softened."""
    w, h = size
    reps = (h // gray.shape[0] + 1, w // gray.shape[1] + 1)
    tile = np.tile(gray, reps)[:h, :w].astype(np.float32) / 255.0
    tile = 1.0 + (tile - float(tile.mean())) * contrast
    return (tile[:, :, None] * np.array(tint, np.float32)[None, None, :]).astype(np.float32)


def vgradient(h: int, w: int, top: tuple[float, ...], bottom: tuple[float, ...]) -> FloatImage:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    a, b = np.array(top, np.float32), np.array(bottom, np.float32)
    return np.ascontiguousarray(np.broadcast_to(a + (b - a) * t, (h, w, 3)), np.float32)


def paste(
    canvas: FloatImage, sprite: FloatImage, alpha: FloatImage, matrix: npt.NDArray[np.float64]
) -> None:
    """Alpha-blend ``sprite`` (float BGR) into ``canvas`` through a 2x3 affine ``matrix``."""
    h, w = canvas.shape[:2]
    warped = cv2.warpAffine(
        sprite, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    a = cv2.warpAffine(
        alpha, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )[:, :, None]
    canvas *= 1.0 - a
    canvas += warped * a


def box_through(
    matrix: npt.NDArray[np.float64], box: tuple[float, float, float, float], size: tuple[int, int]
) -> BoxXYXY | None:
    """``box`` mapped through ``matrix``, as the clipped xyxy bounding box (None if off frame)."""
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64) @ matrix.T
    w, h = size
    bx0, by0 = max(0, int(pts[:, 0].min())), max(0, int(pts[:, 1].min()))
    bx1, by1 = min(w, math.ceil(pts[:, 0].max())), min(h, math.ceil(pts[:, 1].max()))
    return (bx0, by0, bx1, by1) if bx1 - bx0 >= 4 and by1 - by0 >= 4 else None


def poly(canvas: FloatImage, pts: list[tuple[float, float]], color: tuple[float, ...]) -> None:
    arr = np.round(np.array(pts, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [arr], color, lineType=cv2.LINE_AA, shift=4)


def ellipse(
    canvas: FloatImage,
    c: tuple[float, float],
    axes: tuple[float, float],
    color: tuple[float, ...],
    angle: float = 0.0,
) -> None:
    center = (round(c[0] * 16), round(c[1] * 16))
    ax = (max(1, round(axes[0] * 16)), max(1, round(axes[1] * 16)))
    cv2.ellipse(canvas, center, ax, angle, 0, 360, color, -1, cv2.LINE_AA, 4)


def rect(
    canvas: FloatImage, x0: float, y0: float, x1: float, y1: float, color: tuple[float, ...]
) -> None:
    poly(canvas, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], color)


def finish(canvas: FloatImage, noise: FloatImage) -> ImageBGR:
    """Camera look: slight blur, sensor ``noise`` (same shape, added), clipping to uint8."""
    img = np.asarray(cv2.GaussianBlur(canvas, (0, 0), 0.7), np.float32)
    img += noise
    return np.clip(img, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- the person and the car


@dataclass(frozen=True, slots=True)
class Sprite:
    image: FloatImage  # BGR 0..255
    alpha: FloatImage  # 0..1
    face: tuple[float, float, float, float]  # xyxy inside the sprite


def person_sprite() -> Sprite:
    """Head and shoulders cut out of astronaut(), re-lit like a cheap entrance camera."""
    src = rgb_to_bgr(skdata.astronaut())[0:330, 60:400].astype(np.float32)
    h, w = src.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (167, 92), (75, 82), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    cv2.ellipse(mask, (165, 140), (50, 52), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    outline = [(55, 205), (70, 180), (100, 158), (140, 150), (200, 150), (232, 165), (246, 195)]
    outline += [(248, 240), (265, 268), (292, 300), (296, 330), (0, 330), (0, 300), (35, 265)]
    body = np.array(outline, np.int32)
    cv2.fillPoly(mask, [body], 1.0, cv2.LINE_AA)
    # the suit continues below the cut: the lowest rows stretched, narrowing to the waist
    torso = cv2.resize(src[290:330], (w, 170), interpolation=cv2.INTER_LINEAR)
    src = np.vstack([src, torso])
    mask = np.vstack([mask, np.zeros((170, w), np.float32)])
    waist = np.array([(0, 326), (296, 326), (262, 499), (40, 499)], np.int32)
    cv2.fillPoly(mask, [waist], 1.0, cv2.LINE_AA)
    alpha = np.asarray(cv2.GaussianBlur(mask, (0, 0), 2.5), np.float32)
    # cooler, flatter light than the studio portrait
    img = (src - 128.0) * 0.85 + 128.0 + np.array([10.0, 0.0, -12.0], np.float32)
    fx0, fy0, fx1, fy1 = _FACE_IN_ASTRONAUT
    face = (fx0 - 60.0, float(fy0), fx1 - 60.0, float(fy1))
    return Sprite(np.clip(img, 0, 255).astype(np.float32), alpha, face)


def draw_legs(canvas: FloatImage, cx: float, top: float, s: float, phase: float) -> None:
    swing = math.sin(phase) * 28 * s
    for side, sgn in ((-1, 1.0), (1, -1.0)):
        hip = cx + side * 38 * s
        foot = hip + sgn * swing
        poly(
            canvas,
            [
                (hip - 34 * s, top),
                (hip + 34 * s, top),
                (foot + 26 * s, top + 330 * s),
                (foot - 26 * s, top + 330 * s),
            ],
            (70, 48, 40),
        )


def draw_car_rear(
    canvas: FloatImage,
    cx: float,
    bottom: float,
    width: float,
    color: tuple[float, float, float],
    plate: ImageBGR,
) -> BoxXYXY:
    """A car seen from behind; returns where its plate landed (xyxy, unclipped)."""
    w, h = width, width * 0.78
    x0, y0 = cx - w / 2, bottom - h
    dark = tuple(c * 0.7 for c in color)
    ellipse(canvas, (cx, bottom - 0.01 * h), (0.56 * w, 0.06 * w), (25, 25, 28))
    for tx in (0.05, 0.79):
        rect(canvas, x0 + tx * w, y0 + 0.82 * h, x0 + (tx + 0.16) * w, bottom, (22, 22, 22))
    poly(
        canvas,
        [
            (x0 + 0.17 * w, y0),
            (x0 + 0.83 * w, y0),
            (x0 + 0.95 * w, y0 + 0.44 * h),
            (x0 + 0.05 * w, y0 + 0.44 * h),
        ],
        dark,
    )
    poly(
        canvas,
        [
            (x0 + 0.22 * w, y0 + 0.06 * h),
            (x0 + 0.78 * w, y0 + 0.06 * h),
            (x0 + 0.87 * w, y0 + 0.38 * h),
            (x0 + 0.13 * w, y0 + 0.38 * h),
        ],
        (62, 52, 46),
    )
    rect(canvas, x0, y0 + 0.40 * h, x0 + w, y0 + 0.88 * h, color)
    for lx in (0.02, 0.80):
        rect(canvas, x0 + lx * w, y0 + 0.47 * h, x0 + (lx + 0.18) * w, y0 + 0.58 * h, (30, 30, 185))
    rect(canvas, x0 - 0.01 * w, y0 + 0.80 * h, x0 + 1.01 * w, y0 + 0.90 * h, (38, 38, 40))
    pw = 0.32 * w
    ph = pw * plate.shape[0] / plate.shape[1]
    px0, py0 = cx - pw / 2, y0 + 0.62 * h
    rect(canvas, px0 - 0.02 * w, py0 - 0.02 * w, px0 + pw + 0.02 * w, py0 + ph + 0.02 * w, dark)
    small = cv2.resize(plate, (round(pw), round(ph)), interpolation=cv2.INTER_AREA)
    shade = np.linspace(1.0, 0.86, small.shape[0], dtype=np.float32)[:, None, None]
    ix0, iy0 = round(px0), round(py0)
    ch, cw = canvas.shape[:2]
    sx0, sy0 = max(0, -ix0), max(0, -iy0)
    ex, ey = min(cw, ix0 + small.shape[1]), min(ch, iy0 + small.shape[0])
    if ex > ix0 + sx0 and ey > iy0 + sy0:
        patch = small.astype(np.float32) * shade
        canvas[iy0 + sy0 : ey, ix0 + sx0 : ex] = patch[sy0 : ey - iy0, sx0 : ex - ix0]
    return (ix0, iy0, ix0 + small.shape[1], iy0 + small.shape[0])


def clip_box(box: BoxXYXY, size: tuple[int, int]) -> BoxXYXY | None:
    w, h = size
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    return (x0, y0, x1, y1) if x1 - x0 >= 4 and y1 - y0 >= 4 else None
