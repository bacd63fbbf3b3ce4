"""Synthetic demo camera footage, built offline from public-domain images inside installed packages.

* ``cam-entrance.mp4``: a person walks towards the camera across a building entrance.  The face
  is ``skimage.data.astronaut()`` (Eileen Collins, NASA photo, public domain), with scale change,
  a slight sway, camera tint and noise; a suitcase rolls the other way (no face).
* ``cam-street.mp4``: a car seen from behind drives slowly across, carrying the demo hotlist
  plate ``CW-123-X`` (made up, Dutch style).
* ``cam-square.mp4``: a quiet square; a person seen from behind (no face) and a car with another
  made-up plate that is on no hotlist.

Asked for (``substream=(640, 360)``), each camera also gets ``cam-*-sub.mp4``: the same frames
scaled down, as a camera's second, smaller stream would carry them.  The demo analyses that one
(the camera's ``detect_url``) and keeps the full-size video as its main stream, the evidence.

The subject's reference photo is another crop of the same portrait, rotated and re-lit, so a
match is a real (if easy) recognition, not a pixel copy.  Everything is seeded: the same
arguments give the same frames.  Boxes in the ground truth are ``xyxy`` pixels of the
main (full-size) video, clipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
from skimage import data as skdata

from citywatch.demo.drawing import (
    BoxXYXY,
    FloatImage,
    box_through,
    clip_box,
    draw_car_rear,
    draw_legs,
    ellipse,
    finish,
    paste,
    person_sprite,
    poly,
    rect,
    render_plate,
    rgb_to_bgr,
    texture,
    vgradient,
)
from citywatch.vision.record import ImageBGR

DEMO_PLATE = "CW-123-X"  # on the demo hotlist
OTHER_PLATE = "BG 482-TZ"  # on no hotlist
SUBJECT_NAME = "Demo subject A"
SUBJECT_SOURCE = "skimage.data.astronaut(): Eileen Collins, NASA photograph, public domain"

__all__ = [
    "DEMO_PLATE",
    "OTHER_PLATE",
    "DemoFootage",
    "DemoVideo",
    "TruthBox",
    "make_demo_videos",
    "render_plate",
]


# ---------------------------------------------------------------- ground truth


@dataclass(frozen=True, slots=True)
class TruthBox:
    frame: int
    kind: str  # "face" | "plate" | "object"
    label: str  # subject name, plate text or object name
    box: BoxXYXY  # xyxy pixels, clipped to the frame


@dataclass(frozen=True, slots=True)
class DemoVideo:
    camera_id: str
    path: Path
    frames: int
    fps: int
    size: tuple[int, int]  # (width, height)
    truth: tuple[TruthBox, ...]
    sub_path: Path | None = None  # the same frames scaled down (a substream), if asked for
    sub_size: tuple[int, int] | None = None  # its (width, height)

    def boxes(self, kind: str) -> list[TruthBox]:
        return [t for t in self.truth if t.kind == kind]


@dataclass(frozen=True, slots=True)
class DemoFootage:
    out_dir: Path
    videos: dict[str, DemoVideo]  # by camera id: cam-entrance, cam-street, cam-square
    plate_text: str  # the plate to put on the demo hotlist
    other_plate_text: str  # seen on cam-square, on no hotlist
    subject_name: str
    subject_photo: Path  # reference photo to enrol (PNG)
    truth_path: Path  # the ground truth as JSON

    def path(self, camera_id: str) -> Path:
        return self.videos[camera_id].path

    def sub_path(self, camera_id: str) -> Path | None:
        """The camera's substream video, or None when the footage was made without one."""
        return self.videos[camera_id].sub_path


FrameFn = Callable[[int, FloatImage], list[TruthBox]]


