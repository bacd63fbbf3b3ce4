"""Clean synthetic plates: a plate drawn face-on, with the box of its number.

:func:`load_fonts` opens the plate fonts once (a missing, empty or corrupt file is a
:class:`FontError` naming it); :func:`draw_plate` draws one plate of a
:class:`~citywatch.training.plate_styles.PlateStyle` at a working size (capital letters
:data:`CAP` pixels high) and returns it with the box of its number and the label the
recogniser learns: the characters, with a space where the plate shows a gap, a dash or an
emblem between groups, and between the two lines of a stacked plate (the recogniser reads the
upper line first).  :mod:`citywatch.training.plate_degrade` turns it into a camera's view.
:meth:`Fonts.with_stroke` adds the project's own stroke lettering
(:mod:`citywatch.training.plate_glyphs`) for a share of the US plates.
"""

from __future__ import annotations

import functools
import io
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from citywatch.training.plate_styles import FONT_FILES, RGB, PlateStyle, boundaries
from citywatch.vision.record import ImageBGR

CAP = 44  # capital height of the number on the working canvas (px)
EU_BLUE = (0, 51, 153)
EU_YELLOW = (255, 204, 0)


class FontError(ValueError):
    """A plate font cannot be used; the message names the file."""


@dataclass(frozen=True)
class Fonts:
    """The plate fonts by family, each at the size that makes its capitals :data:`CAP` high,
    and one small font for words beside the number."""

    by_family: dict[str, tuple[ImageFont.FreeTypeFont, ...]]
    paths: dict[str, tuple[Path, ...]]
    #: the project's own stroke lettering (:mod:`citywatch.training.plate_glyphs`), and the
    #: share of US plates drawn in it (0: none, and nothing else drawn changes)
    stroke: tuple[ImageFont.FreeTypeFont, ...] = ()
    stroke_share: float = 0.0

    def pick(self, family: str, rng: random.Random) -> ImageFont.FreeTypeFont:
        return rng.choice(self.by_family[family])

    def with_stroke(self, share: float, count: int = 12, seed: int = 15) -> Fonts:
        """These fonts and ``count`` stroke fonts of ``seed``, drawn on ``share`` of the US
        plates."""
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"stroke share {share}: expected 0..1")
        if share == 0.0:
            return replace(self, stroke=(), stroke_share=0.0)
        from citywatch.training.plate_glyphs import stroke_font_bytes, stroke_styles

        made = tuple(
            _sized(io.BytesIO(stroke_font_bytes(st)), f"stroke font {i} of seed {seed}")
            for i, st in enumerate(stroke_styles(count, seed))
        )
        return replace(self, stroke=made, stroke_share=share)

    def small(self, size: int) -> ImageFont.FreeTypeFont:
        """A DIN-like font at ``size`` px (band codes, state names)."""
        return _small_font(self.paths["din"][0], max(6, size))


@functools.lru_cache(maxsize=256)
def _small_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _open_font(path: Path) -> ImageFont.FreeTypeFont:
    """``path`` at the size whose capital H is :data:`CAP` pixels high."""
    if not path.is_file():
        raise FontError(f"plate font {path}: file not found")
    if path.stat().st_size == 0:
        raise FontError(f"plate font {path}: the file is empty")
    return _sized(str(path), str(path))


def _sized(source: str | io.BytesIO, name: str) -> ImageFont.FreeTypeFont:
    """The font ``source`` (a file or its bytes; ``name`` in errors) at the size whose capital
    H is :data:`CAP` pixels high, checked to draw every plate character."""
    try:
        probe = ImageFont.truetype(source, 100)
        top, bottom = probe.getbbox("H")[1], probe.getbbox("H")[3]
    except OSError as err:
        raise FontError(f"plate font {name}: not a usable TrueType/OpenType font ({err})") from None
    if bottom - top <= 0:
        raise FontError(f"plate font {name}: draws nothing for the letter H")
    if isinstance(source, io.BytesIO):
        source.seek(0)
    font = ImageFont.truetype(source, round(100 * CAP / (bottom - top)))
    for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        box = font.getbbox(ch)
        if box[2] - box[0] <= 0:
            raise FontError(f"plate font {name}: no glyph for {ch!r}")
    return font