class _Writer:
    """One H.264 (or MPEG-4 where libx264 is missing) file written frame by frame; frames of
    another size are scaled to its size first (the substream)."""

    def __init__(self, path: Path, fps: int, size: tuple[int, int]) -> None:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self.size = size
        self._container = av.open(str(path), mode="w")
        stream: Any = self._container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "20", "preset": "veryfast", "g": str(2 * fps)}
        else:
            stream.bit_rate = 4_000_000
        self._stream: Any = stream

    def write(self, img: ImageBGR) -> None:
        sized: np.ndarray = img
        if (img.shape[1], img.shape[0]) != self.size:
            sized = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(sized, format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()


def _write_video(
    paths: list[tuple[Path, tuple[int, int]]], frames: Iterator[ImageBGR], fps: int
) -> None:
    """Every frame into each of ``paths`` at its size (the first is the frames' own size)."""
    writers: list[_Writer] = []
    try:
        for path, size in paths:
            writers.append(_Writer(path, fps, size))
        for img in frames:
            for writer in writers:
                writer.write(img)
    finally:
        for writer in writers:
            writer.close()


def _render(
    camera_id: str,
    out_dir: Path,
    n: int,
    fps: int,
    size: tuple[int, int],
    background: FloatImage,
    draw: FrameFn,
    rng: np.random.Generator,
    sub_size: tuple[int, int] | None = None,
) -> DemoVideo:
    truth: list[TruthBox] = []
    w, h = size
    # One noise field, read at a fresh random offset and sign per frame: cheap, and no two
    # consecutive frames share their noise.
    field = rng.standard_normal((h + 64, w + 64, 3), dtype=np.float32) * np.float32(3.0)

    def frames() -> Iterator[ImageBGR]:
        for i in range(n):
            canvas = background.copy()
            truth.extend(draw(i, canvas))
            dy, dx = (int(v) for v in rng.integers(0, 64, size=2))
            noise = field[dy : dy + h, dx : dx + w]
            yield finish(canvas, noise if i % 2 else -noise)

    path = out_dir / f"{camera_id}.mp4"
    sub_path = out_dir / f"{camera_id}-sub.mp4" if sub_size else None
    outputs = [(path, size)] + ([(sub_path, sub_size)] if sub_path and sub_size else [])
    _write_video(outputs, frames(), fps)
    return DemoVideo(camera_id, path, n, fps, size, tuple(truth), sub_path, sub_size)


# ---------------------------------------------------------------- scenes


def _affine(
    scale: float, angle_deg: float, src: tuple[float, float], dst: tuple[float, float]
) -> np.ndarray:
    """Maps ``src`` to ``dst``, scaled by ``scale`` and rotated by ``angle_deg`` around it."""
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    t = np.array(dst) - rot @ np.array(src)
    return np.hstack([rot, t[:, None]])


def _entrance_background(size: tuple[int, int]) -> FloatImage:
    w, h = size
    floor_y = int(0.72 * h)
    bg = texture(skdata.brick(), (w, h), (150, 160, 178), 0.35)
    bg[floor_y:] = texture(skdata.gravel(), (w, h - floor_y), (118, 122, 126), 0.5)
    bg[floor_y:] *= vgradient(h - floor_y, w, (1.05,) * 3, (0.8,) * 3)
    rect(bg, 0, floor_y - 0.012 * h, w, floor_y, (60, 62, 66))
    rect(bg, 0.38 * w, 0.1 * h, 0.62 * w, floor_y, (55, 55, 58))
    for x0 in (0.39, 0.505):
        x0w = x0 * w
        bg[int(0.12 * h) : floor_y, int(x0w) : int(x0w + 0.105 * w)] = vgradient(
            floor_y - int(0.12 * h), int(x0w + 0.105 * w) - int(x0w), (120, 105, 90), (80, 75, 70)
        )
        rect(bg, x0w + 0.08 * w, 0.38 * h, x0w + 0.09 * w, 0.5 * h, (190, 190, 195))
    for wx in (0.06, 0.22, 0.7, 0.86):
        rect(bg, wx * w, 0.15 * h, (wx + 0.1) * w, 0.45 * h, (70, 66, 60))
        rect(bg, (wx + 0.01) * w, 0.165 * h, (wx + 0.09) * w, 0.435 * h, (150, 130, 110))
    sx0, sy0, sx1, sy1 = int(0.42 * w), int(0.03 * h), int(0.58 * w), int(0.08 * h)
    sign = np.full((sy1 - sy0, sx1 - sx0, 3), (40, 110, 30), np.uint8)
    scale = 0.5 * h / 540
    cv2.putText(
        sign,
        "ENTRANCE",
        (int(0.02 * w), int(0.04 * h)),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (235, 235, 235),
        max(1, round(2 * scale)),
        cv2.LINE_AA,
    )
    bg[sy0:sy1, sx0:sx1] = sign
    return bg


def _entrance(size: tuple[int, int], n: int, fps: int) -> tuple[FloatImage, FrameFn]:
    w, h = size
    k = h / 540
    person = person_sprite()
    fx0, fy0, fx1, fy1 = person.face
    face_c = ((fx0 + fx1) / 2, (fy0 + fy1) / 2)
    sh = person.image.shape[0]

    def draw(i: int, canvas: FloatImage) -> list[TruthBox]:
        u, t = i / max(1, n - 1), i / fps
        s = k * (0.6 + 0.65 * u)
        phase = 2 * math.pi * t / 1.1
        cx = w * (0.22 + 0.40 * u)
        cy = h * (0.30 + 0.06 * u) + 4 * s * abs(math.sin(phase))
        m = _affine(s, 3.0 * math.sin(2 * math.pi * t / 2.3), face_c, (cx, cy))
        hip_x, hip_y = (m @ np.array([151.0, sh - 30, 1.0])).tolist()
        draw_legs(canvas, hip_x, hip_y, s, phase)
        paste(canvas, person.image, person.alpha, m)
        out: list[TruthBox] = []
        face = box_through(m, person.face, size)
        if face:
            out.append(TruthBox(i, "face", SUBJECT_NAME, face))
        bx = w * (0.92 - 0.7 * u)
        by, bw, bh = 0.93 * h, 70 * k, 95 * k
        rect(canvas, bx - bw * 0.1, by - bh * 1.35, bx + bw * 0.1, by - bh, (40, 40, 40))
        rect(canvas, bx - bw / 2, by - bh, bx + bw / 2, by - 6 * k, (40, 40, 150))
        for wx in (-0.35, 0.35):
            ellipse(canvas, (bx + wx * bw, by - 4 * k), (7 * k, 7 * k), (20, 20, 20))
        bag = clip_box(
            (int(bx - bw / 2), int(by - bh * 1.35), int(bx + bw / 2), int(by + 3 * k)), size
        )
        if bag:
            out.append(TruthBox(i, "object", "suitcase", bag))
        return out

    return _entrance_background(size), draw


def _street_background(size: tuple[int, int], rng: np.random.Generator) -> FloatImage:
    w, h = size
    horizon = int(0.42 * h)
    bg = vgradient(h, w, (235, 200, 160), (225, 215, 205))
    x = 0.0
    while x < w:
        bw = float(rng.uniform(0.08, 0.18) * w)
        top = float(rng.uniform(0.08, 0.3) * h)
        tone = float(rng.uniform(120, 190))
        rect(bg, x, top, x + bw, horizon, (tone * 0.9, tone * 0.95, tone))
        for wy in np.arange(top + 0.03 * h, horizon - 0.05 * h, 0.07 * h):
            for wx in np.arange(x + 0.015 * w, x + bw - 0.03 * w, 0.035 * w):
                rect(bg, wx, wy, wx + 0.018 * w, wy + 0.035 * h, (90, 80, 70))
        x += bw + float(rng.uniform(0.0, 0.02) * w)
    road = texture(skdata.gravel(), (w, h - horizon), (92, 92, 96), 0.45)
    road *= vgradient(h - horizon, w, (0.85,) * 3, (1.05,) * 3)
    bg[horizon:] = road
    vp = (0.5 * w, horizon - 0.05 * h)
    for side in (-1, 1):
        near, far = 0.5 * w + side * 0.2 * w, 0.5 * w + side * 0.85 * w
        outer = 0.5 * w + side * 0.6 * w
        poly(bg, [(near, horizon), (outer, horizon), (outer, h), (far, h)], (165, 168, 172))
    for j in range(6):
        t0, t1 = (j + 0.2) / 6, (j + 0.55) / 6
        y0 = horizon + (h - horizon) * t0**1.6
        y1 = horizon + (h - horizon) * t1**1.6
        half0, half1 = 0.004 * w + 0.01 * w * t0, 0.004 * w + 0.01 * w * t1
        poly(
            bg,
            [(vp[0] - half0, y0), (vp[0] + half0, y0), (vp[0] + half1, y1), (vp[0] - half1, y1)],
            (225, 225, 225),
        )
    return bg


def _plate_truth(i: int, text: str, box: BoxXYXY, size: tuple[int, int]) -> list[TruthBox]:
    clipped = clip_box(box, size)
    return [TruthBox(i, "plate", text, clipped)] if clipped else []


def _street(size: tuple[int, int], n: int, rng: np.random.Generator) -> tuple[FloatImage, FrameFn]:
    w, h = size
    plate = render_plate(DEMO_PLATE, "NL", height=110)

    def draw(i: int, canvas: FloatImage) -> list[TruthBox]:
        u = i / max(1, n - 1)
        width = w * (0.46 + 0.14 * u)
        cx = w * (0.30 + 0.36 * u)
        bottom = h * (0.86 + 0.1 * u)
        box = draw_car_rear(canvas, cx, bottom, width, (150, 150, 158), plate)
        car = clip_box(
            (int(cx - width / 2), int(bottom - 0.78 * width), int(cx + width / 2), int(bottom)),
            size,
        )
        return ([TruthBox(i, "object", "car", car)] if car else []) + _plate_truth(
            i, DEMO_PLATE, box, size
        )

    return _street_background(size, rng), draw


def _square_background(size: tuple[int, int], rng: np.random.Generator) -> FloatImage:
    w, h = size
    ground_y = int(0.45 * h)
    bg = texture(skdata.brick(), (w, h), (176, 188, 196), 0.3)
    bg[:ground_y] = vgradient(ground_y, w, (200, 200, 196), (170, 174, 180))
    for wx in np.arange(0.03 * w, w, 0.09 * w):
        for wy in (0.08 * h, 0.24 * h):
            rect(bg, wx, wy, wx + 0.05 * w, wy + 0.1 * h, (95, 88, 80))
    rect(bg, 0, ground_y - 0.01 * h, w, ground_y, (90, 92, 96))
    for tx in (0.12, 0.5, 0.86):
        trunk = tx * w + float(rng.uniform(-0.02, 0.02) * w)
        rect(bg, trunk - 0.008 * w, 0.3 * h, trunk + 0.008 * w, 0.5 * h, (40, 60, 80))
        ellipse(bg, (trunk, 0.26 * h), (0.06 * w, 0.09 * h), (50, 110, 60))
    rect(bg, 0.3 * w, 0.5 * h, 0.42 * w, 0.52 * h, (50, 80, 110))
    for lx in (0.31, 0.41):
        rect(bg, lx * w, 0.52 * h, lx * w + 0.006 * w, 0.56 * h, (40, 40, 40))
    return bg


def _square(
    size: tuple[int, int], n: int, fps: int, rng: np.random.Generator
) -> tuple[FloatImage, FrameFn]:
    w, h = size
    k = h / 540
    plate = render_plate(OTHER_PLATE, "EU", height=110, country="SRB")

    def draw(i: int, canvas: FloatImage) -> list[TruthBox]:
        u, t = i / max(1, n - 1), i / fps
        s = 0.32 * k
        px, py = w * (0.8 - 0.45 * u), 0.58 * h
        draw_legs(canvas, px, py, s, 2 * math.pi * t / 1.1)
        poly(
            canvas,
            [
                (px - 80 * s, py - 210 * s),
                (px + 80 * s, py - 210 * s),
                (px + 95 * s, py + 20 * s),
                (px - 95 * s, py + 20 * s),
            ],
            (60, 70, 90),
        )
        ellipse(canvas, (px, py - 260 * s), (48 * s, 58 * s), (30, 45, 70))
        out: list[TruthBox] = []
        person = clip_box(
            (int(px - 95 * s), int(py - 320 * s), int(px + 95 * s), int(py + 350 * s)), size
        )
        if person:
            out.append(TruthBox(i, "object", "person", person))
        width = w * 0.40
        cx, bottom = w * (-0.25 + 1.5 * u), h * 0.97
        box = draw_car_rear(canvas, cx, bottom, width, (120, 70, 40), plate)
        return out + _plate_truth(i, OTHER_PLATE, box, size)

    return _square_background(size, rng), draw


def _subject_photo() -> ImageBGR:
    """A second look at the same face: wider crop, rotated, warmer and brighter, resized."""
    src = rgb_to_bgr(skdata.astronaut())[0:260, 110:350].astype(np.float32)
    m = cv2.getRotationMatrix2D((112.0, 119.0), -6.0, 1.0)
    turned = cv2.warpAffine(src, m, (src.shape[1], src.shape[0]), borderMode=cv2.BORDER_REFLECT)
    tint = np.array([-8.0, 4.0, 14.0], np.float32)
    lit = 255.0 * (np.asarray(turned, np.float32) / 255.0) ** 0.8 + tint
    img = np.clip(lit, 0, 255).astype(np.uint8)
    return cv2.resize(img, (200, 217), interpolation=cv2.INTER_AREA)


def make_demo_videos(
    out_dir: Path,
    *,
    seconds: float = 8,
    fps: int = 10,
    size: tuple[int, int] = (960, 540),
    seed: int = 7,
    substream: tuple[int, int] | None = None,
) -> DemoFootage:
    """Write the three demo videos, the subject's reference photo and ``truth.json``; with
    ``substream`` (width, height), also each camera's scaled-down copy ``cam-*-sub.mp4``."""
    w, h = size
    if w < 320 or h < 180 or w % 2 or h % 2:
        raise ValueError(f"make_demo_videos: size must be even and >= 320x180, got {size}")
    if substream is not None:
        sw, sh = substream
        if sw < 160 or sh < 90 or sw % 2 or sh % 2 or sw >= w or sh >= h:
            raise ValueError(
                "make_demo_videos: a substream must be even, >= 160x90 and smaller than the "
                f"main size {size}, got {substream}"
            )
    if fps < 1 or seconds <= 0:
        raise ValueError(f"make_demo_videos: need fps >= 1 and seconds > 0, got {fps}, {seconds}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = max(1, round(seconds * fps))
    rng = np.random.default_rng(seed)
    scenes = {
        "cam-entrance": _entrance(size, n, fps),
        "cam-street": _street(size, n, rng),
        "cam-square": _square(size, n, fps, rng),
    }
    videos = {
        cam: _render(
            cam, out_dir, n, fps, size, bg, draw, np.random.default_rng([seed, j]), substream
        )
        for j, (cam, (bg, draw)) in enumerate(scenes.items())
    }
    photo = out_dir / "subject-a.png"
    if not cv2.imwrite(str(photo), _subject_photo()):
        raise OSError(f"make_demo_videos: could not write {photo}")
    truth_path = out_dir / "truth.json"
    doc = {
        "source": SUBJECT_SOURCE,
        "plate_text": DEMO_PLATE,
        "other_plate_text": OTHER_PLATE,
        "subject_name": SUBJECT_NAME,
        "subject_photo": photo.name,
        "videos": {
            cam: {
                "file": v.path.name,
                "frames": v.frames,
                "fps": v.fps,
                "size": list(v.size),
                "substream": (
                    {"file": v.sub_path.name, "size": list(v.sub_size)}
                    if v.sub_path and v.sub_size
                    else None
                ),
                "truth": [asdict(t) for t in v.truth],
            }
            for cam, v in videos.items()
        },
    }
    truth_path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return DemoFootage(out_dir, videos, DEMO_PLATE, OTHER_PLATE, SUBJECT_NAME, photo, truth_path)