def load_fonts(folder: Path, families: tuple[str, ...] = tuple(FONT_FILES)) -> Fonts:
    """Every font file of ``families`` under ``folder`` (``../shared/data/plates/fonts``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FontError(f"plate fonts folder {folder} does not exist")
    by_family, paths = {}, {}
    for family in families:
        files = tuple(folder / name for name in FONT_FILES[family])
        by_family[family] = tuple(_open_font(p) for p in files)
        paths[family] = files
    return Fonts(by_family, paths)


@dataclass(frozen=True)
class CleanPlate:
    """A plate drawn face-on: RGB pixels, the box of its number (x0, y0, x1, y1), the label,
    and the label of each line (one, or two for a stacked plate)."""

    rgb: np.ndarray
    number_box: tuple[float, float, float, float]
    label: str
    lines: tuple[str, ...]


def _jitter(c: RGB, rng: random.Random, amount: int = 10) -> RGB:
    r, g, b = (max(0, min(255, v + rng.randint(-amount, amount))) for v in c)
    return (r, g, b)


def _emblem(draw: ImageDraw.ImageDraw, kind: str, x: float, y0: float, rng: random.Random) -> None:
    """Draw an emblem (crest, seals, sticker) in the slot starting at ``x``, number top ``y0``."""
    w = 0.62 * CAP
    if kind == "crest":  # a shield: red and white squares
        s = w / 4
        top = y0 + 0.1 * CAP
        for i in range(4):
            for j in range(5):
                colour = (200, 16, 46) if (i + j) % 2 == 0 else (250, 250, 250)
                draw.rectangle([x + i * s, top + j * s, x + (i + 1) * s, top + (j + 1) * s], colour)
        draw.rectangle([x, top, x + w, top + 5 * s], outline=(40, 40, 40), width=1)
    elif kind == "seals":  # two round stickers, one above the other
        r = 0.21 * CAP
        cx = x + w / 2
        for cy, colour in ((y0 + 0.28 * CAP, (60, 120, 200)), (y0 + 0.75 * CAP, (190, 80, 60))):
            shade = _jitter(colour, rng, 40)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=shade, outline=(60, 60, 60))
    elif kind == "sticker":  # a registration sticker or a small state symbol
        colour = _jitter(rng.choice([(220, 40, 40), (30, 120, 60), (240, 200, 30)]), rng, 30)
        h = rng.uniform(0.35, 0.7) * CAP
        top = y0 + rng.uniform(0.0, CAP - h)
        if rng.random() < 0.5:
            draw.rectangle([x + 0.1 * w, top, x + 0.9 * w, top + h], fill=colour)
        else:
            pts = [(x + w / 2, top), (x + w, top + h * 0.4), (x + w * 0.8, top + h),
                   (x + w * 0.2, top + h), (x, top + h * 0.4)]  # fmt: skip
            draw.polygon(pts, fill=colour)


def _line_layout(
    groups: list[str],
    bounds: list[str],
    style: PlateStyle,
    font: ImageFont.FreeTypeFont,
    rng: random.Random,
) -> tuple[list[tuple[str, str, float]], float, list[str]]:
    """Where each character and boundary of one line goes: (kind, what, x) with kind "c"
    (a character), "dash" or an emblem kind; the line's width; the label's groups."""
    spacing = rng.uniform(0.02, 0.14) * CAP
    x = 0.0
    items: list[tuple[str, str, float]] = []
    label = [""]
    for gi, group in enumerate(groups):
        for ch in group:
            items.append(("c", ch, x))
            x += font.getlength(ch) + spacing
            label[-1] += ch
        if gi == len(bounds) or gi >= len(groups) - 1:
            continue
        b = bounds[gi]
        if b == "*" and style.emblem and rng.random() < 0.85:
            items.append((style.emblem, "", x + 0.12 * CAP))
            x += 0.86 * CAP
            label.append("")
        elif b == "-" and rng.random() < style.gap_dash:
            items.append(("dash", "", x + 0.1 * CAP))
            x += 0.55 * CAP
            label.append("")
        elif style.fmt == "US" and rng.random() < 0.4:
            pass  # many states print the serial without a gap (7ABC123)
        else:
            x += rng.uniform(0.3, 0.6) * CAP
            label.append("")
    return items, x - spacing, label


def _draw_line(
    draw: ImageDraw.ImageDraw,
    items: list[tuple[str, str, float]],
    x0: float,
    y0: float,
    font: ImageFont.FreeTypeFont,
    ink: RGB,
    rng: random.Random,
) -> tuple[float, float, float, float]:
    """Draw one line at (x0, top y0); the box of its characters."""
    top = font.getbbox("H")[1]
    boxes = []
    for kind, what, x in items:
        if kind == "c":
            draw.text((x0 + x, y0 - top), what, font=font, fill=ink)
            boxes.append(draw.textbbox((x0 + x, y0 - top), what, font=font))
        elif kind == "dash":
            draw.rectangle([x0 + x, y0 + 0.45 * CAP, x0 + x + 0.32 * CAP, y0 + 0.56 * CAP], ink)
        else:
            _emblem(draw, kind, x0 + x, y0, rng)
    arr = np.array(boxes, np.float32)
    return (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()),
            float(arr[:, 3].max()))  # fmt: skip


def _split_lines(groups: list[str], bounds: list[str]) -> tuple[int, int]:
    """Index of the boundary where a stacked plate breaks its number (its ``-``)."""
    k = bounds.index("-") if "-" in bounds else 0
    return k, k + 1


def draw_plate(
    style: PlateStyle, layout: str, groups: list[str], fonts: Fonts, rng: random.Random
) -> CleanPlate:
    """One plate of ``style`` with the number ``groups`` (of ``layout``), face-on."""
    font = fonts.pick(rng.choice(style.fonts), rng)
    if fonts.stroke and style.fmt == "US" and rng.random() < fonts.stroke_share:
        font = rng.choice(fonts.stroke)
    bounds = boundaries(layout)
    ink = _jitter(rng.choice(style.inks), rng, 15)
    back = _jitter(rng.choice(style.backgrounds), rng, 10)
    if style.two_line:
        k, _ = _split_lines(groups, bounds)
        lines = [(groups[: k + 1], bounds[:k]), (groups[k + 1 :], bounds[k + 1 :])]
    else:
        lines = [(groups, bounds)]
    laid = [_line_layout(g, b, style, font, rng) for g, b in lines]
    text_w = max(w for _, w, _ in laid)
    line_gap = rng.uniform(0.2, 0.35) * CAP
    text_h = CAP * len(laid) + line_gap * (len(laid) - 1)
    margin_x = rng.uniform(0.2, 0.45) * CAP
    band_w = rng.uniform(0.55, 0.7) * CAP if style.band == "eu" else 0.0
    top_h = 0.0
    if style.band == "mercosur":
        top_h = rng.uniform(0.45, 0.55) * CAP
    elif style.top_words:
        top_h = rng.uniform(0.35, 0.6) * CAP
    bottom_h = rng.uniform(0.3, 0.55) * CAP if style.bottom_words else 0.0
    pad_y = rng.uniform(0.14, 0.28) * CAP
    width = round(band_w + 2 * margin_x + text_w)
    height = round(top_h + bottom_h + text_h + 2 * pad_y)
    if style.fmt == "US":
        width = max(width, round(1.9 * height))
    img = Image.new("RGB", (width, height), back)
    draw = ImageDraw.Draw(img)
    if style.band == "eu":
        draw.rectangle([0, 0, band_w, height], fill=_jitter(EU_BLUE, rng, 12))
        code = rng.choice(style.band_codes) if style.band_codes else ""
        small = fonts.small(round(0.42 * CAP / max(1, len(code)) ** 0.3))
        tw = small.getlength(code)
        draw.text(((band_w - tw) / 2, height - 0.62 * CAP), code, font=small, fill=(250, 250, 250))
        cx, cy, r = band_w / 2, 0.35 * CAP, 0.2 * CAP
        for i in range(12):  # the ring of stars, as dots
            a = 2 * np.pi * i / 12
            sx, sy = cx + r * np.cos(a), cy + r * np.sin(a)
            draw.ellipse([sx - 1.5, sy - 1.5, sx + 1.5, sy + 1.5], fill=EU_YELLOW)
    if style.band == "mercosur":
        draw.rectangle([0, 0, width, top_h], fill=_jitter(EU_BLUE, rng, 12))
        small = fonts.small(round(0.4 * top_h / 0.5))
        word = "BRASIL"
        draw.text(((width - small.getlength(word)) / 2, 0.1 * top_h), word, font=small,
                  fill=(250, 250, 250))  # fmt: skip
        draw.rectangle([width - 0.9 * top_h, 0.2 * top_h, width - 0.2 * top_h, 0.8 * top_h],
                       fill=(0, 150, 60))  # fmt: skip
    elif style.top_words:
        word = rng.choice(style.top_words)
        small = fonts.small(round(0.8 * top_h))
        colour = ink if rng.random() < 0.6 else _jitter((180, 30, 40), rng, 20)
        draw.text(((width - small.getlength(word)) / 2, 0.12 * top_h), word, font=small,
                  fill=colour)  # fmt: skip
    if style.bottom_words:
        word = rng.choice(style.bottom_words)
        small = fonts.small(round(0.7 * bottom_h))
        draw.text(((width - small.getlength(word)) / 2, height - 0.95 * bottom_h), word,
                  font=small, fill=ink)  # fmt: skip
    boxes = []
    y = top_h + pad_y
    label_lines = []
    for items, w, label in laid:
        x0 = band_w + margin_x + (text_w - w) / 2
        boxes.append(_draw_line(draw, items, x0, y, font, ink, rng))
        label_lines.append(" ".join(g for g in label if g))
        y += CAP + line_gap
    if rng.random() < 0.6:  # the plate's rim
        draw.rectangle([1, 1, width - 2, height - 2], outline=ink, width=rng.choice((1, 2, 3)))
    arr = np.array(boxes, np.float32)
    box = (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()),
           float(arr[:, 3].max()))  # fmt: skip
    return CleanPlate(np.asarray(img, np.uint8), box, " ".join(label_lines), tuple(label_lines))


def to_bgr(rgb: np.ndarray) -> ImageBGR:
    return np.ascontiguousarray(rgb[:, :, ::-1])
